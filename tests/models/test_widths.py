"""Zoo widths: a narrower zoo model builds, counts its parameters, saves and loads back."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from safetensors.torch import save_file

from convscope.capturing import summary
from convscope.errors import FormatError, ShapeError, UnknownNameError
from convscope.models import ZOO, build, load, read_meta, save_model
from convscope.models.zoo import resolve_widths


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(ZOO))
def test_default_widths_are_the_seeds(name):
    model = build(name)
    assert model.widths == dict(ZOO[name].widths)
    for layer, width in model.widths.items():
        module = model.get_submodule(layer)
        assert (
            module.out_channels if hasattr(module, "out_channels") else module.out_features
        ) == width


def test_narrower_mnist_convnet_counts_by_hand():
    model = build("mnist_convnet", widths={"conv2d_1": 40})
    # conv2d 1*9*32+32, conv2d_1 32*9*40+40, dense (40*5*5)*10+10
    assert _params(model) == 320 + 11_560 + 10_010
    assert "Total params: 21,890" in summary(model)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_narrower_fashion_gap_and_mnist_bn():
    gap = build("fashion_gap", widths={"conv2d_3": 48, "dense": 16})
    # conv2d 320, conv2d_1 9248, conv2d_2 18496, conv2d_3 64*9*48+48, dense 48*16+16, dense_1 16*10+10
    assert _params(gap) == 320 + 9_248 + 18_496 + 27_696 + 784 + 170
    bn = build("mnist_bn", widths={"conv2d": 16})
    assert bn.get_submodule("batch_normalization").num_features == 16
    assert bn.get_submodule("conv2d_1").in_channels == 16


def test_unknown_width_layer_lists_the_resizable_ones():
    with pytest.raises(UnknownNameError) as err:
        build("mnist_convnet", widths={"dense": 5, "conv9": 3})
    text = str(err.value)
    assert "'dense'" in text and "'conv9'" in text and "conv2d, conv2d_1" in text


@pytest.mark.parametrize("bad", [0, -3, 2.5, "wide", None])
def test_bad_width_names_the_layer(bad):
    with pytest.raises(ShapeError, match="conv2d_1"):
        build("mnist_convnet", widths={"conv2d_1": bad})


def test_widths_must_be_a_mapping():
    with pytest.raises(ShapeError, match="widths must map"):
        resolve_widths("mnist_convnet", [("conv2d", 3)])


def test_narrow_model_saves_widths_and_loads_back(tmp_path):
    torch.manual_seed(1)
    model = build("fashion_gap", widths={"conv2d_1": 20, "dense": 9}).eval()
    path = save_model(model, tmp_path / "m.safetensors", class_names=list("abcdefghij"))
    meta = read_meta(path)
    assert meta.widths == model.widths
    loaded, meta2 = load(path)
    assert loaded.widths == model.widths and _params(loaded) == _params(model)
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(loaded(x), model(x))


def test_file_without_widths_loads_with_the_seeds_widths(tmp_path):
    """Files written before widths existed carry no 'widths' key: the seed's apply."""
    model = build("mnist_convnet")
    record = {
        "arch": "mnist_convnet",
        "input_shape": [1, 28, 28],
        "num_classes": 10,
        "format": "convscope-model",
        "version": 1,
    }
    path = tmp_path / "old.safetensors"
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"convscope": json.dumps(record)})
    assert read_meta(path).widths is None
    loaded, _ = load(path)
    assert loaded.widths == dict(ZOO["mnist_convnet"].widths)


def test_widths_that_do_not_build_are_a_format_error(tmp_path):
    path = save_model(build("mnist_convnet"), tmp_path / "m.safetensors")
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        record = json.loads(handle.metadata()["convscope"])
    record["widths"] = {"conv7": 3}
    save_file(load_file(str(path)), str(path), metadata={"convscope": json.dumps(record)})
    with pytest.raises(FormatError, match="conv7"):
        load(path)


def test_zoo_name_load_has_seed_widths():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, meta = load("cifar_cnn5")
    assert model.widths == dict(ZOO["cifar_cnn5"].widths)
