"""The scan's device path: maps stay tensors, accumulators reduce them, results unchanged.

The tensor path runs on the CPU here (``on_device=True``); on a machine with CUDA the same
checks run on the GPU (they skip elsewhere).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import convscope as cs
from convscope.analysis import scan
from convscope.errors import ConvscopeError
from convscope.metrics.evaluation import EvaluationAccumulator
from convscope.metrics.firing import FiringAccumulator
from convscope.metrics.stats import ChannelStats
from convscope.metrics.topk import TopKAccumulator

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _accumulators():
    return [
        TopKAccumulator(6, layers=["conv2d", "conv2d_1"]),
        FiringAccumulator(10, layer="conv2d_1", reduce="any"),
        FiringAccumulator(10, layer="conv2d", reduce="mean", threshold=0.05),
        ChannelStats(similarity_samples=4),
        EvaluationAccumulator(),
    ]


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    return rng.random((37, 1, 28, 28), dtype=np.float32), np.arange(37) % 10


def _compare(got, want, exact=True):
    tops, any_prof, mean_prof, stats, ev = got
    tops1, any_prof1, mean_prof1, stats1, ev1 = want
    for layer, t in tops.items():
        np.testing.assert_array_equal(t.images, tops1[layer].images)
        np.testing.assert_array_equal(t.rows, tops1[layer].rows)
        close = np.testing.assert_array_equal if exact else np.testing.assert_allclose
        close(t.values, tops1[layer].values)
    np.testing.assert_array_equal(any_prof.fires, any_prof1.fires)
    np.testing.assert_array_equal(mean_prof.fires, mean_prof1.fires)
    for layer, s in stats.items():
        np.testing.assert_array_equal(s.fire_fraction, stats1[layer].fire_fraction)
        np.testing.assert_allclose(s.mean, stats1[layer].mean, rtol=1e-6)
    np.testing.assert_array_equal(ev.confusion, ev1.confusion)


def test_the_tensor_path_gives_the_host_path_results(xy):
    model = cs.models.build("mnist_convnet")
    host = scan(model, xy, *_accumulators(), batch_size=16)
    device = scan(model, xy, *_accumulators(), batch_size=16, on_device=True)
    _compare(device, host)


def test_accumulators_that_take_tensors_get_tensors(xy):
    seen = []

    class Probe(TopKAccumulator):
        def feed(self, batch):
            seen.append(type(next(iter(batch.maps.values()))).__name__)
            super().feed(batch)

    scan(cs.models.build("mnist_convnet"), xy[0], Probe(2), on_device=True, batch_size=20)
    assert seen == ["Tensor", "Tensor"]


def test_device_path_refusals():
    model = cs.models.build("mnist_convnet")
    x = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(ConvscopeError, match="mixed precision"):
        scan(model, x, TopKAccumulator(1), amp=True)
    if not torch.cuda.is_available():
        with pytest.raises(ConvscopeError, match="weights are on cpu"):
            scan(model, x, TopKAccumulator(1), device="cuda")


def test_bfloat16_autocast_stays_within_the_documented_tolerance(xy):
    model = cs.models.build("mnist_convnet")
    (exact,) = scan(model, xy[0], TopKAccumulator(6, layers=["conv2d_1"]), on_device=True)
    (mixed,) = scan(model, xy[0], TopKAccumulator(6, layers=["conv2d_1"]), on_device=True, amp=True)
    # bfloat16 keeps 8 bits of mantissa: values within 2 % of the peak (docs/scaling.md)
    peak = float(np.abs(exact["conv2d_1"].values).max())
    np.testing.assert_allclose(mixed["conv2d_1"].values, exact["conv2d_1"].values, atol=0.02 * peak)


@cuda
def test_cuda_scan_equals_the_cpu_scan(xy):
    model = cs.models.build("mnist_convnet")
    host = scan(model, xy, *_accumulators(), batch_size=16)
    gpu = scan(model.to("cuda"), xy, *_accumulators(), batch_size=16, device="cuda")
    model.to("cpu")
    # cuDNN and the CPU sum in other orders: values agree to float32 rounding, and the
    # counts and orders agree unless a value sits within that of a threshold or a tie
    _compare(gpu, host, exact=False)


@cuda
def test_cuda_maps_never_reach_the_host_whole(xy, monkeypatch):
    copies = []
    real = torch.Tensor.cpu

    def spy(self, *args, **kwargs):
        copies.append(self.numel())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", spy)
    model = cs.models.build("mnist_convnet").to("cuda")
    scan(model, xy[0], TopKAccumulator(3, layers=["conv2d_1"]), device="cuda", batch_size=37)
    whole = 37 * 64 * 11 * 11
    assert copies and max(copies) <= 64 * 3  # only the channels x k winners travel
    assert max(copies) < whole
