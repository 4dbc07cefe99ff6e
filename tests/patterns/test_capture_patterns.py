"""Capture on the patterns of modern architectures: the issue's six repros and the rest.

Each repro failed before capture traced the forward pass (issue 11): frozen BatchNorm
unfrozen, drop-path and tuple outputs crashing the default capture, channels-last maps
read as NCHW, half/bfloat16 models refused with advice about image sizes, two-input
models given a raw TypeError, torch's dotted names rejected.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import convscope as cs
from convscope.adapters import LayerSkipWarning, ModelInputs
from convscope.adapters.base import spatial_layers
from convscope.errors import ConvscopeError, ShapeError

from .conftest import hooked, images_for
from .models import build


# -- repro 1: frozen BatchNorm stays frozen ----------------------------------------------
def test_frozen_batchnorm_statistics_unchanged_byte_for_byte():
    model = build("residual").train()
    for module in model.modules():  # the fine-tuning recipe: train mode, BN frozen in eval
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    flags = {name: m.training for name, m in model.named_modules()}
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    x = images_for(model, 4)
    cs.capture(model, x)
    cs.layers(model)
    assert {name: m.training for name, m in model.named_modules()} == flags
    model(torch.from_numpy(x)).sum().backward()  # a training step's forward after capture
    for key, before in stats.items():
        after = model.state_dict()[key]
        assert after.numpy().tobytes() == before.numpy().tobytes(), key


def test_capture_runs_in_eval_and_gives_every_module_its_own_flag_back():
    model = build("drop_path").train()
    model.blocks[1].eval()  # a mixed model
    seen = []
    model.blocks[1].drop_path.register_forward_hook(lambda m, i, o: seen.append(m.training))
    cs.capture(model, images_for(model, 2), "blocks/1/drop_path")
    assert seen and not any(seen)
    assert model.training and not model.blocks[1].training and model.blocks[0].training


# -- repro 2: modules that do not run, tuple outputs ---------------------------------------
def test_default_capture_skips_a_drop_path_that_did_not_run_and_says_so():
    model = build("drop_path")
    x = images_for(model, 3)
    with pytest.warns(LayerSkipWarning, match="left out: blocks/0/drop_path$"):
        maps = cs.capture(model, x)
    assert "blocks/0/drop_path" not in maps and "blocks/1/drop_path" in maps
    with pytest.warns(LayerSkipWarning):
        assert list(cs.capture(model, x, "*drop_path")) == ["blocks/1/drop_path"]
    with pytest.raises(ConvscopeError, match="'blocks/0/drop_path' did not run") as err:
        cs.capture(model, x, ["stem", "blocks/0/drop_path"])
    assert "blocks/1/drop_path" in str(err.value)  # what did run is listed
    info = {i.name: i for i in cs.layers(model)}["blocks/0/drop_path"]
    assert info.ran is False and info.output_shape is None


def test_tuple_and_dict_outputs_are_captured_as_their_tensors():
    model = build("tuple_out")
    x = images_for(model, 4)
    with pytest.warns(LayerSkipWarning, match="attention/out_proj"):
        maps = cs.capture(model, x)
    conv = hooked(model, x, ["conv"])["conv"]
    np.testing.assert_array_equal(maps["split/0"], np.maximum(conv, 0))
    np.testing.assert_array_equal(maps["split/1"], np.maximum(-conv, 0))
    assert maps["summary/mean"].shape == (4, 8) and maps["summary/max"].shape == (4, 8)
    # the attention block: asked by name, its output and its weights
    both = cs.capture(model, x, "attention")
    assert {k: v.shape for k, v in both.items()} == {
        "attention/0": (4, 144, 8),
        "attention/1": (4, 144, 144),
    }
    np.testing.assert_allclose(both["attention/1"].sum(-1), 1.0, rtol=1e-5)  # softmax rows
    with pytest.raises(ConvscopeError, match="did not run"):
        cs.capture(model, x, "attention/out_proj")


def test_hand_hooks_agree_on_every_plain_layer_of_every_pattern():
    for name in ("residual", "drop_path", "squeeze_excite", "shared", "functional", "keyword"):
        model = build(name)
        x = images_for(model, 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LayerSkipWarning)
            maps = cs.capture(model, x)
        plain = [n for n in maps if "#" not in n]
        want = hooked(model, x, plain)
        for layer in plain:
            np.testing.assert_array_equal(maps[layer], want[layer], err_msg=f"{name}: {layer}")


def test_in_place_relu_after_the_capture_point_leaves_the_copy_alone():
    model = build("residual")
    x = images_for(model, 3)
    maps = cs.capture(model, x, ["bn1", "layer1/0/bn2"])
    with torch.no_grad():
        bn1 = model.bn1(model.conv1(torch.from_numpy(x)))
    assert (bn1 < 0).any()  # the in-place ReLU after bn1 would have clobbered these
    np.testing.assert_array_equal(maps["bn1"], bn1.numpy())
    assert (maps["layer1/0/bn2"] < 0).any()


# -- repro 3: channels-last maps ------------------------------------------------------------
def test_channels_last_linear_and_layernorm_maps_come_back_nchw():
    model = build("convnext")
    x = images_for(model, 2)
    maps = cs.capture(model, x, ["stages/0/norm", "stages/0/pwconv1", "stages/1/to_last"])
    with torch.no_grad():
        block = model.stages[0]
        y = block.dwconv(model.stem(torch.from_numpy(x))).permute(0, 2, 3, 1)
        norm = block.norm(y)
        hidden = block.pwconv1(norm)
    np.testing.assert_array_equal(maps["stages/0/norm"], norm.permute(0, 3, 1, 2).numpy())
    np.testing.assert_array_equal(maps["stages/0/pwconv1"], hidden.permute(0, 3, 1, 2).numpy())
    assert maps["stages/0/pwconv1"].shape == (2, 48, 6, 6)  # 48 channels, not 6
    assert maps["stages/1/to_last"].shape == (2, 12, 6, 6)  # a Permute module, undone
    shapes = {i.name: i.output_shape for i in cs.layers(model)}
    assert shapes["stages/0/pwconv1"] == (48, 6, 6) and shapes["stages/0/act"] == (48, 6, 6)
    assert shapes["stages/1/pwconv2"] == (12, 6, 6) and shapes["head_norm"] == (12,)
    pairs = cs.similarity.pairwise(maps["stages/0/pwconv1"], metric="cosine")
    assert pairs.shape == (48, 48)


# -- repro 4: the model's own dtype, the forward's own error --------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_half_bfloat16_and_double_models_are_captured_in_their_dtype(dtype):
    reference = build("residual")
    model = build("residual").to(dtype)
    x = images_for(model, 3)
    seen = []
    model.conv1.register_forward_hook(lambda m, i, o: seen.append(i[0].dtype))
    maps = cs.capture(model, x, ["conv1", "layer1/1/relu#1", "fc"])
    want = cs.capture(reference, x, ["conv1", "layer1/1/relu#1", "fc"])
    assert set(seen) == {dtype}
    tolerance = {torch.float16: 2e-2, torch.bfloat16: 1e-1, torch.float64: 1e-5}[dtype]
    for name, value in maps.items():
        assert value.dtype == np.float32
        np.testing.assert_allclose(value, want[name], atol=tolerance, rtol=tolerance)


def test_an_error_inside_forward_is_reported_with_its_cause_and_layer():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("the lookup table is empty")

    model = build("functional")
    model.conv2 = nn.Sequential(model.conv2, Broken())
    with pytest.raises(ConvscopeError) as err:
        cs.capture(model, images_for(model, 2))
    message = str(err.value)
    assert "in layer 'conv2/1'" in message and "the lookup table is empty" in message
    assert not isinstance(err.value, ShapeError) and "image" not in message
    # a shape mismatch still gets the advice about image sizes, and names both shapes
    bare = build("functional")
    bare.input_shape = None  # an ordinary module: the forward finds the mismatch
    with pytest.raises(ShapeError, match="in layer 'conv1'.*expected input.*size and channels"):
        cs.capture(bare, np.zeros((2, 3, 16, 16), np.float32), "conv1")


def test_a_head_that_does_not_fit_bigger_images_still_lets_early_layers_be_captured():
    model = build("functional")
    model.input_shape = None  # an ordinary module: no input shape known
    x = np.random.default_rng(0).random((2, 1, 30, 30), dtype=np.float32)
    maps = cs.capture(model, x, "conv")
    assert maps["conv2"].shape == (2, 8, 12, 12)
    with pytest.raises(ShapeError, match="in layer 'fc'.*mat1 and mat2"):
        cs.capture(model, x)


# -- repro 5: several inputs ---------------------------------------------------------------
def test_two_positional_inputs_are_passed_as_the_forward_takes_them():
    model = build("two_inputs")
    rng = np.random.default_rng(0)
    image = rng.random((4, 3, 10, 10), dtype=np.float32)
    mask = (rng.random((4, 1, 10, 10)) > 0.5).astype(np.float32)
    maps = cs.capture(model, (image, mask), ["conv", "relu", "fc"], inputs="positional")
    with torch.no_grad():
        logits = model(torch.from_numpy(image), torch.from_numpy(mask))
        conv = model.conv(torch.from_numpy(image))
    np.testing.assert_array_equal(maps["conv"], conv.numpy())
    np.testing.assert_allclose(maps["fc"], logits.numpy(), rtol=1e-6, atol=1e-6)
    batches = list(
        cs.capture_iter(
            model, ((image, mask), np.arange(4)), "fc", inputs="positional", batch_size=3
        )
    )
    assert [len(m["fc"]) for m, _ in batches] == [3, 1] and list(batches[1][1]) == [3]
    # the same through ModelInputs, explicit too, which the scan driver passes along
    data = (ModelInputs((image, mask)), np.arange(4) % 3)
    profile = cs.firing.profile(model, data, layer="relu", num_classes=3)
    assert profile.rates.shape == (3, 6)


def test_several_inputs_given_wrongly_print_the_forward_signature():
    model = build("two_inputs")
    image = np.zeros((2, 3, 10, 10), np.float32)
    mask = np.ones((2, 1, 10, 10), np.float32)
    signature = "TwoInputs.forward(image, mask)"
    with pytest.raises(ConvscopeError, match="inputs='positional'") as err:
        cs.capture(model, (image, mask))  # once stacked into one 5-D tensor
    assert signature in str(err.value)
    with pytest.raises(ConvscopeError, match="missing a required argument: 'mask'") as err:
        cs.capture(model, image)  # once a raw TypeError
    assert signature in str(err.value)
    with pytest.raises(ConvscopeError, match="too many positional arguments") as err:
        cs.capture(model, (image, mask, mask), inputs="positional")
    assert signature in str(err.value)
    with pytest.raises(ConvscopeError, match="inputs='keyword'"):
        cs.capture(model, {"image": image, "mask": mask})
    with pytest.raises(ConvscopeError, match="inputs='tuple' is not a way"):
        cs.capture(model, (image, mask), inputs="tuple")
    with pytest.raises(ConvscopeError, match="different numbers of rows"):
        cs.capture(model, (image, mask[:1]), inputs="positional")


def test_keyword_inputs_and_a_dict_of_them():
    model = build("keyword")
    x = images_for(model, 3)
    gain = np.array([0.0, 1.0, 2.0], np.float32)
    maps = cs.capture(model, {"image": x, "gain": gain}, "fc", inputs="keyword")
    with torch.no_grad():
        want = model(torch.from_numpy(x), gain=torch.from_numpy(gain))
    np.testing.assert_allclose(maps["fc"], want.numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ConvscopeError, match="unexpected keyword argument 'scale'"):
        cs.capture(model, {"image": x, "scale": gain}, inputs="keyword")


def test_a_list_of_single_images_is_still_one_batch():
    model = build("functional")
    x = images_for(model, 3)
    maps = cs.capture(model, [x[0], x[1], x[2]], "conv1")
    np.testing.assert_array_equal(maps["conv1"], cs.capture(model, x, "conv1")["conv1"])


# -- repro 6: torch's dotted names ---------------------------------------------------------
def test_dotted_torch_names_are_aliases():
    model = build("residual")
    x = images_for(model, 2)
    maps = cs.capture(model, x, ["layer1.0.conv1", "layer1.1.bn2"])
    assert list(maps) == ["layer1/0/conv1", "layer1/1/bn2"]
    np.testing.assert_array_equal(
        maps["layer1/0/conv1"], hooked(model, x, ["layer1.0.conv1"])["layer1.0.conv1"]
    )
    with pytest.raises(ConvscopeError, match="unknown layer 'layer1.0.conv9'"):
        cs.capture(model, x, "layer1.0.conv9")


# -- the smaller items ---------------------------------------------------------------------
def test_a_module_called_twice_is_captured_at_each_call():
    model = build("shared")
    x = images_for(model, 2)
    maps = cs.capture(model, x, ["conv", "conv#1", "relu#1"])
    with torch.no_grad():
        first = model.conv(torch.from_numpy(x))
        second = model.conv(torch.relu(first))
    np.testing.assert_array_equal(maps["conv"], first.numpy())
    np.testing.assert_array_equal(maps["conv#1"], second.numpy())
    np.testing.assert_array_equal(maps["relu#1"], np.maximum(second.numpy(), 0))
    infos = {i.name: i for i in cs.layers(model)}
    assert infos["conv"].params == 84 and infos["conv#1"].params == 0  # counted once
    assert list(cs.capture(model, x, "conv")) == ["conv"]  # a name: its first call
    assert list(cs.capture(model, x, "conv*")) == ["conv", "conv#1"]  # a glob: every call


def test_squeeze_excitation_maps_are_not_spatial():
    model = build("squeeze_excite")
    infos = cs.layers(model)
    kinds = {i.name: i.kind for i in infos}
    assert kinds["se/fc1"] == "conv" and kinds["se/gate"] == "activation"  # Hardsigmoid
    assert spatial_layers(infos) == ["conv", "conv2"]
    assert spatial_layers(infos, ("conv",)) == ["conv", "conv2"]


def test_functional_only_model():
    model = build("functional")
    x = images_for(model, 3)
    maps = cs.capture(model, x)
    assert list(maps) == ["conv1", "conv2", "fc"]
    with torch.no_grad():
        want = model(torch.from_numpy(x))
    np.testing.assert_allclose(maps["fc"], want.numpy(), rtol=1e-6, atol=1e-6)


def test_a_layer_named_like_a_kind_is_that_layer_and_kind_prefix_means_the_kind():
    model = build("squeeze_excite")  # has a layer named "conv"
    x = images_for(model, 2)
    assert list(cs.capture(model, x, "conv")) == ["conv"]
    assert list(cs.capture(model, x, "kind:conv")) == ["conv", "se/fc1", "se/fc2", "conv2"]
