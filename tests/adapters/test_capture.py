"""Torch capture: selection, hooks lifecycle, batching, streaming, in-place safety."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import convscope as cs
from convscope.adapters import adapter_for, resolve_layers
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
    with pytest.raises(UnknownNameError, match="out of range"):
        cs.capture(mnist_convnet, x, layers=99)
    with pytest.raises(UnknownNameError, match="no layer of kind 'norm'"):
        cs.capture(mnist_convnet, x, layers="norm")


def test_all_kinds_of_miss_are_reported_in_one_error(mnist_convnet):
    x = np.zeros((1, 1, 28, 28), np.float32)
    with pytest.raises(UnknownNameError) as err:
        cs.capture(mnist_convnet, x, layers=["typo", 99, "conv2d", "norm", "conv9*", -8])
    assert isinstance(err.value, ConvscopeError) and isinstance(err.value, KeyError)
    assert err.value.missing == ["typo", 99, "norm", "conv9*", -8]
    message = str(err.value)
    assert "'typo'" in message and "'conv9*'" in message
    assert "99, -8 out of range" in message and "0..6 or -7..-1" in message  # the valid range
    assert "no layer of kind 'norm'; it has kinds: conv, dense, dropout, flatten, pool" in message
    assert "available: conv2d, max_pooling2d, conv2d_1" in message
    assert err.value.available[-1] == "dense"


def test_hooks_removed_and_mode_restored_even_when_forward_raises():
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Conv2d(1, 2, 3), Boom(), nn.ReLU())
    model.train()
    with pytest.raises(ConvscopeError, match="failed in layer '1'.*RuntimeError: boom") as err:
        cs.capture(model, torch.zeros(1, 1, 5, 5), layers=["0", "2"])
    assert not isinstance(err.value, ShapeError)  # the real cause, no advice about image sizes
    assert _hook_count(model) == 0 and sum(len(m._forward_pre_hooks) for m in model.modules()) == 0
    assert model.training


def test_hooks_removed_after_success_and_eval_mode_used(mnist_convnet):
    mnist_convnet.train()
    seen = []
    mnist_convnet.dropout.register_forward_hook(lambda m, i, o: seen.append(m.training))
    cs.capture(mnist_convnet, np.zeros((2, 1, 28, 28), np.float32), layers="dense")
    assert seen and not any(seen)  # dropout ran in eval mode (the traced pass included)
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
    x = np.zeros((1, 1, 28, 28), np.float32)
    cs.capture(mnist_convnet, x, layers="conv2d")  # the first capture traces a whole pass
    mnist_convnet.dense.register_forward_hook(lambda *a: ran.append(True))
    cs.capture(mnist_convnet, x, layers="conv2d")
    assert ran == []  # the trace is cached; the capture stops after conv2d


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_capture_on_cuda(mnist_convnet, digits):  # pragma: no cover - GPU only
    x, _ = digits
    cpu = cs.capture(mnist_convnet, x, layers="conv2d_1")
    gpu = cs.capture(mnist_convnet.cuda(), x, layers="conv2d_1")
    np.testing.assert_allclose(cpu["conv2d_1"], gpu["conv2d_1"], atol=1e-4)


def test_one_unbatched_image_without_input_shape_gets_a_batch_axis():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())  # no input_shape attribute
    x = torch.rand(3, 8, 8)
    maps = cs.capture(model, x, layers="0")
    assert maps["0"].shape == (1, 4, 6, 6)
    np.testing.assert_allclose(maps["0"], cs.capture(model, x[None], layers="0")["0"])
    bare = nn.Conv2d(3, 4, 3)  # the conv is the model itself
    assert cs.layers(bare) == [] and len(adapter_for(bare).to_input(x)) == 1
    # a Conv1d model takes 3-D (N, C, L) batches: no axis is added
    conv1d = nn.Sequential(nn.Conv1d(3, 4, 3), nn.Conv2d(1, 1, 1))  # first conv decides
    assert cs.capture(conv1d, torch.rand(5, 3, 10), layers="0")["0"].shape == (5, 4, 8)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, torch.uint8, torch.int32])
def test_integer_images_are_refused_with_the_fix(mnist_convnet, dtype):
    x = np.full((2, 1, 28, 28), 200)
    x = torch.from_numpy(x).to(dtype) if isinstance(dtype, torch.dtype) else x.astype(dtype)
    with pytest.raises(ConvscopeError) as err:
        cs.capture(mnist_convnet, x, layers="conv2d")
    message = str(err.value)
    assert "convscope takes float images in [0, 1]" in message
    assert "x.astype('float32') / 255" in message
    if dtype in (np.uint8, torch.uint8):
        assert str(err.value) == (
            "images are uint8 (0..255); convscope takes float images in [0, 1]: "
            "x.astype('float32') / 255"
        )
    # float64 images are cast without complaint
    assert cs.capture(mnist_convnet, x.double() if hasattr(x, "double") else x / 255.0, 0)


def test_early_stop_is_not_swallowed_by_the_models_own_except():
    class Guarded(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.head = nn.Linear(2 * 3 * 3, 2)
            self.swallowed = 0
            self.head_ran = 0

        def forward(self, x):
            try:
                y = self.conv(x)
            except Exception:  # a model's own fallback must not catch convscope's stop
                self.swallowed += 1
                y = torch.zeros(len(x), 2, 3, 3)
            self.head_ran += 1
            return self.head(y.flatten(1))

    torch.manual_seed(0)
    model = Guarded()
    x = torch.rand(2, 1, 5, 5)
    cs.capture(model, x, layers="conv")  # traced once, whole
    model.head_ran = 0
    maps = cs.capture(model, x, layers="conv")
    with torch.no_grad():
        np.testing.assert_array_equal(maps["conv"], model.conv(x).numpy())
    assert model.swallowed == 0 and model.head_ran == 0  # stopped right after the conv
    assert _hook_count(model) == 0
    assert cs.capture(model, x, layers=["conv", "head"])["head"].shape == (2, 2)


def _labels_of(model, data, **kwargs):
    return [lab for _, lab in cs.capture_iter(model, data, "dense", **kwargs)]


def test_pairs_as_tuple_list_and_bad_pairs(mnist_convnet, digits):
    x, y = digits
    want = np.concatenate(_labels_of(mnist_convnet, (x, y), batch_size=30))
    got = _labels_of(mnist_convnet, [x, y], batch_size=30)  # a list pair: same as the tuple
    assert len(got) == 3
    np.testing.assert_array_equal(np.concatenate(got), want)
    tensor_pair = (torch.from_numpy(x), torch.from_numpy(y))
    got = _labels_of(mnist_convnet, tensor_pair, batch_size=30)
    assert all(isinstance(lab, np.ndarray) for lab in got)
    np.testing.assert_array_equal(np.concatenate(got), y)
    # a list of two batches of images is still an iterable of batches
    assert _labels_of(mnist_convnet, [x[:10], x[10:]]) == [None, None]
    assert _labels_of(mnist_convnet, (x, None), batch_size=40) == [None, None]
    with pytest.raises(ConvscopeError, match=r"64 images but 3 labels in the \[x, y\] pair"):
        _labels_of(mnist_convnet, [x, y[:3]])
    with pytest.raises(ConvscopeError, match="the data is empty"):
        _labels_of(mnist_convnet, (x[:0], y[:0]))
    with pytest.raises(ConvscopeError, match="the data is empty"):
        _labels_of(mnist_convnet, x[:0])
    with pytest.raises(ConvscopeError, match="are a scalar"):
        _labels_of(mnist_convnet, (x, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pair_with_cuda_labels(mnist_convnet, digits):  # pragma: no cover - GPU only
    x, y = digits
    pair = (torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda())
    got = _labels_of(mnist_convnet.cuda(), pair, batch_size=30)
    np.testing.assert_array_equal(np.concatenate(got), y)
    got = _labels_of(mnist_convnet, [pair[0], pair[1]], batch_size=30)
    np.testing.assert_array_equal(np.concatenate(got), y)


def test_atomic_write_uses_the_umask_read_at_import(tmp_path, monkeypatch):
    """Writes never touch the process umask (setting it is not thread-safe)."""
    import os

    from convscope import _io

    current = os.umask(0o022)
    os.umask(current)
    assert _io._UMASK == current

    def no_umask(_mask):
        raise AssertionError("atomic_write changed the process umask")

    monkeypatch.setattr(os, "umask", no_umask)
    monkeypatch.setattr(_io, "_UMASK", 0o027)
    path = _io.write_text(tmp_path / "a.txt", "hi")
    assert path.read_text() == "hi" and (path.stat().st_mode & 0o777) == 0o640
