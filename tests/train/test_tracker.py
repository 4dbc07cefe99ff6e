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


def test_kept_maps_stay_bounded_and_keep_first_and_last():
    from convscope.train.tracker import _KeptMaps

    kept = _KeptMaps()
    for epoch in range(12):
        kept.add(epoch, np.full((2, 3, 3), epoch, np.float32), epoch / 10, budget=8)
        assert len(kept.epochs) <= 8 and kept.epochs[0] == 0 and kept.epochs[-1] == epoch
    assert [e + 1 for e in kept.epochs] == [1, 3, 5, 7, 9, 11, 12]
    assert [float(m[0, 0, 0]) for m in kept.maps] == kept.epochs  # each map from its epoch
    long = _KeptMaps()
    for epoch in range(1000):
        long.add(epoch, np.zeros((1, 1, 1)), 0.0, budget=6)
    assert len(long.epochs) <= 6 and long.epochs[0] == 0 and long.epochs[-1] == 999
    restored = _KeptMaps.from_state(kept.state())
    assert restored.epochs == kept.epochs and restored.stride == kept.stride
    np.testing.assert_array_equal(np.stack(restored.maps), np.stack(kept.maps))


def test_tracker_writes_the_probe_maps_across_epochs(tiny_data, tmp_path):
    from convscope.runfolder import RunFolder
    from convscope.train.tracker import load_epoch_maps

    class Recorder(cs.train.Callback):
        """The probe's conv2d_1 maps at every epoch end, captured independently."""

        maps: list = []

        def on_epoch_end(self, epoch, logs, model):
            probe = tiny_data.x_val[:1]
            self.maps.append(cs.capture(model, probe, layers=["conv2d_1"])["conv2d_1"][0])

    model = cs.models.build("mnist_convnet")
    tracker = cs.train.SimilarityTracker(layers="conv", probe=4, out=tmp_path, keep_maps=2)
    recorder = Recorder()
    history = cs.train.fit(
        model, tiny_data, epochs=3, callbacks=[tracker, recorder], out=tmp_path, progress=False
    ).history
    assert RunFolder(tmp_path).epoch_maps.is_file()
    kept = load_epoch_maps(tmp_path)  # a run folder or the file; no pickle
    assert kept.layer == "conv2d_1" and kept.metric == "multiply"
    assert kept.epochs.tolist() == [1, 3] and kept.maps.shape == (2, 64, 11, 11)
    assert kept.values.tolist() == [history["similarity/conv2d_1"][k] for k in (0, 2)]
    np.testing.assert_array_equal(kept.image, tracker.probe_images_[0])
    np.testing.assert_allclose(kept.maps, np.stack([recorder.maps[0], recorder.maps[2]]), atol=1e-6)
    assert load_epoch_maps(tmp_path / "nothing-here") is None
    (tmp_path / "bad.npz").write_bytes(b"not an archive")
    with pytest.raises(cs.errors.FormatError, match="bad.npz"):
        load_epoch_maps(tmp_path / "bad.npz")
    with pytest.raises(ConvscopeError, match="keep_maps"):
        cs.train.SimilarityTracker(keep_maps=1).on_train_begin(model, tiny_data)


def test_kept_maps_invariants_for_any_budget_and_run_length():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from convscope.train.tracker import _KeptMaps

    @settings(max_examples=60, deadline=None)
    @given(budget=st.integers(2, 12), epochs=st.integers(1, 300))
    def check(budget, epochs):
        kept = _KeptMaps()
        for epoch in range(epochs):
            kept.add(epoch, np.zeros((1, 1, 1), np.float32), float(epoch), budget)
            assert len(kept.epochs) <= budget
            assert kept.epochs[0] == 0 and kept.epochs[-1] == epoch
            assert kept.epochs == sorted(set(kept.epochs))
            assert kept.values == [float(e) for e in kept.epochs]

    check()


def test_kept_maps_an_epoch_again_replaces_it_and_a_rewind_forgets_later_ones():
    """The same epoch ended twice (a bench calling on_epoch_end(0) in a loop, a resume that
    redoes an epoch) used to grow the stride forever; now the newer maps replace the older."""
    from convscope.train.tracker import _KeptMaps

    kept = _KeptMaps()
    for value in range(50):
        kept.add(0, np.full((1, 1, 1), value, np.float32), float(value), budget=4)
    assert kept.epochs == [0] and kept.values == [49.0]
    for epoch in range(1, 6):
        kept.add(epoch, np.zeros((1, 1, 1), np.float32), float(epoch), budget=4)
    kept.add(3, np.ones((1, 1, 1), np.float32), -3.0, budget=4)  # rewound to epoch 3
    assert kept.epochs[-1] == 3 and kept.values[-1] == -3.0
    assert kept.epochs == sorted(set(kept.epochs)) and len(kept.epochs) <= 4
    late = _KeptMaps()  # a run resumed at epoch 7 with nothing kept before
    for epoch in range(7, 40):
        late.add(epoch, np.zeros((1, 1, 1), np.float32), 0.0, budget=3)
        assert len(late.epochs) <= 3 and late.epochs[-1] == epoch
