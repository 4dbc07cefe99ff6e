"""The similarity tracker: seed 000's LogSimilarities, done right, inside the fit loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import convscope as cs
from convscope.errors import ConvscopeError
from tests.seeds import seed_on_epoch_end

# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    data = cs.data.load("mnist5k", seed=0, data_dir=tmp_path_factory.mktemp("cache"))
    return dataclasses.replace(
        data,
        x_train=data.x_train[:256],
        y_train=data.y_train[:256],
        x_val=data.x_val[:64],
        y_val=data.y_val[:64],
    )


class SeedOracle(cs.train.Callback):
    """Computes seed 000's number at each epoch end with a plain forward pass."""

    def __init__(self, probe):
        self.probe = probe
        self.values = []

    def on_epoch_end(self, epoch, logs, model):
        import torch

        with torch.no_grad():
            t = torch.from_numpy(self.probe)
            maps = model.conv2d_1(model.max_pooling2d(model.conv2d(t))).numpy()
        self.values.append(seed_on_epoch_end(maps.transpose(0, 2, 3, 1)))  # Keras NHWC


def test_probe_of_one_reproduces_seed_000(tiny_data):
    model = cs.models.build("mnist_convnet")
    tracker = cs.train.SimilarityTracker(probe=1, include_dead=True)  # the seed's own number
    oracle = SeedOracle(tiny_data.x_val[:1])
    history = cs.train.fit(model, tiny_data, epochs=3, callbacks=[tracker, oracle], progress=False)
    assert tracker.layer_names_ == ["conv2d_1"]  # seed 000's CNN sub-model output
    values = history.history["similarity"]
    assert values == history.history["similarity/conv2d_1"]
    np.testing.assert_allclose(values, oracle.values, rtol=0, atol=1e-6)
    assert values[0] != values[-1]  # it moves while training
    assert history.history["similarity/conv2d_1/std"] == [0.0, 0.0, 0.0]  # one probe image


def test_tracker_logs_every_epoch_with_std_and_several_layers(tiny_data, tmp_path):
    model = cs.models.build("mnist_convnet")
    tracker = cs.train.SimilarityTracker(layers="conv", probe=16)
    history = cs.train.fit(
        model, tiny_data, epochs=2, callbacks=[tracker], out=tmp_path, progress=False
    )
    h = history.history
    for key in (
        "similarity",
        "similarity/conv2d",
        "similarity/conv2d/std",
        "similarity/conv2d_1",
        "similarity/conv2d_1/std",
    ):
        assert len(h[key]) == 2 and all(np.isfinite(h[key]))
    assert h["similarity"] == h["similarity/conv2d_1"]  # the deepest tracked layer, as seed 000
    assert all(v > 0 for v in h["similarity/conv2d_1/std"])
    saved = cs.train.History.from_json(tmp_path / "history.json").history
    assert saved["similarity/conv2d_1"] == pytest.approx(h["similarity/conv2d_1"])


def test_tracker_logs_even_when_logs_are_empty():
    model = cs.models.build("mnist_convnet")
    tracker = cs.train.SimilarityTracker(
        probe=np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    )
    tracker.on_train_begin(model, None)
    logs: dict = {}
    tracker.on_epoch_end(0, logs, model)  # the seed skipped empty logs and crashed printing
    assert set(logs) == {
        "similarity",
        "similarity/conv2d_1",
        "similarity/conv2d_1/std",
        "similarity/conv2d_1/excluded",
    }


def test_tracker_bad_input():
    model = cs.models.build("mnist_convnet")
    with pytest.raises(ConvscopeError, match="at least 1"):
        cs.train.SimilarityTracker(probe=0).on_train_begin(model, None)
    with pytest.raises(cs.errors.UnknownNameError, match="conv2d_1"):
        cs.train.SimilarityTracker(
            layers=["nope"], probe=np.zeros((1, 1, 28, 28), np.float32)
        ).on_train_begin(model, None)
    with pytest.raises(ConvscopeError, match="on_train_begin"):
        cs.train.SimilarityTracker().on_epoch_end(0, {}, model)


def test_dead_channels_are_left_out_and_counted_unless_asked():
    maps = np.random.default_rng(1).random((2, 6, 5, 5)).astype(np.float32)
    maps[:, 0] = 0.0  # a dead channel: seed 000 averages its pairs too
    seed_like = cs.train.similarity_logs({"c": maps}, include_dead=True)["similarity"]
    oracle = np.mean([seed_on_epoch_end(maps[i : i + 1].transpose(0, 2, 3, 1)) for i in range(2)])
    assert seed_like == pytest.approx(oracle, abs=1e-6)
    logs = cs.train.similarity_logs({"c": maps})
    expected = cs.similarity.mean_similarity(maps[:, 1:], metric="multiply")
    assert (
        logs["similarity"] == pytest.approx(expected, abs=1e-9) and logs["similarity"] != seed_like
    )
    assert logs["similarity/c/excluded"] == 1.0
