"""The zoo: parameter totals equal the seeds' printed ones; save/load is safe and strict."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convscope.errors import FormatError, ShapeError, UnknownNameError
from convscope.models import build, list_models, load_model, read_meta, save_model, summary

# (name, total params printed in the seed, conv part where the seed prints one)
SEED_TOTALS = [
    ("mnist_convnet", 34_826),  # seed 000 Parent_model
    ("fashion_gap", 67_402),  # seed 001
    ("cifar_cnn5", 122_570),  # seed 003
]


@pytest.mark.parametrize("name,total", SEED_TOTALS)
def test_param_totals_match_seeds(name, total):
    model = build(name)
    assert sum(p.numel() for p in model.parameters()) == total


def test_mnist_convnet_conv_part_matches_seed_sub_model():
    model = build("mnist_convnet")
    conv_part = sum(
        p.numel()
        for n in ("conv2d", "max_pooling2d", "conv2d_1")
        for p in model.get_submodule(n).parameters()
    )
    assert conv_part == 18_816  # seed 000 CNN_sub_model


def test_seed_layer_names_and_shapes():
    from convscope import layers

    infos = {i.name: i.output_shape for i in layers(build("shapes150"))}
    # seed 004 prints these Keras output shapes (NHWC); ours are NCHW
    assert infos["conv2d"] == (8, 148, 148)
    assert infos["max_pooling2d_2"] == (32, 17, 17)
    assert infos["flatten"] == (9248,)
    assert infos["dense_2"] == (3,)
    infos = {i.name: i.output_shape for i in layers(build("cifar_cnn5"))}
    assert infos["conv_2"] == (64, 4, 4) and infos["flatten"] == (1024,)


def test_summary_is_keras_like():
    text = summary(build("mnist_convnet"))
    assert "conv2d_1 (Conv2D)" in text and "(None, 64, 11, 11)" in text
    assert "Total params: 34,826" in text


def test_unknown_model_lists_the_zoo():
    with pytest.raises(UnknownNameError) as err:
        build("resnet9000")
    for name in list_models():
        assert name in str(err.value)


def test_input_too_small_names_shapes():
    with pytest.raises(ShapeError, match=r"\(1, 8, 8\)"):
        build("cifar_cnn5", input_shape=(1, 8, 8))


def test_forward_rejects_wrong_shape_naming_both():
    model = build("cifar_cnn5")
    with pytest.raises(ShapeError) as err:
        model(torch.zeros(2, 1, 28, 28))
    assert "(N, 3, 32, 32)" in str(err.value) and "(2, 1, 28, 28)" in str(err.value)


def test_num_classes_and_channels_change():
    model = build("mnist_convnet", num_classes=3, input_shape=(3, 28, 28))
    assert model(torch.zeros(2, 3, 28, 28)).shape == (2, 3)


def test_save_load_round_trip(tmp_path):
    model = build("mnist_bn").eval()
    path = save_model(
        model, tmp_path / "m.safetensors", class_names=list("abcdefghij"), dataset="mnist5k"
    )
    loaded, meta = load_model(path)
    assert meta.arch == "mnist_bn" and meta.class_names == list("abcdefghij")
    assert meta.dataset == "mnist5k" and meta.input_shape == (1, 28, 28)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    # no temporary file is left behind by the atomic write
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    # a run folder holding model.safetensors also loads
    save_model(model, tmp_path / "run" / "model.safetensors")
    assert read_meta(tmp_path / "run").arch == "mnist_bn"


def test_truncated_file_is_a_clear_error(tmp_path):
    path = save_model(build("mnist_convnet"), tmp_path / "m.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="truncated"):
        load_model(tmp_path / "cut.safetensors")


def test_foreign_file_is_not_a_convscope_model(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(FormatError, match="not a convscope model"):
        load_model(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 3)
    with pytest.raises(FormatError):
        load_model(tmp_path / "junk.safetensors")
    with pytest.raises(FormatError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")


def test_keras_like_activations_are_inside_layers():
    model = build("mnist_convnet")
    from convscope import capture

    maps = capture(model, np.random.default_rng(0).random((2, 1, 28, 28)), layers=["conv2d"])
    assert maps["conv2d"].min() >= 0.0  # post-ReLU, as Keras' Conv2D(activation="relu")
