"""Torch capture: selection, hooks lifecycle, batching, streaming, in-place safety."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import convscope as cs
from convscope.capture import resolve_layers
from convscope.errors import ConvscopeError, ShapeError, UnknownNameError


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_capture_matches_manual_forward(mnist_convnet, digits):
    x, _ = digits
    maps = cs.capture(mnist_convnet, x, layers=["conv2d", "conv2d_1", "dense"])
    with torch.no_grad():
        t = torch.from_numpy(x)
        a = mnist_convnet.conv2d(t)
        b = mnist_convnet.conv2d_1(mnist_convnet.max_pooling2d(a))
        logits = mnist_convnet.eval()(t)
    np.testing.assert_array_equal(maps["conv2d"], a.numpy())
    np.testing.assert_array_equal(maps["conv2d_1"], b.numpy())
    np.testing.assert_allclose(maps["dense"], logits.numpy(), rtol=1e-6, atol=1e-6)
    assert maps["conv2d_1"].dtype == np.float32 and maps["conv2d_1"].shape == (64, 64, 11, 11)


def test_selection_by_name_index_kind_glob(mnist_convnet):
    x = np.zeros((1, 1, 28, 28), np.float32)
    assert list(cs.capture(mnist_convnet, x, layers=2)) == [
        "conv2d_1"
    ]  # seed 003 predictUntilLayer
    assert list(cs.capture(mnist_convnet, x, layers=-1)) == ["dense"]
    assert list(cs.capture(mnist_convnet, x, layers="pool")) == ["max_pooling2d", "max_pooling2d_1"]
    assert list(cs.capture(mnist_convnet, x, layers="conv2d*")) == ["conv2d", "conv2d_1"]
    assert len(cs.capture(mnist_convnet, x, layers="all")) == 7
    assert len(cs.capture(mnist_convnet, x)) == 7


def test_every_missing_name_is_reported(mnist_convnet):
    x = np.zeros((1, 1, 28, 28), np.float32)
    with pytest.raises(UnknownNameError) as err:
        cs.capture(mnist_convnet, x, layers=["conv2d", "typo", "conv9*"])
    message = str(err.value)
    assert "'typo'" in message and "'conv9*'" in message
    assert "conv2d_1" in message and "dense" in message  # lists what exists
    assert err.value.missing == ["typo", "conv9*"]
    with pytest.raises(ConvscopeError, match="out of range"):
        cs.capture(mnist_convnet, x, layers=99)
    with pytest.raises(ConvscopeError, match="no layer of kind 'norm'"):
        cs.capture(mnist_convnet, x, layers="norm")


def test_hooks_removed_and_mode_restored_even_when_forward_raises():
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Conv2d(1, 2, 3), Boom(), nn.ReLU())
    model.train()
    with pytest.raises(ShapeError, match="boom"):
        cs.capture(model, torch.zeros(1, 1, 5, 5), layers=["0", "2"])
    assert _hook_count(model) == 0
    assert model.training


def test_hooks_removed_after_success_and_eval_mode_used(mnist_convnet):
    mnist_convnet.train()
    seen = []
    mnist_convnet.dropout.register_forward_hook(lambda m, i, o: seen.append(m.training))
    cs.capture(mnist_convnet, np.zeros((2, 1, 28, 28), np.float32), layers="dense")
    assert seen == [False]  # dropout ran in eval mode
    assert mnist_convnet.training  # and the mode is restored
    assert _hook_count(mnist_convnet) == 1  # only the user's own hook is left


def test_generator_abandoned_midway_removes_hooks(mnist_convnet):
    x = np.zeros((10, 1, 28, 28), np.float32)
    stream = cs.capture_iter(mnist_convnet, x, "conv", batch_size=3)
    next(stream)
    stream.close()
    assert _hook_count(mnist_convnet) == 0


def test_inplace_relu_after_capture_point_is_detected():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 4, 3)
    model = nn.Sequential(conv, nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    x = torch.randn(3, 1, 6, 6)
    maps = cs.capture(model, x, layers=["0", "3"])
    with torch.no_grad():
        expected = conv(x)
    assert (expected < 0).any()  # the raw conv output has negatives that ReLU would clobber
    np.testing.assert_allclose(maps["0"], expected.numpy(), atol=1e-6)


def test_batching_equals_one_pass(mnist_convnet, digits):
    x, _ = digits
    whole = cs.capture(mnist_convnet, x, layers=["conv2d_1", "dense"], batch_size=1000)
    parts = cs.capture(mnist_convnet, x, layers=["conv2d_1", "dense"], batch_size=7)
    for name in whole:
        np.testing.assert_allclose(whole[name], parts[name], atol=1e-6)


def test_capture_iter_yields_labels_and_streams(mnist_convnet, digits):
    x, y = digits
    got = list(cs.capture_iter(mnist_convnet, (x, y), "dense", batch_size=30))
    assert [m["dense"].shape[0] for m, _ in got] == [30, 30, 4]
    np.testing.assert_array_equal(np.concatenate([lab for _, lab in got]), y)
    loader = [
        (torch.from_numpy(x[i : i + 16]), torch.from_numpy(y[i : i + 16])) for i in range(0, 64, 16)
    ]
    got = list(cs.capture_iter(mnist_convnet, loader, "dense"))
    assert len(got) == 4 and got[0][1].dtype == np.int64
    with pytest.raises(ConvscopeError, match="64 images but 3 labels"):
        list(cs.capture_iter(mnist_convnet, (x, y[:3]), "dense"))


def test_wrong_image_shape_names_both_shapes(mnist_convnet):
    with pytest.raises(ShapeError) as err:
        cs.capture(mnist_convnet, np.zeros((2, 28, 28, 1), np.float32), layers="conv")
    assert "(N, 1, 28, 28)" in str(err.value) and "(2, 28, 28, 1)" in str(err.value)


def test_single_image_without_batch_axis(mnist_convnet):
    maps = cs.capture(mnist_convnet, np.zeros((1, 28, 28), np.float32), layers="conv2d")
    assert maps["conv2d"].shape == (1, 32, 26, 26)


def test_nested_modules_are_joined_with_slash():
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
    model.add_module("head", nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 2)))
    infos = cs.layers(model, input_shape=(1, 5, 5))
    names = [i.name for i in infos]
    assert names == ["features", "features/0", "features/1", "head", "head/0", "head/1"]
    kinds = {i.name: i.kind for i in infos}
    assert kinds["features"] == "block" and kinds["features/0"] == "conv"
    assert "features" not in resolve_layers("all", infos)
    maps = cs.capture(model, torch.zeros(1, 1, 5, 5), layers=["features/1", "features"])
    np.testing.assert_array_equal(maps["features/1"], maps["features"])


def test_capture_stops_early_after_last_requested_layer(mnist_convnet):
    ran = []
    mnist_convnet.dense.register_forward_hook(lambda *a: ran.append(True))
    cs.capture(mnist_convnet, np.zeros((1, 1, 28, 28), np.float32), layers="conv2d")
    assert ran == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_capture_on_cuda(mnist_convnet, digits):  # pragma: no cover - GPU only
    x, _ = digits
    cpu = cs.capture(mnist_convnet, x, layers="conv2d_1")
    gpu = cs.capture(mnist_convnet.cuda(), x, layers="conv2d_1")
    np.testing.assert_allclose(cpu["conv2d_1"], gpu["conv2d_1"], atol=1e-4)
