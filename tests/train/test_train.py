"""Tests of convscope.train: fit, History, checkpoints, resume, callbacks, evaluate."""

from __future__ import annotations

import csv
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from convscope.errors import ConvscopeError, FormatError, ShapeError
from convscope.models import build, load_model, read_meta
from convscope.train import Callback, Evaluation, History, evaluate, fit

K = 3
SHAPE = (1, 10, 10)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models train faster on one thread (and far faster on a busy machine)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def toy_data(n_train=240, n_val=90, seed=0, val_labels=None, name="toy"):
    """Three separable classes: class k lights up rows 3k..3k+2 of a 10x10 image."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, K, n).astype(np.int64)
        x = (rng.random((n, *SHAPE)) * 0.3).astype(np.float32)
        for k in range(K):
            x[y == k, 0, 3 * k : 3 * k + 3, :] += 0.7
        return x, y

    x_train, y_train = make(n_train)
    x_val, y_val = make(n_val)
    x_test, y_test = make(n_val)
    if val_labels is not None:
        y_val = val_labels(y_val)
    return SimpleNamespace(
        name=name,
        class_names=["a", "b", "c"],
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
    )


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return build("mnist_convnet", num_classes=K, input_shape=SHAPE)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def without_time(history):
    return {k: v for k, v in history.history.items() if k != "time_s"}


# --------------------------------------------------------------------------- fit


def test_loss_decreases_on_separable_toy_set():
    data = toy_data()
    model = tiny_model()
    h = fit(model, data, epochs=4, batch_size=32, progress=False)
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_loss"][-1] < h["val_loss"][0]
    assert h["val_accuracy"][-1] >= 0.9
    assert not model.training  # returned in eval mode


def test_same_seed_same_history_and_weights():
    data = toy_data()
    m1, m2, m3 = tiny_model(), tiny_model(), tiny_model()
    h1 = fit(m1, data, epochs=2, batch_size=32, seed=3, progress=False)
    h2 = fit(m2, data, epochs=2, batch_size=32, seed=3, progress=False)
    fit(m3, data, epochs=2, batch_size=32, seed=4, progress=False)
    assert without_time(h1) == without_time(h2)
    assert same_weights(weights(m1), weights(m2))
    assert not same_weights(weights(m1), weights(m3))


def test_history_keys_and_files(tmp_path):
    data = toy_data()
    h = fit(tiny_model(), data, epochs=2, batch_size=64, out=tmp_path, progress=False)
    assert h.keys() == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time_s"]
    assert h["epoch"] == [1, 2] and h["lr"] == [1e-3, 1e-3] and len(h) == 2
    assert History.from_json(tmp_path / "history.json") == h
    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["val_loss"]) for r in rows] == h["val_loss"]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "complete"
    assert run["model"]["arch"] == "mnist_convnet" and run["dataset"] == "toy"
    assert run["options"]["batch_size"] == 64 and run["seed"] == 0
    assert run["started"] and run["ended"] and run["versions"]["torch"]
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"history.json", "history.csv", "last.ckpt", "model.safetensors", "run.json"}
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_checkpoint_loads_with_weights_only(tmp_path):
    model = tiny_model()
    fit(model, toy_data(), epochs=2, batch_size=64, out=tmp_path, progress=False)
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 1
    assert set(ckpt["model"]) == set(model.state_dict())
    assert "state" in ckpt["optimizer"] and "shuffle" in ckpt["rng"]
    assert ckpt["history"]["epoch"] == [1, 2]


def test_best_model_is_lowest_val_loss_epoch(tmp_path):
    # Validation labels are a permutation of the training labels: the better the model
    # learns the training set, the worse val_loss gets, so the best epoch is not the last.
    data = toy_data(val_labels=lambda y: (y + 1) % K)
    model = tiny_model()
    h = fit(model, data, epochs=4, batch_size=32, lr=3e-3, out=tmp_path, progress=False)
    best = int(np.argmin(h["val_loss"]))
    assert best < len(h) - 1
    meta = read_meta(tmp_path / "model.safetensors")
    assert meta.extra["epoch"] == best + 1
    assert meta.extra["val_loss"] == pytest.approx(h["val_loss"][best])
    assert meta.class_names == ["a", "b", "c"] and meta.dataset == "toy"
    loaded, _ = load_model(tmp_path)
    assert same_weights(weights(loaded), weights(model))  # in-memory model holds the best
    ev = evaluate(loaded, data.x_val, data.y_val)
    assert ev.loss == pytest.approx(h["val_loss"][best], rel=1e-5)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["best_epoch"] == best + 1


def test_early_stopping_after_patience(tmp_path):
    data = toy_data(val_labels=lambda y: (y + 1) % K)
    h = fit(
        tiny_model(), data, epochs=20, batch_size=32, lr=3e-3, patience=2, out=tmp_path,
        progress=False,
    )  # fmt: skip
    best = int(np.argmin(h["val_loss"]))
    assert len(h) == best + 1 + 2 < 20
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "stopped early"


def test_resume_equals_uninterrupted_run(tmp_path):
    data = toy_data()
    straight = tiny_model()
    h_straight = fit(straight, data, epochs=4, batch_size=32, out=tmp_path / "a", progress=False)

    part = tiny_model()
    fit(part, data, epochs=2, batch_size=32, out=tmp_path / "b", progress=False)
    resumed = tiny_model(seed=123)  # different start weights: all come from the checkpoint
    h_resumed = fit(
        resumed, data, epochs=4, batch_size=32, out=tmp_path / "b", resume=True, progress=False
    )
    assert without_time(h_resumed) == without_time(h_straight)
    assert same_weights(weights(resumed), weights(straight))
    last_a = torch.load(tmp_path / "a" / "last.ckpt", weights_only=True)["model"]
    last_b = torch.load(tmp_path / "b" / "last.ckpt", weights_only=True)["model"]
    assert same_weights(last_a, last_b)
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["status"] == "complete" and len(run["resumed"]) == 1


def test_interrupt_mid_epoch_then_resume(tmp_path):
    data = toy_data()
    straight = tiny_model()
    h_straight = fit(straight, data, epochs=3, batch_size=32, progress=False)

    def interrupt(epoch, step, steps, logs):
        if epoch == 1 and step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_model(), data, epochs=3, batch_size=32, out=tmp_path, progress=interrupt)
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "interrupted"
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["epoch"] == 0
    resumed = tiny_model()
    h = fit(resumed, data, epochs=3, batch_size=32, out=tmp_path, resume=True, progress=False)
    assert without_time(h) == without_time(h_straight)
    assert same_weights(weights(resumed), weights(straight))


def test_resume_with_other_model_or_data_is_an_error(tmp_path):
    data = toy_data()
    fit(tiny_model(), data, epochs=1, batch_size=64, out=tmp_path, progress=False)
    other_model = nn.Sequential(nn.Flatten(), nn.Linear(100, K))
    with pytest.raises(ConvscopeError, match="cannot resume.*mnist_convnet.*Sequential"):
        fit(other_model, data, epochs=2, out=tmp_path, resume=True, progress=False)
    with pytest.raises(ConvscopeError, match="cannot resume.*data"):
        fit(tiny_model(), toy_data(seed=1), epochs=2, out=tmp_path, resume=True, progress=False)
    with pytest.raises(ConvscopeError, match="does not exist"):
        fit(tiny_model(), data, epochs=2, out=tmp_path / "none", resume=True, progress=False)


class Recorder(Callback):
    def __init__(self):
        self.begun = 0
        self.calls = []

    def on_train_begin(self, model, data):
        self.begun += 1

    def on_epoch_end(self, epoch, logs, model):
        assert not model.training
        self.calls.append((epoch, dict(logs)))
        logs["custom"] = 10.0 * epoch
        if epoch == 1:
            logs["sometimes"] = 1.5


def test_callback_gets_logs_and_its_keys_reach_history(tmp_path):
    rec = Recorder()
    h = fit(
        tiny_model(), toy_data(), epochs=3, batch_size=64, out=tmp_path, callbacks=[rec],
        progress=False,
    )  # fmt: skip
    assert rec.begun == 1
    assert [e for e, _ in rec.calls] == [0, 1, 2]
    assert set(rec.calls[0][1]) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time_s"}
    assert rec.calls[2][1]["val_loss"] == h["val_loss"][2]
    assert h["custom"] == [0.0, 10.0, 20.0]
    assert math.isnan(h["sometimes"][0]) and h["sometimes"][1] == 1.5
    on_disk = json.loads((tmp_path / "history.json").read_text())
    assert on_disk["custom"] == [0.0, 10.0, 20.0] and on_disk["sometimes"] == [None, 1.5, None]


def test_progress_callable_sees_every_batch():
    seen = []
    fit(
        tiny_model(), toy_data(n_train=100), epochs=1, batch_size=32,
        progress=lambda e, s, n, logs: seen.append((e, s, n, set(logs))),
    )  # fmt: skip
    assert [s for _, s, _, _ in seen] == [0, 1, 2, 3]
    assert seen[0][2] == 4 and seen[0][3] == {"loss", "accuracy"}


def test_shape_mismatch_names_both_shapes():
    data = toy_data()
    data.x_train = np.zeros((8, 1, 28, 28), np.float32)
    data.y_train = np.zeros(8, np.int64)
    data.x_val = data.x_train
    data.y_val = data.y_train
    with pytest.raises(ShapeError, match=r"\(3, 32, 32\).*\(1, 28, 28\)"):
        fit(build("cifar_cnn5"), data, epochs=1, progress=False)


def test_shape_mismatch_of_plain_torch_model_is_wrapped():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 8 * 8, K))
    with pytest.raises(ShapeError, match=r"\(1, 10, 10\)"):
        fit(model, toy_data(), epochs=1, progress=False)


def test_plain_torch_model_trains(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(100, K))
    h = fit(model, toy_data(), epochs=3, batch_size=32, lr=1e-2, out=tmp_path, progress=False)
    assert h["val_accuracy"][-1] > 0.9
    with pytest.raises(FormatError):  # weights only, not a convscope zoo model
        load_model(tmp_path)


def test_bad_labels_and_empty_training_set():
    data = toy_data()
    data.y_train = data.y_train.copy()
    data.y_train[0] = 7
    with pytest.raises(ConvscopeError, match="0 to 7.*3 classes"):
        fit(tiny_model(), data, epochs=1, progress=False)
    data = toy_data()
    data.x_train = data.x_train[:0]
    data.y_train = data.y_train[:0]
    with pytest.raises(ConvscopeError, match="empty"):
        fit(tiny_model(), data, epochs=1, progress=False)
    data = toy_data()
    data.y_train = np.eye(K)[data.y_train] * 0.9  # scores, not one-hot: refused with the fix
    with pytest.raises(ShapeError, match=r"not one-hot.*argmax"):
        fit(tiny_model(), data, epochs=1, progress=False)


def test_one_hot_labels_train_like_indices():
    # the one one-hot policy (convscope.validation.as_labels): Keras' to_categorical works
    indices, one_hot = toy_data(), toy_data()
    one_hot.y_train = np.eye(K)[one_hot.y_train]
    one_hot.y_val = np.eye(K)[one_hot.y_val]
    a = fit(tiny_model(), indices, epochs=1, progress=False, seed=3)
    b = fit(tiny_model(), one_hot, epochs=1, progress=False, seed=3)
    assert a.history["loss"] == b.history["loss"]


def test_bad_options():
    with pytest.raises(ConvscopeError, match="epochs"):
        fit(tiny_model(), toy_data(), epochs=0, progress=False)
    with pytest.raises(ConvscopeError, match="resume"):
        fit(tiny_model(), toy_data(), resume=True, progress=False)


# --------------------------------------------------------------------------- History


def test_history_json_csv_roundtrip(tmp_path):
    h = History()
    h.append({"epoch": 1, "loss": np.float32(0.5), "acc": torch.tensor(0.25)})
    h.append({"epoch": 2, "loss": 0.4, "extra": 3.0})
    assert h["acc"][1] != h["acc"][1] and math.isnan(h["extra"][0])
    assert isinstance(h["loss"][0], float) and h["epoch"] == [1, 2]
    assert History.from_json(h.to_json(tmp_path / "h.json")) == h
    assert History.from_json(tmp_path / "h.json") == h
    text = h.to_csv(tmp_path / "h.csv")
    assert text.splitlines()[0] == "epoch,loss,acc,extra"
    assert text.splitlines()[1] == "1,0.5,0.25,"
    with pytest.raises(FormatError):
        History.from_json("[1, 2]")


# --------------------------------------------------------------------------- evaluate


class FixedLogits(nn.Module):
    """The input *is* the logits: x of shape (N, 1, 1, K) -> (N, K)."""

    def forward(self, x):
        return x.flatten(1)


def test_evaluate_exact_confusion_and_per_class(tmp_path):
    # 3 classes; class "c" has no samples. Predictions: argmax of each row.
    logits = np.array(
        [
            [5.0, 0.0, 0.0],  # true a, pred a
            [5.0, 0.0, 0.0],  # true a, pred a
            [0.0, 5.0, 0.0],  # true a, pred b
            [0.0, 5.0, 0.0],  # true b, pred b
            [0.0, 0.0, 5.0],  # true b, pred c
        ],
        dtype=np.float32,
    )
    y = np.array([0, 0, 0, 1, 1])
    ev = evaluate(FixedLogits(), logits.reshape(5, 1, 1, 3), y, ["a", "b", "c"], batch_size=2)
    np.testing.assert_array_equal(ev.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 0]])
    assert ev.confusion.dtype == np.int64
    np.testing.assert_allclose(
        ev.confusion_normalized, [[2 / 3, 1 / 3, 0], [0, 0.5, 0.5], [0, 0, 0]]
    )
    assert not np.isnan(ev.confusion_normalized).any()
    assert ev.per_class_accuracy == {"a": pytest.approx(2 / 3), "b": 0.5, "c": None}
    assert ev.per_class_count == {"a": 3, "b": 2, "c": 0}
    assert ev.accuracy == pytest.approx(3 / 5)
    np.testing.assert_array_equal(ev.predictions, [0, 0, 1, 1, 2])
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(ev.probabilities, probs, rtol=1e-6)
    assert ev.probabilities.dtype == np.float32
    expected_loss = -np.mean(np.log(probs[np.arange(5), y]))
    assert ev.loss == pytest.approx(expected_loss, rel=1e-6)

    ev.split = "test"
    ev.save(tmp_path)
    record = json.loads((tmp_path / "evaluation.json").read_text())
    assert record["per_class"]["c"] == {"accuracy": None, "count": 0}
    assert record["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 0]]
    back = Evaluation.load(tmp_path)
    np.testing.assert_array_equal(back.confusion, ev.confusion)
    np.testing.assert_array_equal(back.probabilities, ev.probabilities)
    assert back.per_class_accuracy == ev.per_class_accuracy and back.split == "test"
    assert not list(tmp_path.glob(".*"))
    assert "confusion matrix" in ev.to_text()


def test_evaluate_bad_input():
    x = np.zeros((4, 1, 1, 3), np.float32)
    with pytest.raises(ConvscopeError, match="class indices"):
        evaluate(FixedLogits(), x, np.array([0, 1, 2, 3]))
    with pytest.raises(ShapeError, match="3 outputs"):
        evaluate(FixedLogits(), x, np.array([0, 1, 2, 0]), ["a", "b"])
    with pytest.raises(ConvscopeError, match="no samples"):
        evaluate(FixedLogits(), x[:0], np.array([], np.int64))
    with pytest.raises(FormatError):
        Evaluation.load("/nonexistent-folder")


# --------------------------------------------------------------------------- integration


def test_mnist5k_one_epoch_via_cli(tmp_path, cache_dir, capsys):
    pytest.importorskip("convscope.data")
    from convscope.cli import main

    run = tmp_path / "run"
    argv = ["train", "--data", "mnist5k", "--epochs", "1", "--out", str(run)]
    assert main([*argv, "--data-dir", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "test accuracy" in out and str(run) in out
    assert History.from_json(run / "history.json")["val_accuracy"][0] > 0.6
    assert Evaluation.load(run).split == "test"
    assert main(["evaluate", str(run), "--split", "val", "--data-dir", str(cache_dir)]) == 0
    assert "confusion matrix" in capsys.readouterr().out
    assert (run / "evaluations" / "val-mnist5k-seed0" / "evaluation.json").exists()
    assert Evaluation.load(run).split == "test"  # the run's own evaluation is untouched
    bad = ["train", "--model", "cifar_cnn5", "--data", "mnist5k", "--out", str(tmp_path / "x")]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "(3, 32, 32)" in err and "(1, 28, 28)" in err
