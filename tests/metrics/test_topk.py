"""Top-k exemplars per channel: exact under any split and merge order, on host and tensors."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convscope.errors import ConvscopeError, ShapeError
from convscope.metrics.accumulator import Accumulator, Batch
from convscope.metrics.topk import TopKAccumulator, brute_force_topk, order_keys


def _same(result, reference):
    values, images, rows, cols = reference
    np.testing.assert_array_equal(result.values, values)
    np.testing.assert_array_equal(result.images, images)
    np.testing.assert_array_equal(result.rows, rows)
    np.testing.assert_array_equal(result.cols, cols)


def _fed(maps, k, start=0):
    acc = TopKAccumulator(k)
    acc.update({"layer": maps}, start=start)
    return acc


@st.composite
def _case(draw):
    n = draw(st.integers(1, 10))
    c = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    # few distinct values: most candidates tie, so the tie-break decides
    pool = st.sampled_from([-1.0, -0.0, 0.0, 0.5, 2.0, 2.0, 3.0, np.nan])
    flat = draw(st.lists(pool, min_size=n * c * h * w, max_size=n * c * h * w))
    maps = np.array(flat, np.float32).reshape(n, c, h, w)
    k = draw(st.integers(1, n * h * w + 3))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    seed = draw(st.integers(0, 2**16))
    return maps, k, cuts, seed


@settings(max_examples=300, deadline=None)
@given(_case())
def test_any_split_and_merge_order_equals_one_pass_and_brute_force(case):
    maps, k, cuts, seed = case
    bounds = [0, *cuts, len(maps)]
    parts = [_fed(maps[a:b], k, start=a) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    rng = random.Random(seed)
    while len(parts) > 1:  # merge random pairs in random order: any tree of merges
        i, j = rng.sample(range(len(parts)), 2)
        merged = parts[i].merge(parts[j])
        parts = [p for q, p in enumerate(parts) if q not in (i, j)] + [merged]
    whole = parts[0].result()["layer"]
    one_pass = _fed(maps, k).result()["layer"]
    streamed = TopKAccumulator(k)  # batch after batch: the kept k-th value filters later ones
    for a, b in zip(bounds, bounds[1:], strict=False):
        streamed.update({"layer": maps[a:b]}, start=a)
    reference = brute_force_topk(maps, k)
    _same(whole, reference)
    _same(one_pass, reference)
    _same(streamed.result()["layer"], reference)
    assert whole.num_images == len(maps)


def test_ties_go_to_the_earlier_image_then_the_earlier_cell():
    maps = np.full((3, 1, 2, 2), 7.0, np.float32)
    r = _fed(maps, 5).result()["layer"]
    assert r.images.tolist() == [[0, 0, 0, 0, 1]]
    assert list(zip(r.rows[0], r.cols[0], strict=True))[:4] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_negative_zero_ties_with_zero_and_nan_ranks_last():
    maps = np.array([[[[np.nan, -0.0]]], [[[0.0, -5.0]]]], np.float32)  # (2, 1, 1, 2)
    r = _fed(maps, 4).result()["layer"]
    assert r.images.tolist() == [[0, 1, 1, 0]] and r.cols.tolist() == [[1, 0, 1, 0]]
    assert np.isnan(r.values[0, -1])
    keys = order_keys(np.array([-np.inf, np.nan], np.float32))
    assert keys[1] < keys[0]


def test_tensor_path_equals_numpy_path():
    rng = np.random.default_rng(3)
    maps = rng.integers(0, 4, (9, 5, 3, 4)).astype(np.float32)
    on_tensor = TopKAccumulator(6)
    on_tensor.update({"layer": torch.from_numpy(maps)}, start=10)
    _same(on_tensor.result()["layer"], brute_force_topk(maps, 6, start=10))


def test_dense_units_have_one_cell():
    acc = TopKAccumulator(2, layers="dense")
    acc.feed(Batch(maps={"dense": np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 0.0]])}, start=4))
    r = acc.result()["dense"]
    assert r.map_shape == (1, 1)
    assert r.images.tolist() == [[5, 6], [4, 5]] and r.rows.tolist() == [[0, 0], [0, 0]]


def test_k_larger_than_the_candidates_keeps_them_all():
    r = _fed(np.arange(4, dtype=np.float32).reshape(2, 1, 1, 2), 10).result()["layer"]
    assert r.values.tolist() == [[3.0, 2.0, 1.0, 0.0]]


def test_follows_the_accumulator_protocol_and_serialises():
    acc = TopKAccumulator(3)
    assert isinstance(acc, Accumulator)
    acc.update({"c": np.random.default_rng(0).random((4, 2, 3, 3), dtype=np.float32)})
    data = acc.result()["c"].to_json()
    assert json.loads(json.dumps(data))["channels"][1]["images"] == data["channels"][1]["images"]
    assert acc.nbytes() == 2 * 3 * (4 + 8 + 8)


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(ConvscopeError, match="k must be"):
        TopKAccumulator(0)
    acc = _fed(np.zeros((1, 2, 2, 2), np.float32), 2)
    with pytest.raises(ShapeError, match="does not fit"):
        acc.update({"layer": np.zeros((1, 3, 2, 2), np.float32)})
    with pytest.raises(ShapeError, match="2-D conv maps"):
        acc.update({"other": np.zeros((1, 2, 2, 2, 2), np.float32)})
    with pytest.raises(ConvscopeError, match="k=2 and k=3"):
        acc.merge(TopKAccumulator(3))
    with pytest.raises(ConvscopeError, match="can only merge"):
        acc.merge(object())
    with pytest.raises(ConvscopeError, match="no activations seen"):
        TopKAccumulator(1).result()
