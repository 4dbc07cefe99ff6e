"""ONNX backend: export with layer names, foreign graphs, NHWC layout, files, the CLI verb."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import convscope as cs
from convscope.errors import ConvscopeError, FormatError, ShapeError, UnknownNameError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from convscope.adapters.onnx import OnnxAdapter, OnnxModel  # noqa: E402
from convscope.export import export_onnx  # noqa: E402
from convscope.models.onnx_io import load_onnx_file  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = cs.models.build("mnist_bn").eval()
    path = export_onnx(
        model, tmp_path_factory.mktemp("onnx") / "mnist_bn.onnx", class_names=list("0123456789")
    )
    return model, path


def test_export_keeps_zoo_names_and_maps(exported):
    model, path = exported
    onnx_model = load_onnx_file(path)
    torch_infos = cs.layers(model)
    onnx_infos = cs.layers(onnx_model)
    assert [(i.name, i.kind, i.output_shape) for i in onnx_infos] == [
        (i.name, i.kind, i.output_shape) for i in torch_infos
    ]
    by_name = {i.name: i for i in onnx_infos}
    assert by_name["conv2d"].type == "Conv+Relu"  # the conv and its ReLU are one layer
    assert by_name["batch_normalization"].params == 4 * 32  # scale, bias, mean, variance
    x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    want = cs.capture(model, x)
    got = cs.capture(onnx_model, x)
    assert list(got) == list(want)
    for name in want:
        assert np.abs(got[name] - want[name]).max() <= 1e-5, name
    meta = onnx_model.metadata
    assert meta["convscope.arch"] == "mnist_bn"
    assert json.loads(meta["convscope.input_shape"]) == [1, 28, 28]
    assert json.loads(meta["convscope.class_names"]) == list("0123456789")
    # a dynamic batch axis: one image and seven images both run
    assert onnx_model.predict(x[:1]).shape == (1, 10)
    assert cs.capture(str(path), np.repeat(x, 2, axis=0)[:7], "dense_1")["dense_1"].shape == (7, 10)


def test_every_zoo_architecture_exports_faithfully(tmp_path):
    x = {}
    for arch in ("fashion_gap", "cifar_cnn5"):
        model = cs.models.build(arch).eval()
        path = export_onnx(model, tmp_path / f"{arch}.onnx")
        shape = model.input_shape
        x[arch] = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
        assert [(i.name, i.kind) for i in cs.layers(str(path))] == [
            (i.name, i.kind) for i in cs.layers(model)
        ]
        got = cs.capture(str(path), x[arch], "all")
        want = cs.capture(model, x[arch], "all")
        assert max(float(np.abs(got[n] - want[n]).max()) for n in want) <= 1e-5


def test_foreign_graph_named_after_the_torch_modules(tmp_path):
    """A graph torch exported without convscope's renaming: layers named by module path."""
    model = cs.models.build("mnist_convnet").eval()
    path = tmp_path / "plain.onnx"
    with pytest.warns(Warning):  # the legacy exporter's deprecation note
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(path), dynamo=False)
    infos = cs.layers(str(path))
    # the older exporter scopes node names (/conv2d/Conv, /conv2d/Relu): one layer per module
    assert [(i.name, i.kind, i.type) for i in infos][:3] == [
        ("conv2d", "conv", "Conv+Relu"),
        ("max_pooling2d", "pool", "MaxPool"),
        ("conv2d_1", "conv", "Conv+Relu"),
    ]
    assert infos[0].params == 320 and infos[0].output_shape == (32, 26, 26)
    x = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)
    got = cs.capture(str(path), x, "conv2d")["conv2d"]
    np.testing.assert_allclose(got, cs.capture(model, x, "conv2d")["conv2d"], atol=1e-5)
    # its batch axis is fixed at 1: convscope runs the images one at a time
    assert cs.capture(str(path), np.repeat(x, 3, axis=0), -1)[infos[-1].name].shape == (3, 10)


class NHWCNet(nn.Module):
    """A model that takes NHWC images, like one converted from TensorFlow."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x.permute(0, 3, 1, 2)))
        y = y.permute(0, 2, 3, 1)  # back to NHWC, as TensorFlow graphs do
        return self.head(y.mean(dim=(1, 2)))


def test_nhwc_graph_detected_and_maps_transposed(tmp_path):
    torch.manual_seed(0)
    net = NHWCNet().eval()
    path = export_onnx(net, tmp_path / "nhwc.onnx", input_shape=(10, 10, 1))
    adapter = OnnxAdapter(str(path))
    try:
        assert adapter.layout == "NHWC" and adapter.input_shape == (10, 10, 1)
        infos = {i.name: i for i in adapter.infos()}
        x = np.random.default_rng(0).random((2, 10, 10, 1), dtype=np.float32)
        with torch.no_grad():
            conv = net.conv(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()  # before the ReLU
        names = [n for n, i in infos.items() if i.kind == "conv"]
        assert names == ["conv"] and infos["conv"].output_shape == (4, 8, 8)
        # the Transpose back to NHWC is reported and captured as NCHW too
        back = [n for n, i in infos.items() if i.type == "Transpose"][-1]
        assert infos[back].output_shape == (4, 8, 8)
        maps = adapter.run(adapter.to_input(x), ["conv", back])
        np.testing.assert_allclose(maps["conv"], conv, atol=1e-6)
        np.testing.assert_allclose(maps[back], np.maximum(conv, 0), atol=1e-6)
        # NCHW images (what every CLI verb and the report feed) are transposed here
        nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(adapter.to_input(nchw), adapter.to_input(x))
        np.testing.assert_array_equal(adapter.to_input(nchw[0]), adapter.to_input(x[:1]))
        np.testing.assert_allclose(cs.capture(str(path), nchw, "conv")["conv"], conv, atol=1e-6)
        with pytest.raises(ShapeError) as err:
            adapter.to_input(np.zeros((2, 3, 10, 10), np.float32))
        assert "(N, 10, 10, 1) in NHWC (or the same images in NCHW)" in str(err.value)
        assert "(2, 3, 10, 10)" in str(err.value)
        with pytest.raises(ConvscopeError, match=r"x.astype\('float32'\) / 255"):
            adapter.to_input((nchw * 255).astype(np.uint8))
    finally:
        adapter.close()


def test_model_proto_and_wrapper_inputs(exported):
    model, path = exported
    proto = onnx.load(str(path))
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    from_proto = cs.capture(proto, x, "conv2d_1")["conv2d_1"]
    from_path = cs.capture(OnnxModel(path), x, "conv2d_1")["conv2d_1"]
    np.testing.assert_array_equal(from_proto, from_path)
    with OnnxModel(path) as wrapper:
        assert wrapper.predict(x).shape == (2, 10)
        assert wrapper._session is not None
    assert wrapper._session is None  # released on exit
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with pytest.raises(ConvscopeError, match="onnx path"):
        cs.capture(session, x, "conv2d")


def test_bad_onnx_files(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        load_onnx_file(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(FormatError, match="junk.onnx"):
        load_onnx_file(junk)
    with pytest.raises(FormatError):
        cs.models.load(junk)


def test_export_rejects_non_torch_and_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    with pytest.raises(ConvscopeError, match="torch models"):
        export_onnx(object(), target)

    class Broken(nn.Module):
        input_shape = (1, 4, 4)

        def forward(self, x):
            return torch.linalg.eig(x)[0]  # complex output: not exportable

    with pytest.raises(ConvscopeError):
        export_onnx(Broken(), target)
    assert target.read_bytes() == b"old"


def test_cli_export_verb(tmp_path, capsys):
    from convscope.cli import main

    out = tmp_path / "zoo.onnx"
    assert main(["export", "mnist_convnet", "--onnx", str(out)]) == 0
    printed = capsys.readouterr()
    assert out.exists() and "wrote" in printed.out
    assert "convscope: warning: mnist_convnet is a zoo name" in printed.err  # one line
    assert [i.name for i in cs.layers(str(out))][:3] == ["conv2d", "max_pooling2d", "conv2d_1"]
    assert main(["export", "mnist_convnet", "--onnx", str(tmp_path / "zoo.txt")]) == 2
    assert ".onnx" in capsys.readouterr().err
    assert main(["export", "--onnx", str(out)]) == 2


def test_cli_export_from_saved_run(tmp_path, exported):
    from convscope.cli import main

    model, _ = exported
    saved = cs.models.save_model(
        model, tmp_path / "model.safetensors", class_names=list("abcdefghij")
    )
    out = tmp_path / "run.onnx"
    assert main(["export", "--model", str(saved), "--onnx", str(out)]) == 0
    meta = load_onnx_file(out).metadata
    assert json.loads(meta["convscope.class_names"]) == list("abcdefghij")


def test_integer_input_graph_takes_integer_images():
    """A graph whose input is uint8 (it scales the pixels itself) is fed them as they are."""
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["xf"], name="cast", to=TensorProto.FLOAT),
            helper.make_node("Conv", ["xf", "w"], ["y"], name="conv"),
        ],
        "uint8_input",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [None, 1, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2, 3, 3])],
        [weight],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    x = np.full((2, 1, 5, 5), 10, np.uint8)
    maps = cs.capture(proto, x, "conv")
    assert maps["conv"].dtype == np.float32 and (maps["conv"] == 90).all()


def test_deprecated_load_onnx_model_warns_and_forwards(exported):
    import convscope.adapters.onnx as adapter_module

    _, path = exported
    with pytest.warns(DeprecationWarning, match=r"convscope\.models\.load"):
        old = adapter_module.load_onnx_model
    assert isinstance(old(path), OnnxModel)


def test_onnx_kernels_come_from_conv_initializers(exported):
    model, path = exported
    with OnnxAdapter(path) as adapter:
        for name in ("conv2d", "conv2d_1"):
            want = model.get_submodule(name).weight.detach().numpy()
            got = adapter.kernels(name)
            assert got.dtype == np.float32 and np.array_equal(got, want)
        assert adapter.kernels("max_pooling2d") is None and adapter.kernels("dense") is None
        with pytest.raises(UnknownNameError):
            adapter.kernels("typo")
