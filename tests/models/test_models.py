"""The zoo: parameter totals equal the seeds' printed ones; save/load is safe and strict."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convscope.capturing import summary
from convscope.errors import FormatError, ShapeError, UnknownNameError
from convscope.models import build, list_models, load, read_meta, save_model

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
    loaded, meta = load(path)
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
        load(tmp_path / "cut.safetensors")


def test_foreign_file_is_not_a_convscope_model(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(FormatError, match="not a convscope model"):
        load(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 3)
    with pytest.raises(FormatError):
        load(tmp_path / "junk.safetensors")
    with pytest.raises(FormatError, match="does not exist"):
        load(tmp_path / "missing.safetensors")


def test_keras_like_activations_are_inside_layers():
    model = build("mnist_convnet")
    from convscope import capture

    maps = capture(model, np.random.default_rng(0).random((2, 1, 28, 28)), layers=["conv2d"])
    assert maps["conv2d"].min() >= 0.0  # post-ReLU, as Keras' Conv2D(activation="relu")


# ---------------------------------------------------------------- one loader: models.load


def _same_outputs(a, b, shape=(1, 28, 28)) -> bool:
    x = torch.rand(2, *shape)
    with torch.no_grad():
        return torch.equal(a(x), b(x))


def test_load_run_folder_and_safetensors_file(tmp_path):
    from convscope.runfolder import RunFolder

    model = build("mnist_convnet").eval()
    run = RunFolder(tmp_path / "run")
    save_model(model, run.model, class_names=list("abcdefghij"), dataset="mnist5k")
    for spec in (run.path, str(run.path), run, run.model):
        loaded, meta = load(spec)
        assert not loaded.training and _same_outputs(model, loaded)
        assert meta.arch == "mnist_convnet" and meta.dataset == "mnist5k"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match=r"without model\.safetensors"):
        load(tmp_path / "empty")


def test_load_zoo_name_warns_that_weights_are_random():
    with pytest.warns(UserWarning, match="zoo name"):
        model, meta = load("fashion_gap")
    assert not model.training and meta.arch == "fashion_gap" and meta.num_classes == 10
    assert meta.input_shape == (1, 28, 28) and meta.dataset is None


def test_load_onnx_file_reads_its_description(tmp_path):
    pytest.importorskip("onnxruntime")
    from convscope.export import export_onnx
    from convscope.models.onnx_io import OnnxModel

    path = export_onnx(build("mnist_convnet"), tmp_path / "m.onnx", dataset="mnist5k")
    model, meta = load(path)
    assert isinstance(model, OnnxModel) and model.path == path
    assert meta.arch == "mnist_convnet" and meta.dataset == "mnist5k"
    assert meta.input_shape == (1, 28, 28) and meta.num_classes == 10


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # keras' own
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_load_keras_files(tmp_path, suffix):
    keras = pytest.importorskip("keras")
    if suffix == ".h5":
        pytest.importorskip("h5py")
    original = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c")])
    path = tmp_path / f"m{suffix}"
    original.save(path)
    model, meta = load(path)
    assert isinstance(model, keras.Model) and meta is None
    assert [layer.name for layer in model.layers] == ["c"]


def test_load_missing_spec_names_every_kind(tmp_path):
    for spec in (tmp_path / "nothing", "resnet9000", tmp_path / "gone.onnx"):
        with pytest.raises(FormatError) as err:
            load(spec)
        message = str(err.value)
        assert "does not exist" in message and str(spec) in message
        for kind in ("run folder", ".safetensors", ".keras", ".h5", ".onnx", "zoo name"):
            assert kind in message
        for name in list_models():
            assert name in message
    with pytest.raises(FormatError, match="path or a zoo name"):
        load(build("mnist_convnet"))


def test_deprecated_names_warn_and_still_work(tmp_path):
    import convscope as cs

    path = save_model(build("mnist_bn"), tmp_path / "m.safetensors")
    with pytest.warns(DeprecationWarning, match=r"models\.load"):
        from convscope.models import load_model
    assert load_model(path)[1].arch == "mnist_bn"
    with pytest.warns(DeprecationWarning, match=r"models\.load"):
        resolve_model = cs.models.resolve_model
    assert resolve_model(path, "cpu")[1].arch == "mnist_bn"
    with pytest.warns(DeprecationWarning, match=r"capturing\.summary"):
        old_summary = cs.models.summary
    assert old_summary(build("mnist_convnet")) == summary(build("mnist_convnet"))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        cs.models.nothing  # noqa: B018
