"""Second runs and what they must not lose: evaluations per request, the run's own
evaluation in its report, report folders swapped in whole, --single-file in a browser,
NaN models, --json on every verb, warnings and progress on one line each."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import convscope as cs
from convscope.cli import main
from convscope.runfolder import RunFolder

from .conftest import changed, snapshot

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--no-first-run"]  # fmt: skip


@pytest.fixture
def run(tmp_path, cli_run):
    """A private copy of the shared run: these tests write into it."""
    folder = tmp_path / "run"
    shutil.copytree(cli_run, folder)
    return folder


def _own_test_accuracy(folder: Path, cache: Path) -> float:
    model, _ = cs.models.load(folder)
    data = cs.data.load("mnist5k", seed=0, data_dir=cache)
    return cs.train.evaluate(model, data.x_test, data.y_test).accuracy


def _report_accuracy(folder: Path, cache: Path, out: Path) -> float:
    argv = ["report", str(folder), "--data-dir", str(cache), "--similarity-images", "2",
            "--out", str(out), "-q"]  # fmt: skip
    assert main(argv) == 0
    return json.loads((out / "metrics.json").read_text())["evaluation"]["accuracy"]


def test_report_shows_the_runs_own_test_evaluation_whatever_evaluate_was_asked(
    run, cli_cache, tmp_path, capsys
):
    own = RunFolder(run).evaluation
    kept = own.read_bytes()
    d = ["--data-dir", str(cli_cache)]
    assert main(["evaluate", str(run), *d, "--seed", "1"]) == 0
    assert main(["evaluate", str(run), *d, "--split", "train"]) == 0
    assert main(["evaluate", str(run), *d, "--data", "animals10k", "--force"]) == 0
    assert own.read_bytes() == kept  # no request touches the run's own evaluation
    folders = sorted(p.name for p in (run / "evaluations").iterdir())
    assert folders == ["test-animals10k-seed0", "test-mnist5k-seed1", "train-mnist5k-seed0"]
    seed1 = json.loads((run / "evaluations" / "test-mnist5k-seed1" / "evaluation.json").read_text())
    assert (seed1["split"], seed1["dataset"], seed1["seed"]) == ("test", "mnist5k", 1)

    truth = _own_test_accuracy(run, cli_cache)
    assert seed1["accuracy"] != pytest.approx(truth)  # the requests differ: the test means it
    assert _report_accuracy(run, cli_cache, tmp_path / "r1") == pytest.approx(truth)

    # an evaluation.json overwritten by an older convscope with the seed-1 request (it
    # recorded no seed): the report evaluates the held-out split again
    forged = json.loads(json.dumps(seed1))
    del forged["seed"]
    own.write_text(json.dumps(forged))
    shutil.copy(run / "evaluations" / "test-mnist5k-seed1" / "predictions.npz",
                run / "predictions.npz")  # fmt: skip
    assert _report_accuracy(run, cli_cache, tmp_path / "r2") == pytest.approx(truth)
    # one that claims seed 0 but holds another split's labels: evaluated again too
    forged["seed"] = 0
    own.write_text(json.dumps(forged))
    assert _report_accuracy(run, cli_cache, tmp_path / "r3") == pytest.approx(truth)
    capsys.readouterr()


def test_the_report_uses_the_stored_own_evaluation_when_it_is_the_right_one(
    run, cli_cache, tmp_path, monkeypatch
):
    import convscope.report.run as report_run

    seen = []
    original = report_run.build_report
    monkeypatch.setattr(report_run, "build_report",
                        lambda *a, **k: seen.append(k["evaluation"]) or original(*a, **k))  # fmt: skip
    _report_accuracy(run, cli_cache, tmp_path / "r")
    assert seen and seen[0] is not None and seen[0].seed == 0


def test_train_refuses_a_run_then_replaces_it_with_force(tmp_path, cli_cache, capsys):
    out = tmp_path / "t"
    argv = ["train", "--epochs", "1", "--data-dir", str(cli_cache), "--out", str(out),
            "--val-fraction", "0.2", "--test-fraction", "0.3", "-q"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    record = RunFolder(out).record()
    assert record["split"] == {"val_fraction": 0.2, "test_fraction": 0.3}
    # later verbs load the run's own split: 30 % of mnist5k's 5000 images
    assert main(["evaluate", str(out), "--data-dir", str(cli_cache), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_samples"] == 1500
    before = snapshot(out)
    assert main(argv) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert changed(before) == []
    assert main([*argv, "--force", "--test-fraction", "0.25"]) == 0
    assert not (out / "evaluations").exists()  # the replaced run's requests went with it
    assert RunFolder(out).split_options()["test_fraction"] == 0.25


def test_a_report_rebuild_leaves_no_orphan_and_a_crash_keeps_the_old_one(
    run, cli_cache, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "r"
    argv = ["report", str(run), "--data-dir", str(cli_cache), "--similarity-images", "2",
            "--out", str(out), "-q"]  # fmt: skip
    assert main([*argv, "--images", "0,1,2"]) == 0
    (out / "figures" / "orphan.png").write_bytes(b"from an older build")
    # what a kill -9 leaves: a build folder, an old report set aside, a temporary, a lock
    (tmp_path / ".r.build-999999999").mkdir()
    (tmp_path / ".r.build-999999999" / "half.png").write_bytes(b"")
    (out / ".index.html.999999999-ab12.tmp").write_bytes(b"")
    (tmp_path / ".r.lock").write_text("999999999")
    assert main([*argv, "--images", "5"]) == 0
    assert not (out / "figures" / "orphan.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".r")) == []
    assert list(out.rglob("*.tmp")) == []

    before = snapshot(out)
    import convscope.report.sections.kernels as kernels

    def boom(*args, **kwargs):
        raise RuntimeError("a crash halfway through the build")

    monkeypatch.setattr(kernels, "compute", boom)
    assert main([*argv, "--images", "7"]) == 1  # a bug: exit 1 and a line asking for a report
    assert "internal error" in capsys.readouterr().err
    assert changed(before) == [] and sorted(snapshot(out)) == sorted(before)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r")] == []


def test_single_file_report_opens_alone_in_chromium_with_every_image(
    run, cli_cache, tmp_path, capsys
):
    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip("needs /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report.html"
    argv = ["report", str(run), "--data-dir", str(cli_cache), "--similarity-images", "2",
            "--single-file", "--out", str(out), "--json", "-q"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["index"] == str(out)
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(out, alone / "copy.html")
    assert sorted(os.listdir(alone)) == ["copy.html"]
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto((alone / "copy.html").as_uri(), wait_until="load")
            page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            state = page.evaluate(
                """async () => {
                  const imgs = [...document.images];
                  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
                  return {count: imgs.length,
                          broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                                      .map(i => i.getAttribute('src').slice(0, 40)),
                          external: imgs.filter(i => !i.src.startsWith('data:')).length,
                          sheets: document.styleSheets.length,
                          links: document.querySelectorAll('link[rel=stylesheet]').length}
                }"""
            )
        finally:
            browser.close()
    assert state["count"] >= 10 and state["broken"] == [] and state["external"] == 0
    assert state["sheets"] >= 1 and state["links"] == 0  # the stylesheet is inlined
    assert [u for u in requests if not u.startswith(("data:", "file:"))] == []


def test_a_nan_model_gets_a_full_report_with_the_layers_marked(nan_run, cli_cache, tmp_path):
    out = tmp_path / "r"
    argv = ["report", str(nan_run), "--data-dir", str(cli_cache), "--similarity-images", "4",
            "--out", str(out), "-q"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["nonfinite"]) == {"conv2d_1", "max_pooling2d_1", "flatten", "output"}
    assert "conv2d" not in metrics["nonfinite"]
    assert metrics["nonfinite"]["conv2d_1"]["images"] == 1000
    similarity = metrics["similarity"]
    assert "conv2d" in similarity["layers"] and "conv2d_1" not in similarity["layers"]
    assert similarity["not_computable"]["conv2d_1"]["nonfinite"] > 0
    assert metrics["channels"]["conv2d_1"]["nonfinite"] > 0
    html = (out / "index.html").read_text()
    assert "Non-finite activations (NaN/Inf) in conv2d_1" in html
    assert "not computable" in html


VERBS_JSON = [
    (["datasets"], lambda j: {"name", "shape", "offline"} <= set(j[0])),
    (["models"], lambda j: {"name", "parameters", "input_shape"} <= set(j[0])),
    (["summary", "RUN"], lambda j: j["arch"] == "mnist_convnet" and len(j["layers"]) == 7),
    (["layers", "RUN"], lambda j: [r["name"] for r in j][:2] == ["conv2d", "max_pooling2d"]),
    (["evaluate", "RUN", "D", "--split", "val"], lambda j: j["split"] == "val" and j["seed"] == 0),
    (
        ["similarity", "RUN", "D", "--images", "2", "--out", "TMP/s"],
        lambda j: j["layer"] == "conv2d_1" and len(j["matrix"]) == 64 and len(j["files"]) == 2,
    ),
    (
        ["classes", "RUN", "D", "--out", "TMP/c"],
        lambda j: j["layer"] == "flatten" and len(j["classes"]) == 10,
    ),
    (
        ["stats", "RUN", "D", "--similarity-samples", "2"],
        lambda j: set(j["layers"]) == {"conv2d", "conv2d_1"} and j["images"] == 1000,
    ),
    (
        ["atlas", "RUN", "D", "--split", "val", "--out", "TMP/a"],
        lambda j: list(j["layers"]) == ["conv2d_1"],
    ),
    (
        ["report", "RUN", "D", "--similarity-images", "2", "--out", "TMP/r"],
        lambda j: j["index"].endswith("index.html") and 0 <= j["accuracy"] <= 1,
    ),
    (["export", "RUN", "--onnx", "TMP/m.onnx"], lambda j: j["opset"] == 17 and j["bytes"] > 0),
    (["maps", "RUN", "IMAGE", "--out", "TMP/m"], lambda j: len(j["images"][0]["top5"]) == 5),
    (
        ["prune", "RUN", "D", "--layer", "conv2d_1", "--samples", "8", "--out", "TMP/p"],
        lambda j: j["channels"] == [64, 45],
    ),
]


@pytest.mark.parametrize("argv,check", VERBS_JSON, ids=[v[0][0] for v in VERBS_JSON])
def test_json_on_every_verb_that_prints_a_result(argv, check, run, cli_cache, tmp_path, capsys):
    from PIL import Image

    Image.new("L", (28, 28), 200).save(tmp_path / "digit.png")
    subs = {"RUN": str(run), "TMP": str(tmp_path), "IMAGE": str(tmp_path / "digit.png")}
    resolved = []
    for arg in argv:
        if arg == "D":
            resolved += ["--data-dir", str(cli_cache)]
            continue
        for key, value in subs.items():
            arg = arg.replace(key, value) if arg.startswith(key) else arg
        resolved.append(arg)
    assert main([*resolved, "--json", "-q"]) == 0
    out = capsys.readouterr().out
    assert check(json.loads(out))  # stdout holds the JSON document and nothing else


def test_warnings_are_one_line_once_and_quiet_silences_them(run, cli_cache, capsys):
    argv = ["classes", str(run), "--data-dir", str(cli_cache), "--layer", "dense"]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    warned = [line for line in err if line.startswith("convscope: warning:")]
    assert len(warned) == 1 and "negative values" in warned[0]
    assert all(line.startswith("convscope: ") for line in err)  # no file:line, no source
    assert main([*argv, "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_report_progress_is_a_line_per_section_off_a_terminal(run, cli_cache, tmp_path, capsys):
    from convscope.report.sections import SECTIONS

    argv = ["report", str(run), "--data-dir", str(cli_cache), "--similarity-images", "2",
            "--out", str(tmp_path / "r")]  # fmt: skip
    assert main(argv) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("convscope: report:")]
    total = len(SECTIONS) + 2
    assert len(lines) == total and lines[0].startswith(f"convscope: report: [1/{total}]")
    assert "channel similarity" in " ".join(lines)


def test_evaluate_a_model_file_writes_nothing_where_it_runs(tmp_path, cli_cache, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["evaluate", "mnist_convnet", "--data", "mnist5k", "--data-dir", str(cli_cache), "-q"]
    assert main(argv) == 0
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_a_killed_writer_are_cleaned(run, cli_cache, tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    stale = out / ".conv2d_1-multiply-n2.json.999999999-x.tmp"
    stale.write_bytes(b"")
    ours = out / f".keep.json.{os.getpid()}-y.tmp"  # a live writer's: left alone
    ours.write_bytes(b"")
    argv = ["similarity", str(run), "--data-dir", str(cli_cache), "--images", "2", "--out",
            str(out), "-q"]  # fmt: skip
    assert main(argv) == 0
    assert not stale.exists() and ours.exists()
    assert (out / "conv2d_1-multiply-n2.json").is_file()


def test_result_files_carry_their_options(run, cli_cache, capsys):
    d = ["--data-dir", str(cli_cache), "-q"]
    for metric in ("multiply", "cosine"):
        assert main(["similarity", str(run), *d, "--images", "2", "--metric", metric]) == 0
    names = sorted(p.name for p in (run / "similarity").iterdir())
    assert names == ["conv2d_1-cosine-n2.csv", "conv2d_1-cosine-n2.json",
                     "conv2d_1-multiply-n2.csv", "conv2d_1-multiply-n2.json"]  # fmt: skip
    assert main(["classes", str(run), *d, "--layer", "dense"]) == 0
    assert main(["classes", str(run), *d]) == 0
    assert main(["classes", str(run), *d, "--split", "val", "--metric", "cosine"]) == 0
    folders = sorted(p.name for p in (run / "classes").iterdir())
    assert folders == ["dense-any-l1", "flatten-any-cosine-val", "flatten-any-l1"]
    profile = np.loadtxt(run / "classes" / "dense-any-l1" / "profile.csv", delimiter=",",
                         skiprows=1, usecols=range(1, 11))  # fmt: skip
    assert profile.shape[0] == 10
    capsys.readouterr()
