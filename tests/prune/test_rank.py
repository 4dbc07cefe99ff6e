"""rank_channels: each criterion's order checked by hand or against its formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convscope.errors import ConvscopeError, UnknownNameError
from convscope.models import build
from convscope.prune import CRITERIA, ChannelRanking, rank_channels, redundancy_order


def test_redundancy_order_by_hand():
    # 0 and 2 are near copies; 1 is alike neither; 3 is a little like 2
    sim = np.array(
        [
            [1.0, 0.1, 0.9, 0.2],
            [0.1, 1.0, 0.1, 0.0],
            [0.9, 0.1, 1.0, 0.3],
            [0.2, 0.0, 0.3, 1.0],
        ]
    )
    order, scores = redundancy_order(sim)
    # pair (0, 2) first: 2 sums 1.3 to the others, 0 sums 1.2 -> 2 goes (score 0.9);
    # then among 0, 1, 3 the closest pair is (0, 3) at 0.2: 0 sums 0.3, 3 sums 0.2 -> 0;
    # then (1, 3) at 0.0, a tie in sums -> the lower index, 1; 3 is left.
    assert order == [2, 0, 1, 3]
    assert scores == [0.2, 0.0, 0.9, -np.inf]


def test_skipped_channels_come_first():
    sim = np.eye(4)
    order, scores = redundancy_order(sim, skip=[3, 1])
    assert order[:2] == [1, 3] and scores[1] == scores[3] == np.inf


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(0, 2**31 - 1))
def test_redundancy_order_is_a_permutation_starting_at_the_closest_pair(c, seed):
    rng = np.random.default_rng(seed)
    a = rng.random((c, c))
    sim = (a + a.T) / 2
    order, scores = redundancy_order(sim)
    assert sorted(order) == list(range(c))
    off = sim + np.diag(np.full(c, -np.inf))
    i, j = np.unravel_index(np.argmax(off), off.shape)
    assert order[0] in (i, j) and scores[order[0]] == pytest.approx(off.max())


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build("mnist_convnet").eval()


def test_weight_norm_is_l1_of_each_filter(model):
    ranking = rank_channels(model, None, "conv2d_1", by="weight_norm")
    weight = model.get_submodule("conv2d_1").weight.detach().numpy()
    norms = np.abs(weight).reshape(64, -1).sum(axis=1)
    assert np.allclose(ranking.scores, norms)
    assert list(ranking.order) == list(np.argsort(norms, kind="stable"))


def test_fpgm_is_the_summed_distance_to_the_other_filters(model):
    ranking = rank_channels(model, None, "conv2d", by="fpgm")
    w = model.get_submodule("conv2d").weight.detach().double().numpy().reshape(32, -1)
    expected = [sum(np.linalg.norm(w[i] - w[j]) for j in range(32)) for i in range(32)]
    assert np.allclose(ranking.scores, expected)
    assert ranking.order[0] == int(np.argmin(expected))


def test_fpgm_puts_the_filter_at_the_median_first():
    model = build("fashion_gap")
    dense = model.get_submodule("dense")  # 32 units of 64 inputs
    with torch.no_grad():  # unit 3 at the origin, the others at +-10 along their own axis
        dense.weight.zero_()
        others = [u for u in range(32) if u != 3]
        for n, unit in enumerate(others):
            dense.weight[unit, n // 2] = 10.0 if n % 2 == 0 else -10.0
    ranking = rank_channels(model, None, "dense", by="fpgm")
    assert ranking.order[0] == 3
    assert ranking.scores[3] == pytest.approx(31 * 10.0)


def test_random_is_a_seeded_permutation(model):
    a = rank_channels(model, None, "conv2d_1", by="random", seed=3)
    b = rank_channels(model, None, "conv2d_1", by="random", seed=3)
    c = rank_channels(model, None, "conv2d_1", by="random", seed=4)
    assert a.order == b.order != c.order
    assert sorted(a.order) == list(range(64))
    assert list(a.order) == list(np.random.default_rng(3).permutation(64))


def test_redundancy_removes_a_copied_filter_and_dead_channels_first(model, digits):
    conv = model.get_submodule("conv2d_1")
    with torch.no_grad():
        conv.weight[7] = conv.weight[3]
        conv.bias[7] = conv.bias[3]
        conv.weight[11] = 0.0
        conv.bias[11] = -1.0  # never fires: dead
    ranking = rank_channels(model, digits[0], "conv2d_1", by="redundancy", metric="cosine")
    dead = len(ranking.inactive)
    assert 11 in ranking.inactive  # (an untrained model has a few dead channels of its own)
    assert ranking.order[:dead] == tuple(sorted(ranking.inactive))
    assert ranking.order[dead] in (3, 7)
    assert ranking.scores[ranking.order[dead]] == pytest.approx(1.0)


def test_redundancy_takes_a_dataset_or_a_pair(model, digits):
    class Data:
        x_train = digits[0]

    by_set = rank_channels(model, Data(), "conv2d", samples=20)
    by_pair = rank_channels(model, digits, "conv2d", samples=20)
    by_array = rank_channels(model, digits[0][:20], "conv2d")
    assert by_set.order == by_pair.order == by_array.order
    assert by_set.metric == "multiply"


def test_select_by_count_and_fraction():
    ranking = ChannelRanking("c", "random", (4, 2, 0, 1, 3), (0.0,) * 5)
    assert ranking.select(2) == [2, 4]
    assert ranking.select(fraction=0.4) == [2, 4]
    assert ranking.select(0) == []
    with pytest.raises(ConvscopeError, match="keeps at least one"):
        ranking.select(5)
    with pytest.raises(ConvscopeError, match="below 1"):
        ranking.select(fraction=1.0)
    with pytest.raises(ConvscopeError, match="not both"):
        ranking.select(1, fraction=0.2)


def test_to_json_is_plain(model, digits):
    record = rank_channels(model, digits[0][:8], "conv2d").to_json()
    assert isinstance(record["order"], list) and record["by"] == "redundancy"
    assert all(s is None or isinstance(s, float) for s in record["scores"])


def test_errors_name_the_fix(model):
    with pytest.raises(UnknownNameError) as err:
        rank_channels(model, None, "conv2d", by="entropy")
    assert all(c in str(err.value) for c in CRITERIA)
    with pytest.raises(UnknownNameError, match="conv2d_1"):
        rank_channels(model, None, "conv3", by="fpgm")
    with pytest.raises(ConvscopeError, match="pass data"):
        rank_channels(model, None, "conv2d", by="redundancy")
    with pytest.raises(ConvscopeError, match="no conv or dense weights"):
        rank_channels(model, None, "max_pooling2d", by="weight_norm")
