"""``convscope prune`` on a small trained run: a smaller model that every verb reads, whose
test accuracy is the one the claims bench tabulates for the same seed and criterion."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import convscope as cs
from convscope.cli import main
from convscope.models import build, load
from convscope.prune import parameter_count
from convscope.runfolder import RunFolder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    data = cs.data.load("mnist5k", seed=0, data_dir=cache)
    data = dataclasses.replace(data, x_train=data.x_train[:400], y_train=data.y_train[:400])
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("run")
    model = cs.models.build("mnist_convnet")
    cs.train.fit(model, data, epochs=1, out=folder, progress=False, dataset_name="mnist5k")
    return folder, cache


@pytest.fixture(scope="module")
def pruned(run, tmp_path_factory):
    folder, cache = run
    out = tmp_path_factory.mktemp("pruned") / "run"
    argv = [
        "prune", str(folder), "--layer", "conv2d_1", "--by", "redundancy", "--fraction", "0.3",
        "--out", str(out), "--data-dir", str(cache),
    ]  # fmt: skip
    assert main(argv) == 0
    return out


def test_pruned_model_is_smaller_as_the_zoo_summary_counts(pruned, capsys):
    record = RunFolder(pruned).record()
    info = record["pruning"]
    assert info["channels"] == [64, 45] and len(info["removed"]) == 19
    model, meta = load(pruned)
    assert meta.widths == {"conv2d": 32, "conv2d_1": 45}
    zoo = build("mnist_convnet", widths=meta.widths)
    assert parameter_count(model) == parameter_count(zoo) == info["parameters"][1] < 34_826
    assert main(["summary", str(pruned)]) == 0
    assert f"Total params: {parameter_count(zoo):,}" in capsys.readouterr().out
    assert record["seed"] == 0 and record["dataset"] == "mnist5k"


def test_accuracy_is_what_the_claims_table_computes(run, pruned):
    from bench.claims import prune_cell

    folder, cache = run
    model, _ = load(folder)
    data = cs.data.load("mnist5k", seed=0, data_dir=cache)
    small, channels, accuracy = prune_cell(
        model, data, "conv2d_1", "redundancy", "multiply", 0.3, seed=0
    )
    record = RunFolder(pruned).record()["pruning"]
    written = json.loads(RunFolder(pruned).evaluation.read_text())
    assert channels == record["removed"]
    assert accuracy == record["test_accuracy"]["pruned"] == record["test_accuracy"]["final"]
    assert written["accuracy"] == pytest.approx(accuracy)


@pytest.mark.parametrize(
    "verb",
    [
        ["layers"],
        ["evaluate"],
        ["similarity", "--layer", "conv2d_1", "--images", "8"],
        ["classes", "--layer", "conv2d_1"],
        ["stats"],
    ],
)
def test_every_verb_reads_the_pruned_run(pruned, run, verb, capsys):
    _, cache = run
    data_dir = [] if verb[0] == "layers" else ["--data-dir", str(cache)]
    assert main([verb[0], str(pruned), *verb[1:], *data_dir]) == 0
    out = capsys.readouterr().out
    if verb[0] in ("layers", "similarity"):
        assert "45" in out


def test_report_reads_the_pruned_run(pruned, run, tmp_path):
    _, cache = run
    assert (
        main(["report", str(pruned), "--out", str(tmp_path / "r"), "--data-dir", str(cache)]) == 0
    )
    assert (tmp_path / "r" / "index.html").exists()


def test_finetune_writes_a_training_run(pruned, run, tmp_path, capsys):
    _, cache = run
    out = tmp_path / "tuned"
    argv = [
        "prune", str(pruned), "--layer", "conv2d", "--by", "fpgm", "--count", "4",
        "--finetune", "1", "--out", str(out), "--data-dir", str(cache), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["channels"] == [32, 28] and summary["finetune_epochs"] == 1
    folder = RunFolder(out)
    assert folder.history() is not None and folder.record()["status"] == "complete"
    assert load(out)[1].widths == {"conv2d": 28, "conv2d_1": 45}
    assert json.loads(folder.evaluation.read_text())["accuracy"] == pytest.approx(
        summary["test_accuracy"]["final"]
    )


def test_errors(pruned, run, capsys):
    folder, cache = run
    assert main(["prune", str(folder), "--layer", "dense", "--out", str(folder)]) == 2
    assert "the run being pruned" in capsys.readouterr().err
    bad = ["prune", str(folder), "--layer", "dense", "--out", str(pruned) + "-x",
           "--data-dir", str(cache)]  # fmt: skip
    assert main(bad) == 2
    assert "conv2d, conv2d_1" in capsys.readouterr().err
