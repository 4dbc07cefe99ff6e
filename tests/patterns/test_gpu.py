"""The patterns on a CUDA device: maps equal the CPU's, in the model's dtype, flags restored."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import convscope as cs

from .conftest import images_for
from .models import build

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("name", ["residual", "convnext", "tuple_out", "shared"])
def test_cuda_maps_equal_the_cpu_maps(name):  # pragma: no cover - GPU only
    model = build(name)
    x = images_for(model, 5)
    layers = [n for n in cs.capture(model, x[:1]) if "attention" not in n]
    cpu = cs.capture(model, x, layers, batch_size=2)
    gpu = cs.capture(model.cuda(), x, layers, batch_size=2)
    for layer in layers:
        assert gpu[layer].dtype == np.float32 and isinstance(gpu[layer], np.ndarray)
        np.testing.assert_allclose(gpu[layer], cpu[layer], atol=2e-4, rtol=1e-3, err_msg=layer)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_models_and_frozen_batchnorm(dtype):  # pragma: no cover - GPU only
    model = build("residual").cuda().to(dtype).train()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    x = images_for(model, 4)
    maps = cs.capture(model, x, ["conv1", "layer1/1/relu#1", "fc"])
    assert all(m.dtype == np.float32 for m in maps.values())
    want = cs.capture(build("residual"), x, ["conv1", "layer1/1/relu#1", "fc"])
    np.testing.assert_allclose(maps["fc"], want["fc"], atol=0.1, rtol=0.1)
    model(torch.from_numpy(x).cuda().to(dtype))
    for key, before in stats.items():
        assert torch.equal(model.state_dict()[key], before), key


def test_cuda_two_inputs():  # pragma: no cover - GPU only
    model = build("two_inputs").cuda()
    image = np.random.default_rng(0).random((3, 3, 10, 10), dtype=np.float32)
    mask = np.ones((3, 1, 10, 10), np.float32)
    maps = cs.capture(model, (image, mask), "fc", inputs="positional")
    cpu = cs.capture(build("two_inputs"), (image, mask), "fc", inputs="positional")
    np.testing.assert_allclose(maps["fc"], cpu["fc"], atol=1e-4)
