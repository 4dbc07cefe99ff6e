"""Tests for class firing profiles (convscope.metrics.firing, convscope.analysis.firing)
and channel statistics (convscope.metrics.stats, convscope.analysis.stats)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from convscope.analysis.firing import profile
from convscope.analysis.stats import channel_stats
from convscope.errors import ConvscopeError, ShapeError, UnknownNameError
from convscope.metrics.firing import (
    FiringAccumulator,
    FiringProfile,
    FiringWarning,
    class_distance,
    cluster_order,
    fired_units,
    nearest,
)
from convscope.metrics.stats import ChannelStats
from tests.seeds import seed_001_class_vs_neurons, seed_001_corr


# -- toy models ------------------------------------------------------------------------
def identity_relu(units: int) -> nn.Sequential:
    """Linear with identity weights, then ReLU: layer "1" outputs relu(x)."""
    linear = nn.Linear(units, units)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(units))
        linear.bias.zero_()
    return nn.Sequential(linear, nn.ReLU())


def seed_model(seed: int = 0) -> nn.Sequential:
    """A 'penultimate dense layer' of 32 ReLU units on 8 inputs (layer "1")."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU())


def class_data(counts: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs whose class shifts the mean, so the classes fire differently."""
    rng = np.random.default_rng(seed)
    ys = np.concatenate([np.full(c, k, np.int64) for k, c in enumerate(counts)])
    centers = rng.normal(size=(len(counts), 8))
    x = (centers[ys] + rng.normal(size=(len(ys), 8))).astype(np.float32)
    perm = rng.permutation(len(ys))
    return x[perm], ys[perm]


def predict_layer(model: nn.Module):
    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(x)).numpy()

    return predict


# -- firing rates by hand --------------------------------------------------------------
def test_dense_rates_by_hand():
    x = np.array(
        [[1, -1, 0], [2, 3, -1], [0.5, 0, 0], [-1, -1, 4], [0, 2, 2]],
        dtype=np.float32,
    )
    y = np.array([0, 0, 0, 1, 1])
    p = profile(identity_relu(3), (x, y), "1", batch_size=2)
    # class 0: unit0 fires 3/3, unit1 1/3, unit2 0/3; class 1: unit0 0/2, unit1 1/2, unit2 2/2
    np.testing.assert_array_equal(p.fires, [[3, 1, 0], [0, 1, 2]])
    np.testing.assert_array_equal(p.counts, [3, 2])
    np.testing.assert_allclose(p.rates, [[1, 1 / 3, 0], [0, 0.5, 1]])
    assert p.layer == "1" and p.class_names == ["0", "1"]
    assert p.fires.dtype == np.int64 and p.rates.dtype == np.float64


def test_threshold_changes_firing():
    x = np.array([[0.5, 2.0], [1.5, 0.2]], np.float32)
    p = profile(identity_relu(2), (x, np.array([0, 1])), "1", threshold=1.0)
    np.testing.assert_array_equal(p.fires, [[0, 1], [1, 0]])


def test_conv_reduce_any_and_mean_by_hand():
    # two images, two channels, 2x2 maps
    maps = np.zeros((2, 2, 2, 2), np.float32)
    maps[0, 0] = [[0, 0], [0, 4]]  # mean 1.0, any yes
    maps[0, 1] = [[0.2, 0.2], [0.2, 0.2]]  # mean 0.2, any yes
    maps[1, 0] = [[0, 0], [0, 0]]  # never
    maps[1, 1] = [[3, 3], [0, 0]]  # mean 1.5
    labels = np.array([0, 1])
    any_acc = FiringAccumulator(2, threshold=0.5, reduce="any")
    any_acc.update(maps, labels)
    np.testing.assert_array_equal(any_acc.result().fires, [[1, 0], [0, 1]])
    mean_acc = FiringAccumulator(2, threshold=0.5, reduce="mean")
    mean_acc.update(maps, labels)
    np.testing.assert_array_equal(mean_acc.result().fires, [[1, 0], [0, 1]])
    # threshold 0.1: 'any' fires channel 1 of image 0 (cells 0.2), 'mean' too (0.2)
    # threshold 1.2: 'any' fires ch0 of img0 (4) and ch1 of img1 (3); 'mean' only ch1 of img1
    hi_any = FiringAccumulator(2, threshold=1.2, reduce="any")
    hi_any.update(maps, labels)
    hi_mean = FiringAccumulator(2, threshold=1.2, reduce="mean")
    hi_mean.update(maps, labels)
    np.testing.assert_array_equal(hi_any.result().fires, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(hi_mean.result().fires, [[0, 0], [0, 1]])


def test_conv_profile_through_capture():
    conv = nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        conv.bias.zero_()
    model = nn.Sequential(conv, nn.ReLU())
    x = np.zeros((3, 1, 2, 2), np.float32)
    x[0, 0, 0, 0] = 1.0  # ch0 fires (any), mean 0.25
    x[1, 0] = -1.0  # ch1 fires everywhere
    x[2, 0] = 2.0  # ch0 everywhere
    y = np.array([0, 1, 1])
    p_any = profile(model, (x, y), "1", reduce="any")
    np.testing.assert_array_equal(p_any.fires, [[1, 0], [1, 1]])
    p_mean = profile(model, (x, y), "1", threshold=0.5, reduce="mean")
    np.testing.assert_array_equal(p_mean.fires, [[0, 0], [1, 1]])


# -- the seed as oracle ------------------------------------------------------------------
def test_seed_formula_matches_on_balanced_1000_per_class():
    model = seed_model()
    x, y = class_data([1000] * 10)
    p = profile(model, (x, y), "1", batch_size=1024)
    expected = seed_001_class_vs_neurons(x, y, predict_layer(model))
    # the seed sums in float32, convscope counts in int64: equal to float32 precision
    np.testing.assert_allclose(p.rates, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(p.counts, [1000] * 10)
    np.testing.assert_allclose(class_distance(p, "l1"), seed_001_corr(expected), atol=1e-6)
    # and the distance formula itself is the seed's on the same rates
    np.testing.assert_allclose(class_distance(expected, "l1"), seed_001_corr(expected), atol=1e-15)


def test_seed_formula_is_wrong_on_unbalanced_data():
    counts = [1000, 500, 1500, 1000, 200, 1000, 1000, 1000, 1000, 50]
    model = seed_model(1)
    x, y = class_data(counts, seed=1)
    p = profile(model, (x, y), "1")
    seed = seed_001_class_vs_neurons(x, y, predict_layer(model))
    np.testing.assert_array_equal(p.counts, counts)
    # convscope divides by the true count ...
    np.testing.assert_allclose(p.rates, p.fires / np.array(counts)[:, None])
    assert p.rates.max() <= 1.0
    # ... the seed divides by 1000: right only for the classes with 1000 samples
    balanced = [k for k, c in enumerate(counts) if c == 1000]
    unbalanced = [k for k, c in enumerate(counts) if c != 1000]
    np.testing.assert_allclose(p.rates[balanced], seed[balanced], atol=1e-6)
    for k in unbalanced:
        scale = counts[k] / 1000
        np.testing.assert_allclose(seed[k], p.rates[k] * scale, atol=1e-6)
        assert not np.allclose(seed[k], p.rates[k])
    assert seed[2].max() > 1.0  # a "rate" above 1 for the class with 1500 samples


def test_class_with_no_samples_is_reported():
    x = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    y = np.array([0, 2])
    with pytest.warns(FiringWarning, match="'cat'"):
        p = profile(identity_relu(2), (x, y), "1", class_names=["dog", "cat", "bird"])
    np.testing.assert_array_equal(p.counts, [1, 0, 1])
    np.testing.assert_array_equal(p.rates[1], [0, 0])
    assert not np.isnan(p.rates).any()
    assert p.empty_classes == [1]
    assert np.isfinite(class_distance(p, "cosine")).all()
    assert np.isfinite(class_distance(p, "correlation")).all()


# -- accumulator: merge ------------------------------------------------------------------
def test_merge_of_halves_equals_whole_exactly():
    model = seed_model(2)
    x, y = class_data([300, 200, 250, 50], seed=2)
    whole = profile(model, (x, y), "1", num_classes=4)
    first = FiringAccumulator(4, layer="1")
    second = FiringAccumulator(4, layer="1")
    maps = predict_layer(model)(x)
    first.update(maps[:401], y[:401])
    second.update(maps[401:], y[401:])
    merged = first.merge(second).result()
    np.testing.assert_array_equal(merged.fires, whole.fires)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_array_equal(merged.rates, whole.rates)  # exact, not allclose


def test_merge_profiles_from_two_profile_calls_exactly():
    model = seed_model(3)
    x, y = class_data([100, 100, 100], seed=3)
    whole = profile(model, (x, y), "1", num_classes=3, batch_size=64)
    half = len(x) // 2
    a = FiringAccumulator(3, layer="1")
    b = FiringAccumulator(3, layer="1")
    for acc, part in ((a, slice(0, half)), (b, slice(half, None))):
        acc.update(predict_layer(model)(x[part]), y[part])
    np.testing.assert_array_equal(a.merge(b).result().rates, whole.rates)


def test_merge_rejects_incompatible_settings():
    a = FiringAccumulator(2, threshold=0.0)
    a.update(np.ones((1, 3)), np.array([0]))
    for other in (
        FiringAccumulator(2, threshold=0.5),
        FiringAccumulator(3),
        FiringAccumulator(2, reduce="mean"),
    ):
        with pytest.raises(ConvscopeError, match="cannot merge"):
            a.merge(other)
    c = FiringAccumulator(2)
    c.update(np.ones((1, 4)), np.array([0]))
    with pytest.raises(ConvscopeError, match="unit shape"):
        a.merge(c)
    with pytest.raises(ConvscopeError):
        a.merge("nope")  # type: ignore[arg-type]


def test_accumulator_grows_without_num_classes():
    acc = FiringAccumulator()
    acc.update(np.array([[1.0]]), np.array([0]))
    acc.update(np.array([[1.0], [0.0]]), np.array([3, 3]))
    with pytest.warns(FiringWarning, match="'1', '2'"):
        p = acc.result()
    np.testing.assert_array_equal(p.counts, [1, 0, 0, 2])
    np.testing.assert_array_equal(p.fires[:, 0], [1, 0, 0, 1])


# -- bad input ---------------------------------------------------------------------------
def test_unknown_layer_lists_layers():
    with pytest.raises(UnknownNameError, match="available: 0, 1"):
        profile(identity_relu(2), (np.zeros((2, 2), np.float32), np.array([0, 1])), "typo")


def test_several_layers_rejected():
    with pytest.raises(ConvscopeError, match="one layer"):
        profile(identity_relu(2), (np.zeros((2, 2), np.float32), np.array([0, 1])), "all")


def test_data_without_labels():
    with pytest.raises(ConvscopeError, match="labels"):
        profile(identity_relu(2), np.zeros((2, 2), np.float32), "1")


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), "0", None, True])
def test_threshold_must_be_finite_number(threshold):
    with pytest.raises(ConvscopeError, match="threshold"):
        profile(identity_relu(2), (np.zeros((2, 2), np.float32), np.array([0, 1])), "1", threshold)
    with pytest.raises(ConvscopeError, match="threshold"):
        FiringAccumulator(2, threshold=threshold)


@pytest.mark.parametrize("labels", [np.array([0, 2]), np.array([-1, 0])])
def test_labels_out_of_range(labels):
    x = np.zeros((2, 2), np.float32)
    # labels go through convscope.validation.as_labels: one message for every room
    with pytest.raises(ConvscopeError, match="class indices from -?[0-9] to [0-9], but valid"):
        profile(identity_relu(2), (x, labels), "1", num_classes=2)


def test_non_integer_labels():
    with pytest.raises(ConvscopeError, match="integer"):
        FiringAccumulator(2).update(np.zeros((2, 2)), np.array([0.5, 1.0]))
    with pytest.raises(ShapeError, match="one-hot"):  # scores, not one-hot rows
        FiringAccumulator(2).update(np.zeros((2, 2)), np.array([[0.2, 0.8], [0.6, 0.4]]))
    # the one one-hot policy (convscope.validation.as_labels): one-hot rows are indices
    one_hot, indices = FiringAccumulator(2), FiringAccumulator(2)
    one_hot.update(np.array([[1.0, 0.0], [0.0, 1.0]]), np.eye(2)[[1, 0]])
    indices.update(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1, 0]))
    np.testing.assert_array_equal(one_hot.result().fires, indices.result().fires)


def test_unknown_reduce_and_shape_mismatch():
    with pytest.raises(UnknownNameError, match="reduce"):
        FiringAccumulator(2, reduce="max")
    acc = FiringAccumulator(2)
    acc.update(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ShapeError):
        acc.update(np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(ShapeError, match="labels"):
        acc.update(np.zeros((3, 3)), np.array([0, 1]))


def test_negative_activations_warn_once():
    linear = nn.Linear(2, 2)  # no ReLU: negative outputs
    with torch.no_grad():
        linear.weight.copy_(torch.eye(2))
        linear.bias.zero_()
    model = nn.Sequential(linear)
    x = np.array([[-1.0, 2.0], [3.0, -4.0], [-5.0, 6.0]], np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = profile(model, (x, np.array([0, 1, 1])), "0", batch_size=1)
    negative = [w for w in caught if "negative" in str(w.message)]
    assert len(negative) == 1 and "'0'" in str(negative[0].message)
    np.testing.assert_array_equal(p.fires, [[0, 1], [1, 1]])


def test_empty_accumulator_result():
    with pytest.raises(ConvscopeError, match="update"):
        FiringAccumulator(2).result()


# -- output formats ----------------------------------------------------------------------
def test_to_csv_and_to_dict(tmp_path):
    acc = FiringAccumulator(2, class_names=["a", "b"], layer="dense")
    acc.update(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), np.array([0, 0, 1]))
    p = acc.result()
    text = p.to_csv(tmp_path / "p.csv")
    assert text.splitlines() == ["class,count,unit_0,unit_1", "a,2,1.0,0.5", "b,1,0.0,1.0"]
    assert (tmp_path / "p.csv").read_text() == text
    d = p.to_dict()
    assert d["layer"] == "dense" and d["counts"] == [2, 1] and d["fires"] == [[2, 1], [0, 1]]


# -- distances ---------------------------------------------------------------------------
RATES = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [1.0, 0.0, 0.0], [0.2, 0.2, 0.2]])


def test_l1_by_hand():
    d = class_distance(RATES, "l1")
    assert d[0, 1] == pytest.approx(2 / 3)
    assert d[0, 2] == pytest.approx(0.5 / 3)
    assert d[2, 3] == pytest.approx(1.2 / 3)


def test_cosine_by_hand():
    d = class_distance(RATES, "cosine")
    assert d[0, 1] == pytest.approx(1 - 0.25 / 1.25)
    assert d[0, 2] == pytest.approx(1 - 1 / np.sqrt(1.25))
    assert d[1, 2] == pytest.approx(1.0)


def test_correlation_by_hand_and_constant_rows():
    d = class_distance(RATES, "correlation")
    r02 = np.corrcoef(RATES[0], RATES[2])[0, 1]
    assert d[0, 2] == pytest.approx(1 - r02)
    assert d[0, 1] == pytest.approx(1 - np.corrcoef(RATES[0], RATES[1])[0, 1])
    # row 3 is constant: Pearson undefined -> r = 0, distance 1, never NaN
    assert d[3, 0] == pytest.approx(1.0) and d[0, 3] == pytest.approx(1.0)
    twins = class_distance(np.array([[0.3, 0.3], [0.3, 0.3], [0.0, 0.0]]), "correlation")
    assert twins[0, 1] == 0.0 and twins[0, 2] == 1.0
    assert not np.isnan(twins).any()


def test_unknown_metric():
    with pytest.raises(UnknownNameError, match="metric"):
        class_distance(RATES, "euclid")


def test_nearest_ranks_and_ties():
    d = np.array(
        [[0.0, 0.3, 0.1, 0.3], [0.3, 0.0, 0.2, 0.2], [0.1, 0.2, 0.0, 0.5], [0.3, 0.2, 0.5, 0.0]]
    )
    rows = nearest(d)
    assert rows[0] == [(2, 0.1), (1, 0.3), (3, 0.3)]  # tie 1 vs 3 broken by index
    assert rows[1] == [(2, 0.2), (3, 0.2), (0, 0.3)]
    assert nearest(d, k=1) == [[(2, 0.1)], [(2, 0.2)], [(0, 0.1)], [(1, 0.2)]]
    acc = FiringAccumulator(3)
    acc.update(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), np.array([0, 1, 2]))
    p = acc.result()
    assert [j for j, _ in nearest(p)[0]] == [1, 2]


def test_nearest_matches_seed_argsort_on_seed_corr():
    rng = np.random.default_rng(4)
    rates = rng.random((10, 32))
    corr = seed_001_corr(rates)
    for i, row in enumerate(nearest(class_distance(rates))):
        seed_order = [j for j in corr[i].argsort(kind="stable") if j != i]
        assert [j for j, _ in row] == seed_order


def test_cluster_order_groups_alike_classes():
    rates = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9], [1.0, 0.05]])
    order = cluster_order(class_distance(rates))
    assert sorted(order) == list(range(5))
    pos = {c: i for i, c in enumerate(order)}
    group_a = sorted(pos[c] for c in (0, 2, 4))
    group_b = sorted(pos[c] for c in (1, 3))
    assert group_a[-1] < group_b[0] or group_b[-1] < group_a[0]
    assert cluster_order(np.zeros((1, 1))) == [0]


# -- property tests ----------------------------------------------------------------------
rates_strategy = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 8)),
    elements=st.floats(0, 1, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(rates=rates_strategy, metric=st.sampled_from(["l1", "cosine", "correlation"]))
def test_distance_properties(rates, metric):
    d = class_distance(rates, metric)
    assert d.shape == (len(rates), len(rates))
    assert np.isfinite(d).all()
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)
    assert (d >= 0).all()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 60),
    cuts=st.lists(st.integers(0, 60), max_size=4),
    order_seed=st.integers(0, 1000),
    conv=st.booleans(),
)
def test_merge_is_order_independent(seed, n, cuts, order_seed, conv):
    rng = np.random.default_rng(seed)
    shape = (n, 3, 2, 2) if conv else (n, 5)
    acts = np.maximum(rng.normal(size=shape), 0)
    labels = rng.integers(0, 4, size=n)
    whole = FiringAccumulator(4)
    whole.update(acts, labels)
    bounds = sorted({0, n, *(c % (n + 1) for c in cuts)})
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        acc = FiringAccumulator(4)
        acc.update(acts[lo:hi], labels[lo:hi])
        parts.append(acc)
    order = np.random.default_rng(order_seed).permutation(len(parts))
    merged = FiringAccumulator(4)
    for i in order:
        merged.merge(parts[i])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FiringWarning)
        a, b = merged.result(), whole.result()
    np.testing.assert_array_equal(a.fires, b.fires)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.rates, b.rates)


def test_fired_units_shapes():
    assert fired_units(np.array([1.0, -1.0])).shape == (2, 1)
    assert fired_units(np.zeros((2, 3, 4, 5))).shape == (2, 3)


def test_profile_of_zoo_model_with_dataloader_style_batches():
    import convscope as cs

    model = cs.models.build("fashion_gap")
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 28, 28), dtype=np.float32)
    y = np.arange(40) % 10
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 40, 16)]
    p = profile(model, batches, "dense", num_classes=10)
    whole = profile(model, (x, y), "dense", num_classes=10, batch_size=7)
    assert isinstance(p, FiringProfile)
    assert p.rates.shape == (10, 32)
    np.testing.assert_array_equal(p.counts, [4] * 10)
    np.testing.assert_allclose(p.rates, whole.rates)


# -- channel statistics -------------------------------------------------------------------
def test_channel_stats_by_hand():
    maps = np.zeros((3, 2, 1, 2), np.float32)
    maps[0, 0] = [[1, 3]]
    maps[1, 0] = [[0, 2]]
    # channel 1 never fires
    acc = ChannelStats(similarity_samples=0)
    acc.update({"conv": maps, "dense": np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 0.0]])})
    out = acc.result()
    conv = out["conv"]
    np.testing.assert_allclose(conv.mean, [(2 + 1 + 0) / 3, 0.0])
    np.testing.assert_allclose(conv.fire_fraction, [2 / 3, 0.0])
    assert conv.dead.tolist() == [1] and conv.num_samples == 3
    assert conv.mean_similarity is None and conv.dead_fraction == 0.5
    np.testing.assert_allclose(out["dense"].fire_fraction, [2 / 3, 0])


def test_channel_stats_merge_and_shape_check():
    rng = np.random.default_rng(0)
    maps = np.maximum(rng.normal(size=(10, 4, 3, 3)), 0)
    whole = ChannelStats(similarity_samples=0)
    whole.update({"c": maps})
    a, b = ChannelStats(similarity_samples=0), ChannelStats(similarity_samples=0)
    a.update({"c": maps[:3]})
    b.update({"c": maps[3:]})
    merged = a.merge(b).result()["c"]
    ref = whole.result()["c"]
    np.testing.assert_array_equal(merged.fire_fraction, ref.fire_fraction)
    np.testing.assert_allclose(merged.mean, ref.mean, rtol=1e-12)
    with pytest.raises(ShapeError):
        a.update({"c": maps[:, :2]})
    with pytest.raises(ConvscopeError, match="settings"):
        a.merge(ChannelStats(threshold=1.0))


def _similarity_available() -> bool:
    try:
        from convscope.metrics.similarity import mean_similarity  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _similarity_available(), reason="metrics.similarity not built yet")
def test_channel_stats_similarity_is_mean_of_per_image_values():
    from convscope.metrics.similarity import mean_similarity

    rng = np.random.default_rng(1)
    maps = np.maximum(rng.normal(size=(12, 3, 4, 4)), 0).astype(np.float32)
    per_image = np.asarray(mean_similarity(maps, metric="multiply", per_image=True))
    acc = ChannelStats(similarity_samples=8)
    acc.update({"c": maps[:5]})
    other = ChannelStats(similarity_samples=8)
    other.update({"c": maps[5:]})
    capped = ChannelStats(similarity_samples=8)
    capped.update({"c": maps[:5]})
    capped.update({"c": maps[5:]})
    s = capped.result()["c"]
    assert s.similarity_samples == 8
    assert s.mean_similarity == pytest.approx(per_image[:8].mean())
    merged = acc.merge(other).result()["c"]  # each part sampled its own first 8 (5 + 7)
    assert merged.similarity_samples == 12
    assert merged.mean_similarity == pytest.approx(per_image.mean())


def test_channel_stats_on_zoo_model():
    import convscope as cs

    x = np.random.default_rng(0).random((6, 1, 28, 28), dtype=np.float32)
    stats = channel_stats(cs.models.build("mnist_convnet"), x, "all", similarity_samples=0)
    assert "conv2d" in stats and "dense" in stats
    assert stats["conv2d"].mean.shape == (32,)
    assert stats["conv2d"].num_samples == 6


# -- command line ------------------------------------------------------------------------
def test_cli_classes_and_stats(tmp_path, capsys):
    from convscope.cli import main

    out = tmp_path / "classes"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["classes", "mnist_convnet", "--data", "mnist5k", "--layer", "conv2d_1",
                   "--metric", "cosine", "--out", str(out)])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert "nearest (distance)" in printed and "conv2d_1" in printed
    for name in ("profile.csv", "distance.csv", "nearest.csv"):
        assert (out / name).is_file()
    rows = (out / "nearest.csv").read_text().splitlines()
    assert rows[0] == "class,rank,neighbour,distance" and len(rows) == 1 + 10 * 9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["stats", "mnist_convnet", "--data", "mnist5k", "--similarity-samples", "4",
                   "--out", str(tmp_path)])  # fmt: skip
    assert rc == 0
    assert "conv2d_1" in capsys.readouterr().out
    assert (tmp_path / "stats.json").is_file()


def test_cli_bad_input(capsys):
    from convscope.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["classes", "mnist_convnet", "--data", "mnist5k", "--layer", "nope"]) == 2
        assert "unknown layer 'nope'" in capsys.readouterr().err
        assert main(["classes", "mnist_convnet", "--data", "mnist5k", "--threshold", "inf"]) == 2
        assert "finite" in capsys.readouterr().err
