"""prune: a genuinely narrower zoo model whose outputs equal the original with the removed
channels' inputs to the next layer set to zero."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convscope.capturing import summary
from convscope.errors import ConvscopeError, UnknownNameError
from convscope.models import ZOO, build, load, save_model
from convscope.prune import consumer_of, parameter_count, prune

ARCHS = ["mnist_convnet", "fashion_gap", "mnist_bn", "cifar_cnn5"]


def _trained_like(arch: str, seed: int = 0) -> torch.nn.Module:
    """A zoo model with random weights and batch-norm statistics (not the identity)."""
    torch.manual_seed(seed)
    model = build(arch).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model


def _zeroed(model: torch.nn.Module, layer: str, channels: list[int]) -> torch.nn.Module:
    """The oracle: the next layer's inputs from ``channels`` multiplied by zero."""
    twin = copy.deepcopy(model)
    consumer, _ = consumer_of(twin, layer)
    weight = twin.get_submodule(consumer).weight.data
    if weight.ndim == 2:
        weight.view(weight.shape[0], model.widths[layer], -1)[:, channels] = 0.0
    else:
        weight[:, channels] = 0.0
    return twin


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(ARCHS), st.data())
def test_pruned_equals_zeroed_inputs(arch, data):
    model = _trained_like(arch)
    layer = data.draw(st.sampled_from(sorted(model.widths)))
    width = model.widths[layer]
    channels = data.draw(
        st.lists(st.integers(0, width - 1), min_size=1, max_size=width - 1, unique=True)
    )
    small = prune(model, layer, channels)
    x = torch.rand(3, *model.input_shape)
    with torch.no_grad():
        expected = _zeroed(model, layer, channels)(x)
        got = small(x)
    assert small.widths[layer] == width - len(channels)
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_count_matches_the_zoo_build(arch):
    model = _trained_like(arch)
    for layer in model.widths:
        small = prune(model, layer, [0, 1])
        reference = build(arch, widths=small.widths)
        assert parameter_count(small) == parameter_count(reference) < parameter_count(model)
        assert f"Total params: {parameter_count(small):,}" in summary(small)


def test_mnist_convnet_conv2d_1_by_hand():
    small = prune(build("mnist_convnet"), "conv2d_1", list(range(0, 64, 4)))  # 16 of 64
    # conv2d 320 + conv2d_1 32*9*48+48 + dense 48*25*10+10
    assert parameter_count(small) == 320 + 13_872 + 12_010


def test_kept_weights_are_copied_in_order():
    model = _trained_like("mnist_convnet")
    small = prune(model, "conv2d_1", [1, 5])
    keep = [c for c in range(64) if c not in (1, 5)]
    assert torch.equal(small.conv2d_1.weight, model.conv2d_1.weight[keep])
    assert torch.equal(small.conv2d_1.bias, model.conv2d_1.bias[keep])
    dense = model.dense.weight.view(10, 64, 25)[:, keep].reshape(10, -1)
    assert torch.equal(small.dense.weight, dense)
    assert torch.equal(small.conv2d.weight, model.conv2d.weight)


def test_batch_norm_entries_follow_the_channels():
    model = _trained_like("mnist_bn")
    small = prune(model, "conv2d", [0, 31])
    bn, old = small.batch_normalization, model.batch_normalization
    assert bn.num_features == 30
    assert torch.equal(bn.running_mean, old.running_mean[1:31])
    assert torch.equal(bn.running_var, old.running_var[1:31])


def test_input_model_unchanged_and_mode_kept():
    model = build("fashion_gap").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    small = prune(model, "conv2d_2", [3])
    assert small.training and model.widths["conv2d_2"] == 64
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not prune(model.eval(), "conv2d_2", [3]).training


def test_pruned_model_saves_and_loads(tmp_path):
    model = _trained_like("mnist_convnet")
    small = prune(model, "conv2d", [2, 4, 8]).eval()
    path = save_model(small, tmp_path / "small.safetensors", dataset="mnist5k")
    loaded, meta = load(path)
    assert meta.widths == {"conv2d": 29, "conv2d_1": 64}
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), small(x))


def test_pruning_twice_composes():
    model = _trained_like("fashion_gap")
    twice = prune(prune(model, "conv2d_3", [0, 1]), "dense", [5])
    assert twice.widths == {**ZOO["fashion_gap"].widths, "conv2d_3": 62, "dense": 31}


@pytest.mark.parametrize(
    "channels, match",
    [
        ([64], "no channel \\[64\\]"),
        ([-1], "no channel \\[-1\\]"),
        ([2, 2], "more than once"),
        (list(range(64)), "leaves none"),
        ([1.5], "whole numbers"),
        ([True], "whole numbers"),
    ],
)
def test_bad_channels(channels, match):
    with pytest.raises(ConvscopeError, match=match):
        prune(build("mnist_convnet"), "conv2d_1", channels)


def test_bad_layers_and_models():
    model = build("mnist_convnet")
    with pytest.raises(UnknownNameError, match="conv2d, conv2d_1"):
        prune(model, "dense", [0])  # the output layer is not resizable
    with pytest.raises(UnknownNameError):
        prune(model, "max_pooling2d", [0])
    with pytest.raises(ConvscopeError, match="zoo models"):
        prune(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3)), "0", [0])


def test_numpy_integer_channels():
    small = prune(build("mnist_convnet"), "conv2d_1", np.array([3, 9]))
    assert small.widths["conv2d_1"] == 62
