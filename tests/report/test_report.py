"""The report: files, stable metrics keys, escaping, and a real headless-Chromium check."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import convscope as cs
from convscope.report import METRICS_KEYS, build_report

SECTIONS = [
    "model",
    "training",
    "evaluation",
    "feature-maps",
    "kernels",
    "similarity",
    "classes",
    "channels",
]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
XSS = "<img src=x onerror=alert(1)>"


def _small(data: cs.data.Dataset, n: int = 400) -> cs.data.Dataset:
    return dataclasses.replace(
        data,
        x_train=data.x_train[:n],
        y_train=data.y_train[:n],
        x_val=data.x_val[:100],
        y_val=data.y_val[:100],
        x_test=data.x_test[:200],
        y_test=data.y_test[:200],
    )


@pytest.fixture(scope="session")
def mnist_small(tmp_path_factory):
    data = cs.data.load("mnist5k", seed=0, data_dir=tmp_path_factory.mktemp("data"))
    return _small(data)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, mnist_small):
    """A one-epoch run folder with the similarity tracker, an evaluation and a report."""
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("run")
    model = cs.models.build("mnist_convnet")
    history = cs.train.fit(
        model,
        mnist_small,
        epochs=2,
        out=run,
        callbacks=[cs.train.SimilarityTracker(layers="conv", probe=8)],
        progress=False,
        dataset_name="mnist5k",
        class_names=list(mnist_small.class_names),
    )
    evaluation = cs.train.evaluate(
        model, mnist_small.x_test, mnist_small.y_test, list(mnist_small.class_names)
    )
    report = build_report(
        model,
        mnist_small,
        run / "report",
        history=history.history,
        evaluation=evaluation,
        images=[0, 3],
    )
    return run, report


def test_report_files_and_metrics_keys(demo_run):
    _run, report = demo_run
    metrics = json.loads(report.metrics_path.read_text())
    assert set(metrics) == set(METRICS_KEYS)
    for rel in metrics["figures"].values():
        path = report.out / rel
        assert path.is_file() and path.stat().st_size > 1000, rel
    assert metrics["probes"]["indices"] == [0, 3]
    assert set(metrics["similarity"]["layers"]) == {"conv2d", "conv2d_1"}
    layer = metrics["similarity"]["layers"]["conv2d_1"]
    assert 0.0 <= layer["mean"] <= 1.0 and len(layer["per_image"]) == 32
    assert len(metrics["training"]["history"]["similarity/conv2d_1"]) == 2
    assert metrics["firing"]["layer"] == "flatten"
    assert sum(metrics["firing"]["counts"]) == 200
    cm = np.array(metrics["evaluation"]["confusion"])
    assert cm.sum() == 200 and np.isclose(np.trace(cm) / 200, metrics["evaluation"]["accuracy"])
    # no temporary files left from the atomic writes
    assert not list(report.out.rglob("*.tmp"))


def test_report_numbers_match_the_metrics_module(demo_run, mnist_small):
    run, report = demo_run
    metrics = json.loads(report.metrics_path.read_text())
    model, _ = cs.models.load(run)
    # the report was built from the in-memory model after fit, which holds the best weights
    maps = cs.capture(model, mnist_small.x_test[:32], layers=["conv2d_1"])["conv2d_1"]
    expected = cs.similarity.mean_similarity(maps, metric="multiply")
    assert metrics["similarity"]["layers"]["conv2d_1"]["mean"] == pytest.approx(expected, abs=1e-9)


def _chromium_available() -> bool:
    return shutil.which("chromium") is not None or Path("/usr/bin/chromium").exists()


def _open(path: Path):
    """Load a page from file:// in headless Chromium; return console errors, image widths, ids, dialogs."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(path.resolve().as_uri(), wait_until="load")
            page.evaluate(
                "Promise.all([...document.images].map(i => i.decode().catch(() => null)))"
            )
            widths = page.evaluate(
                "[...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])"
            )
            ids = page.evaluate("[...document.querySelectorAll('section')].map(s => s.id)")
            text = page.inner_text("body")
        finally:
            browser.close()
    return errors, widths, ids, dialogs, text


needs_browser = pytest.mark.skipif(
    not _chromium_available() and not os.environ.get("CI"),
    reason="Chromium is not installed (make test installs it; CI never skips)",
)


@pytest.mark.browser
@needs_browser
def test_report_opens_in_headless_chromium(demo_run):
    _run, report = demo_run
    errors, widths, ids, dialogs, text = _open(report.index)
    assert errors == []
    assert dialogs == []
    assert len(widths) >= 10
    assert all(width > 0 for _src, width in widths), [src for src, width in widths if not width]
    assert ids == SECTIONS
    assert "Channel similarity" in text and "Class firing profile" in text


class _Named(nn.Sequential):
    """mnist_convnet-like, with a hostile layer name."""

    def __init__(self):
        super().__init__(
            OrderedDict(
                [
                    (XSS, nn.Conv2d(1, 4, 3)),
                    ("relu", nn.ReLU()),
                    ("pool", nn.MaxPool2d(2)),
                    ("conv_<b>bold</b>", nn.Conv2d(4, 6, 3)),
                    ("flat", nn.Flatten()),
                    ("dense", nn.Linear(6 * 11 * 11, 10)),
                ]
            )
        )
        self.input_shape = (1, 28, 28)


@pytest.mark.browser
@needs_browser
def test_hostile_layer_name_renders_as_text(tmp_path, mnist_small):
    torch.manual_seed(0)
    report = build_report(_Named(), _small(mnist_small, 50), tmp_path / "xss", images=[0])
    html = report.index.read_text()
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    errors, widths, _ids, dialogs, text = _open(report.index)
    assert dialogs == [] and errors == []
    assert XSS in text  # shown as text, literally
    assert all(src != "x" for src, _w in widths)
    assert all(width > 0 for _src, width in widths)


def test_report_rejects_out_of_range_probe(tmp_path, mnist_small):
    with pytest.raises(cs.errors.ConvscopeError, match="out of range"):
        build_report(cs.models.build("mnist_convnet"), mnist_small, tmp_path, images=[0, 10_000])


def test_report_cli_on_a_run_folder(demo_run, tmp_path, capsys):
    from convscope.cli import main

    run, _ = demo_run
    data_dir = tmp_path / "cache"
    os.environ["CONVSCOPE_DATA"] = str(data_dir)
    try:
        code = main(
            [
                "report",
                str(run),
                "--out",
                str(tmp_path / "cli"),
                "--images",
                "1,2",
                "--similarity-images",
                "8",
            ]
        )
    finally:
        os.environ.pop("CONVSCOPE_DATA", None)
    assert code == 0
    assert (tmp_path / "cli" / "index.html").is_file()
    metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert metrics["probes"]["indices"] == [1, 2]
    assert "report written" in capsys.readouterr().out


def test_demo_quick(tmp_path, capsys):
    from convscope.cli import main

    os.environ["CONVSCOPE_DATA"] = str(tmp_path / "cache")
    try:
        assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 0
    finally:
        os.environ.pop("CONVSCOPE_DATA", None)
    out = capsys.readouterr().out
    assert "test accuracy" in out and "mean similarity" in out and "index.html" in out
    assert (tmp_path / "demo" / "report" / "index.html").is_file()
    assert (tmp_path / "demo" / "run" / "model.safetensors").is_file()


def _section_ids(report) -> list[str]:
    import re

    return re.findall(r'<section id="([^"]+)"', report.index.read_text())


def test_report_for_keras_and_onnx_twins_agrees_with_torch(demo_run, mnist_small, tmp_path):
    """The same trained weights in torch, Keras and ONNX give the same report numbers."""
    from convscope.export import export_onnx
    from convscope.keras import from_zoo

    run, torch_report = demo_run
    model, _ = cs.models.load(run)
    small = _small(mnist_small, 50)
    reference = build_report(model, small, tmp_path / "torch", images=[0], similarity_images=8)
    twins = {
        "keras": from_zoo(model),
        "onnx": cs.models.load(export_onnx(model, tmp_path / "m.onnx"))[0],
    }
    for backend, twin in twins.items():
        report = build_report(twin, small, tmp_path / backend, images=[0], similarity_images=8)
        assert _section_ids(report) == SECTIONS
        got, want = report.metrics, reference.metrics
        assert got["evaluation"]["confusion"] == want["evaluation"]["confusion"], backend
        assert got["evaluation"]["loss"] == pytest.approx(want["evaluation"]["loss"], abs=1e-4)
        for layer in ("conv2d", "conv2d_1"):
            assert got["similarity"]["layers"][layer]["mean"] == pytest.approx(
                want["similarity"]["layers"][layer]["mean"], abs=1e-3
            ), (backend, layer)
        assert "kernels" in got["figures"], backend  # weights found in every backend
        assert got["firing"]["layer"] == "flatten"


def test_non_finite_history_values_are_written_as_null(tmp_path, mnist_small):
    history = {"loss": [1.0, float("nan")], "val_loss": [0.5, float("inf")], "accuracy": [0.1, 0.2]}
    report = build_report(
        cs.models.build("mnist_convnet"),
        _small(mnist_small, 50),
        tmp_path,
        history=history,
        images=[0],
    )
    saved = json.loads(report.metrics_path.read_text())
    assert saved["training"]["history"]["loss"] == [1.0, None]
    assert saved["training"]["history"]["val_loss"] == [0.5, None]


def test_torch_model_without_input_shape_still_gets_every_section(tmp_path, mnist_small):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 10)
    )
    report = build_report(model, _small(mnist_small, 50), tmp_path, images=[0], similarity_images=4)
    assert set(report.metrics["similarity"]["layers"]) == {"0"}
    assert report.metrics["channels"]["0"]["images"] == 200


def test_bad_report_options_fail_before_any_work(tmp_path, mnist_small):
    model = cs.models.build("mnist_convnet")
    with pytest.raises(cs.errors.UnknownNameError, match="multiply"):
        build_report(model, mnist_small, tmp_path / "a", metric="nope")
    with pytest.raises(cs.errors.UnknownNameError, match="conv2d_1"):
        build_report(model, mnist_small, tmp_path / "b", firing_layer="nope")
    with pytest.raises(cs.errors.ConvscopeError, match=">= 1"):
        build_report(model, mnist_small, tmp_path / "c", similarity_images=-5)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
