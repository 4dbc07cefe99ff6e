"""The callback protocol of fit: each callback alone, their states, and resume through them."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from convscope.errors import ConvscopeError, FormatError
from convscope.models import build
from convscope.runfolder import RunFolder
from convscope.train import (
    BestWeights,
    Callback,
    CallbackList,
    Checkpoint,
    EarlyStopping,
    History,
    HistoryWriter,
    RunRecord,
    fit,
    load_checkpoint,
)
from convscope.train.checkpoint import FORMAT, VERSION
from convscope.train.record import new_record

K = 3
SHAPE = (1, 10, 10)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def toy_data(n_train=160, n_val=60, seed=0):
    """Three separable classes: class k lights up rows 3k..3k+2 of a 10x10 image."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, K, n).astype(np.int64)
        x = (rng.random((n, *SHAPE)) * 0.3).astype(np.float32)
        for k in range(K):
            x[y == k, 0, 3 * k : 3 * k + 3, :] += 0.7
        return x, y

    (x_train, y_train), (x_val, y_val) = make(n_train), make(n_val)
    return SimpleNamespace(
        name="toy", class_names=["a", "b", "c"], x_train=x_train, y_train=y_train,
        x_val=x_val, y_val=y_val,
    )  # fmt: skip


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return build("mnist_convnet", num_classes=K, input_shape=SHAPE)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def without_time(history):
    return {k: v for k, v in history.history.items() if k != "time_s"}


def feed(callback, values, monitor="val_loss"):
    """Epoch ends with a synthetic sequence; the 0-based epoch after which it asked to stop."""
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {monitor: value}, None)
        if callback.stop_training:
            return epoch
    return None


# --------------------------------------------------------------------------- EarlyStopping


@pytest.mark.parametrize(
    ("values", "patience", "stop_epoch", "best_epoch"),
    [
        ([1.0, 0.8, 0.9, 0.95, 0.7], 2, 3, 2),  # two epochs after the best (epoch 2)
        ([1.0, 0.8, 0.9, 0.7, 0.75, 0.8, 0.9], 3, 6, 4),  # the counter resets at 0.7
        ([1.0, 0.9, 0.8, 0.7], 1, None, 4),  # always improving: never stops
        ([1.0, 1.0], 1, 1, 1),  # equal is not better
        ([math.nan, math.nan, 1.0], 2, 1, None),  # NaN never improves
    ],
)
def test_early_stopping_on_a_synthetic_loss(values, patience, stop_epoch, best_epoch):
    stop = EarlyStopping("val_loss", patience=patience)
    assert feed(stop, values) == stop_epoch
    assert stop.best_epoch == best_epoch


def test_early_stopping_mode_max_min_delta_and_state():
    stop = EarlyStopping("val_accuracy", patience=2, mode="max", min_delta=0.05)
    assert feed(stop, [0.5, 0.52, 0.6, 0.62, 0.64], "val_accuracy") == 4
    assert stop.best_epoch == 3 and stop.best == 0.6
    copy = EarlyStopping("val_accuracy", patience=2, mode="max", min_delta=0.05)
    copy.load_state_dict(stop.state_dict())
    assert copy.state_dict() == stop.state_dict() and copy.stop_training


def test_early_stopping_half_way_state_continues_the_same():
    values = [1.0, 0.8, 0.9, 0.95, 0.97, 0.99]
    straight = EarlyStopping("loss", patience=3)
    assert feed(straight, values, "loss") == 4
    first = EarlyStopping("loss", patience=3)
    feed(first, values[:3], "loss")
    second = EarlyStopping("loss", patience=3)
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    for epoch in range(3, len(values)):
        second.on_epoch_end(epoch, {"loss": values[epoch]}, None)
        if second.stop_training:
            break
    assert epoch == 4 and second.state_dict() == straight.state_dict()


def test_early_stopping_bad_options_and_missing_monitor():
    with pytest.raises(ConvscopeError, match="patience must be a whole number >= 1"):
        EarlyStopping(patience=0)
    with pytest.raises(ConvscopeError, match="mode must be 'min' or 'max'"):
        EarlyStopping(mode="up")
    with pytest.raises(ConvscopeError, match="'val_loss' is not in this epoch's logs.*loss"):
        EarlyStopping("val_loss", patience=1).on_epoch_end(0, {"loss": 1.0}, None)


# --------------------------------------------------------------------------- BestWeights


def stamped(model, value):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_best_weights_kept_written_when_improved_and_restored(tmp_path):
    model = nn.Linear(2, 1)
    path = tmp_path / "best.safetensors"
    best = BestWeights("val_loss", path)
    writes = []
    for epoch, loss in enumerate([0.5, 0.3, 0.4, 0.35]):
        stamped(model, float(epoch))
        before = path.stat().st_ino if path.exists() else None  # each write is a new file
        best.on_epoch_end(epoch, {"val_loss": loss}, model)
        writes.append(path.exists() and path.stat().st_ino != before)
        if epoch == 1:
            on_disk = load_file(path)
    assert best.epoch == 2 and best.value == 0.3
    assert writes[0] and writes[1] and not writes[2] and not writes[3]
    assert torch.equal(load_file(path)["weight"], on_disk["weight"])
    assert torch.all(load_file(path)["weight"] == 1.0)  # epoch 2 (1-based) stamped 1.0
    best.on_train_end(model, {"status": "interrupted"})
    assert torch.all(model.weight == 3.0)  # an interrupted run keeps its last weights
    best.on_train_end(model, {"status": "complete"})
    assert torch.all(model.weight == 1.0)


def test_best_weights_state_round_trip_and_zoo_metadata(tmp_path):
    from convscope.models import read_meta

    model = tiny_model()
    best = BestWeights(
        "loss", tmp_path / "m.safetensors", class_names=["a", "b", "c"], dataset="toy",
        extra={"seed": 7},
    )  # fmt: skip
    best.on_epoch_end(4, {"loss": 0.25}, model)
    meta = read_meta(tmp_path / "m.safetensors")
    assert meta.extra == {"epoch": 5, "loss": 0.25, "seed": 7} and meta.dataset == "toy"
    copy = BestWeights("loss")
    copy.load_state_dict(best.state_dict())
    assert copy.epoch == 5 and copy.value == 0.25 and same_weights(copy.state, best.state)


# --------------------------------------------------------------------------- lists, history


def test_callback_list_keys_states_and_refusal():
    class Counter(Callback):
        def __init__(self):
            self.n = 0

        def on_epoch_end(self, epoch, logs, model):
            self.n += 1

        def state_dict(self):
            return {"n": self.n}

        def load_state_dict(self, state):
            self.n = state["n"]

    first, second = Counter(), Counter()
    callbacks = CallbackList([first, History(), second, EarlyStopping("loss", patience=5)])
    assert callbacks.keys == ["Counter", "History", "Counter#2", "EarlyStopping"]
    callbacks.on_epoch_end(0, {"loss": 1.0}, None)
    second.n = 5
    states = callbacks.state_dict()
    assert set(states) == {"Counter", "Counter#2", "EarlyStopping"}  # History has no state
    fresh = CallbackList([Counter(), Counter()])
    fresh.load_state_dict(states)
    assert [c.n for c in fresh] == [1, 5] and not fresh.stop_training
    with pytest.raises(ConvscopeError, match=r"callbacks\[1\] \(str\) is not a training callback"):
        CallbackList([first, "oops"])


def test_history_writer_writes_both_files(tmp_path):
    run = RunFolder(tmp_path / "run")
    history = History()
    callbacks = CallbackList([history, HistoryWriter(run, history)])
    callbacks.on_epoch_end(0, {"loss": 0.5, "val_loss": math.nan}, None)
    callbacks.on_epoch_end(1, {"loss": 0.25, "val_loss": 0.3}, None)
    assert run.history() == {"epoch": [1, 2], "loss": [0.5, 0.25], "val_loss": [None, 0.3]}
    assert run.history_csv.read_text().splitlines()[1] == "1,0.5,"


# --------------------------------------------------------------------------- Checkpoint


def test_checkpoint_callback_writes_atomically(tmp_path):
    path = tmp_path / "state.ckpt"
    tensor = torch.arange(4.0)
    callback = Checkpoint(
        path, lambda e: {"format": FORMAT, "version": VERSION, "epoch": e, "t": tensor}
    )
    callback.on_epoch_end(3, {}, None)
    callback.on_epoch_end(4, {}, None)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["epoch"] == 4 and torch.equal(ckpt["t"], tensor)
    assert [p.name for p in tmp_path.iterdir()] == ["state.ckpt"]
    assert load_checkpoint(path)["epoch"] == 4


def test_checkpoint_round_trip_through_fit(tmp_path):
    model = tiny_model()
    fit(model, toy_data(), epochs=2, batch_size=64, patience=3, out=tmp_path, progress=False)
    run = RunFolder(tmp_path)
    raw = torch.load(run.checkpoint, weights_only=True)
    ckpt = load_checkpoint(run.checkpoint)
    assert raw["version"] == VERSION == 2 and ckpt["epoch"] == 1
    assert set(ckpt["callbacks"]) == {"BestWeights", "EarlyStopping", "RunRecord"}
    best = ckpt["callbacks"]["BestWeights"]
    assert best["epoch"] == run.record()["best_epoch"] and set(best["state"]) == set(ckpt["model"])
    assert ckpt["callbacks"]["RunRecord"]["started"] == run.record()["started"]
    assert ckpt["history"]["epoch"] == [1, 2] and ckpt["stopped"] is False


def test_bad_checkpoints_are_format_errors(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(FormatError, match="not a readable training checkpoint"):
        load_checkpoint(bad)
    torch.save({"format": "something else"}, bad)
    with pytest.raises(FormatError, match="not a convscope training checkpoint"):
        load_checkpoint(bad)
    torch.save({"format": FORMAT, "version": 99}, bad)
    with pytest.raises(FormatError, match="version 99.*versions 1 to 2.*Upgrade convscope"):
        load_checkpoint(bad)


def to_version_1(path):
    """Rewrite a checkpoint in the layout of convscope before the callback protocol."""
    ckpt = torch.load(path, weights_only=True)
    states = ckpt.pop("callbacks")
    best, stop = states["BestWeights"], states["EarlyStopping"]
    ckpt.update(
        version=1, best_epoch=best["epoch"], best_value=best["value"], best_state=best["state"],
        wait=stop["wait"], run=states["RunRecord"],
    )  # fmt: skip
    torch.save(ckpt, path)


def test_version_1_checkpoint_resumes_bit_identical(tmp_path):
    data = toy_data()
    straight = tiny_model()
    h_straight = fit(straight, data, epochs=4, batch_size=32, patience=9, progress=False)
    fit(tiny_model(), data, epochs=2, batch_size=32, patience=9, out=tmp_path, progress=False)
    to_version_1(RunFolder(tmp_path).checkpoint)
    resumed = tiny_model(seed=5)
    h = fit(resumed, data, epochs=4, batch_size=32, patience=9, out=tmp_path, resume=True,
            progress=False)  # fmt: skip
    assert without_time(h) == without_time(h_straight)
    assert same_weights(weights(resumed), weights(straight))
    assert torch.load(RunFolder(tmp_path).checkpoint, weights_only=True)["version"] == 2


# --------------------------------------------------------------------------- through fit


class StatefulCounter(Callback):
    """Counts epochs; its count must survive a resume through the checkpoint."""

    def __init__(self):
        self.seen = []

    def on_epoch_end(self, epoch, logs, model):
        self.seen.append(epoch)
        logs["count"] = float(len(self.seen))

    def state_dict(self):
        return {"seen": list(self.seen)}

    def load_state_dict(self, state):
        self.seen = list(state["seen"])


def test_resume_restores_user_callback_state_and_early_stopping(tmp_path):
    data = toy_data()
    straight = StatefulCounter()
    h_straight = fit(tiny_model(), data, epochs=4, batch_size=32, patience=2, callbacks=[straight],
                     progress=False)  # fmt: skip

    def stop_after_two(epoch, step, steps, logs):
        if epoch == 2 and step == 1:
            raise KeyboardInterrupt

    first = StatefulCounter()
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_model(), data, epochs=4, batch_size=32, patience=2, callbacks=[first],
            out=tmp_path, progress=stop_after_two)  # fmt: skip
    assert RunFolder(tmp_path).status() == "interrupted"
    second = StatefulCounter()
    h = fit(tiny_model(), data, epochs=4, batch_size=32, patience=2, callbacks=[second],
            out=tmp_path, resume=True, progress=False)  # fmt: skip
    assert without_time(h) == without_time(h_straight)
    assert second.seen == straight.seen and h["count"] == h_straight["count"]
    assert RunFolder(tmp_path).status() == RunFolder(tmp_path).record()["status"]


def test_a_callback_can_stop_training(tmp_path):
    class StopAtTwo(Callback):
        def on_epoch_end(self, epoch, logs, model):
            self.stop_training = epoch == 1

    h = fit(tiny_model(), toy_data(), epochs=5, batch_size=64, callbacks=[StopAtTwo()],
            out=tmp_path, progress=False)  # fmt: skip
    assert len(h) == 2 and RunFolder(tmp_path).status() == "stopped early"
    again = fit(tiny_model(), toy_data(), epochs=5, batch_size=64, out=tmp_path, resume=True,
                progress=False)  # fmt: skip
    assert len(again) == 2  # a stopped run stays stopped


def test_failure_marks_the_run_failed_with_the_error(tmp_path):
    class Broken(Callback):
        def on_epoch_end(self, epoch, logs, model):
            raise ValueError("disk on fire")

    with pytest.raises(ValueError, match="disk on fire"):
        fit(tiny_model(), toy_data(), epochs=2, batch_size=64, callbacks=[Broken()], out=tmp_path,
            progress=False)  # fmt: skip
    record = RunFolder(tmp_path).record()
    assert record["status"] == "failed" and record["error"] == "ValueError: disk on fire"
    assert record["ended"]


def test_callbacks_see_train_end_status():
    class Ends(Callback):
        def __init__(self):
            self.ends = []

        def on_train_end(self, model, logs):
            self.ends.append((logs["status"], model.training))

    ends = Ends()
    fit(tiny_model(), toy_data(n_train=64), epochs=1, batch_size=64, callbacks=[ends],
        progress=False)  # fmt: skip
    assert ends.ends == [("complete", False)]


def test_run_record_callback_alone(tmp_path):
    run = RunFolder(tmp_path)
    best = BestWeights("loss")
    record = new_record(model_desc={"arch": "x"}, data_desc={"name": "toy"}, class_names=["a"],
                        options={"seed": 1, "monitor": "loss"})  # fmt: skip
    callback = RunRecord(run, record, best)
    callback.on_train_begin(None, None)
    assert run.status() == "running" and run.record()["ended"] is None
    best.on_epoch_end(0, {"loss": 0.5}, nn.Linear(1, 1))
    callback.on_epoch_end(0, {"loss": 0.5}, None)
    assert run.record()["best_epoch"] == 1 and run.record()["best_loss"] == 0.5
    resumed = RunRecord(run, dict(record), best)
    resumed.load_state_dict(callback.state_dict())
    assert resumed.record["started"] == record["started"] and len(resumed.record["resumed"]) == 1
    resumed.on_train_end(None, {"status": "complete"})
    assert run.status() == "complete" and run.seed() == 1 and run.dataset() == "toy"
