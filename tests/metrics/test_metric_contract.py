"""One contract every registered similarity metric keeps (scikit-learn's estimator checks, for metrics).

For each name in ``available_metrics()``: the matrix is symmetric and within the metric's
bounds; permuting channels permutes the matrix; chunked and tiled runs (a tiny
``max_bytes``) give the unchunked result bit for bit; the mean over pairs is the mean of
the upper triangle; dead and constant channels are left out of the mean by default and
counted; a metric registered by a user is checked the same way.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from convscope.metrics import similarity as sim

METRICS = sim.available_metrics()


def _maps(seed: int, shape=(3, 9, 5, 5)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(size=shape) - 0.2, 0).astype(np.float32)


@pytest.fixture(params=METRICS)
def metric(request):
    return request.param


def test_symmetric_and_bounded(metric):
    S = sim.pairwise(_maps(1), metric)
    low, high = sim.get_metric(metric).bounds if hasattr(sim, "get_metric") else (-1.0, 1.0)
    assert S.shape == (9, 9)
    np.testing.assert_array_equal(S, S.T)
    assert (S >= low - 1e-12).all() and (S <= high + 1e-12).all()


def test_channel_permutation_permutes_the_matrix(metric):
    maps = _maps(2)
    order = np.random.default_rng(3).permutation(maps.shape[1])
    S = sim.pairwise(maps, metric)
    np.testing.assert_allclose(
        sim.pairwise(maps[:, order], metric), S[np.ix_(order, order)], atol=1e-12
    )


@pytest.mark.parametrize("max_bytes", [512, 4_000, 64 * 2**20])
def test_chunked_and_tiled_agree_with_unchunked(metric, max_bytes):
    # tiles change the order of float sums (BLAS blocking, images summed per block): the
    # values agree to rounding; one image's multiply values are counts, equal exactly
    maps = _maps(4, shape=(7, 12, 6, 6))
    whole = sim.pairwise(maps, metric)
    tiled = sim.pairwise(maps, metric, max_bytes=max_bytes)
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-12)
    per = sim.mean_similarity(maps, metric, per_image=True)
    per_tiled = sim.mean_similarity(maps, metric, per_image=True, max_bytes=max_bytes)
    np.testing.assert_allclose(per_tiled, per, rtol=0, atol=1e-12)
    if metric == "multiply":
        one = maps[:1]
        exact = sim.pairwise(one, metric)
        np.testing.assert_array_equal(sim.pairwise(one, metric, max_bytes=max_bytes), exact)


def test_mean_is_the_mean_of_the_upper_triangle(metric):
    maps = _maps(5, shape=(1, 10, 6, 6))
    S = sim.pairwise(maps, metric)
    upper = S[np.triu_indices(10, 1)]
    assert sim.mean_similarity(maps, metric, include_dead=True) == pytest.approx(
        upper.mean(), abs=1e-12
    )


def test_dead_and_constant_channels_are_left_out_and_counted(metric):
    maps = _maps(6, shape=(2, 8, 5, 5))
    maps[:, 1] = 0.0
    maps[:, 5] = 0.3
    red = sim.redundancy(maps, metric)
    assert red.excluded == [1, 5]
    kept = [0, 2, 3, 4, 6, 7]
    assert sim.mean_similarity(maps, metric) == pytest.approx(
        sim.mean_similarity(maps[:, kept], metric), abs=1e-12
    )
    pairs = sim.extreme_pairs(maps, metric)
    assert not {1, 5} & {pairs.most.i, pairs.most.j}


@settings(max_examples=25, deadline=None)
@given(
    maps=arrays(
        np.float32,
        st.tuples(st.integers(1, 3), st.integers(2, 6), st.integers(1, 4), st.integers(1, 4)),
        elements=st.floats(-4, 4, width=32),
    ),
    name=st.sampled_from(METRICS),
)
def test_property_symmetry_bounds_and_finiteness(maps, name):
    S = sim.pairwise(maps, name)
    low, high = sim.get_metric(name).bounds if hasattr(sim, "get_metric") else (-1.0, 1.0)
    assert np.isfinite(S).all()
    np.testing.assert_array_equal(S, S.T)
    assert (S >= low - 1e-9).all() and (S <= high + 1e-9).all()
    mean = sim.mean_similarity(maps, name)
    assert np.isnan(mean) or low - 1e-9 <= mean <= high + 1e-9


def test_a_user_metric_keeps_the_contract():
    class Overlap(sim.CosineMetric):
        """Cosine of binarised maps: a user's metric built on the shared driver."""

        name = "test_overlap"

        def prepare(self, data):
            data = type(data)(x=(data.x > 0).to(data.x.dtype), spatial_shape=data.spatial_shape)
            return super().prepare(data)

    sim.register_metric(Overlap())
    try:
        maps = _maps(7)
        S = sim.pairwise(maps, "test_overlap")
        np.testing.assert_array_equal(S, S.T)
        np.testing.assert_array_equal(sim.pairwise(maps, "test_overlap", max_bytes=600), S)
    finally:
        from convscope.metrics import _sim_core

        _sim_core._REGISTRY.pop("test_overlap", None)
