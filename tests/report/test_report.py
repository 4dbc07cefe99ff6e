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
from convscope.train.tracker import load_epoch_maps

SECTIONS = [
    "model",
    "training",
    "evaluation",
    "feature-maps",
    "kernels",
    "similarity",
    "classes",
    "channels",
    "atlas",
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
        callbacks=[cs.train.SimilarityTracker(layers="conv", probe=8, out=run)],
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
        epoch_maps=load_epoch_maps(run),
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
    assert metrics["training"]["epoch_maps"]["epochs"] == [1, 2]
    assert set(metrics["training"]["trends"]) == {"conv2d", "conv2d_1"}
    assert layer["compared"] + len(layer["excluded"]) == layer["channels"] == 64
    assert layer["most"]["rank"] == 1 and layer["most"]["pairs"] >= 1
    for key in ("history", "similarity_vs_loss"):
        assert metrics["figures"][key].endswith(".svg")  # line charts as SVG
    assert (report.out / "static" / "report.css").is_file()
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


CHECK_PAGE = """async () => {
  const imgs = [...document.images];
  const out = {scripts: document.scripts.length, images: imgs.length, errors: []};
  out.unsized = imgs.filter(i => !(+i.getAttribute('width') > 0 && +i.getAttribute('height') > 0)
      || i.getAttribute('loading') !== 'lazy').map(i => i.getAttribute('src'));
  const panels = [...document.querySelectorAll('.tab-panel')];
  out.firstShown = panels.length === 0 || (panels[0].offsetParent !== null
      && panels.slice(1).every(p => p.offsetParent === null));
  for (const d of document.querySelectorAll('details')) d.open = true;
  const doc = document.documentElement;
  const widths = [];
  const tooWide = [];
  const labels = [...document.querySelectorAll('.tab-labels label')];
  for (let k = 0; k < Math.max(labels.length, 1); k++) {
    if (labels.length) labels[k].click();
    if (panels.length && panels[k].offsetParent === null) out.errors.push('tab ' + k + ' hidden');
    widths.push([doc.scrollWidth, window.innerWidth]);
    for (const img of imgs) {
      if (img.offsetParent === null) continue;
      const box = img.closest('figure').getBoundingClientRect();
      if (img.getBoundingClientRect().width > box.width + 0.5) tooWide.push(img.getAttribute('src'));
    }
  }
  if (labels.length) labels[0].click();
  out.widths = widths;
  out.tooWide = tooWide;
  for (const img of imgs) img.loading = 'eager';
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = r; i.onerror = r; })));
  out.broken = imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  out.ids = [...document.querySelectorAll('section')].map(s => s.id);
  return out;
}"""


def _open(path: Path, width: int = 1366):
    """Open a page from file:// in headless Chromium at ``width``; what the checks need."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(path.resolve().as_uri(), wait_until="load")
            toc = page.locator("nav.toc a")
            count = toc.count()
            reachable = count > 0 and all(toc.nth(k).is_visible() for k in range(count))
            toc.nth(count - 1).click()
            page.wait_for_timeout(100)
            last = page.locator("section").last.bounding_box()
            reachable = reachable and last is not None and -1 <= last["y"] < 800
            text = page.inner_text("body")
            checks = page.evaluate(CHECK_PAGE)
        finally:
            browser.close()
    return errors, dialogs, text, reachable, checks


needs_browser = pytest.mark.skipif(
    not _chromium_available() and not os.environ.get("CI"),
    reason="Chromium is not installed (make test installs it; CI never skips)",
)


@pytest.mark.browser
@needs_browser
@pytest.mark.parametrize("width", [360, 1400])
def test_report_reads_in_chromium_at_phone_and_desktop_widths(demo_run, width):
    """No horizontal scroll, every image loads, contents reachable, nothing wider than its box."""
    _run, report = demo_run
    errors, dialogs, text, reachable, checks = _open(report.index, width)
    assert errors == [] and dialogs == [] and checks["errors"] == []
    assert checks["ids"] == SECTIONS
    assert checks["scripts"] == 0  # readable with no script at all (CSP-friendly)
    assert checks["firstShown"]  # the first probe image shows without any script
    assert all(doc == view == width for doc, view in checks["widths"]), checks["widths"]
    assert checks["images"] >= 15 and checks["broken"] == [], checks["broken"]
    assert checks["unsized"] == []  # loading="lazy" and width/height on every image
    assert checks["tooWide"] == []
    assert reachable  # every table-of-contents link is visible and leads to its section
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
    errors, dialogs, text, _reachable, checks = _open(report.index)
    assert dialogs == [] and errors == []
    assert XSS in text  # shown as text, literally
    assert checks["broken"] == []


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


class _HalfDead(nn.Sequential):
    """A conv layer of 8 channels whose last 4 never fire (zero weights, negative bias)."""

    def __init__(self):
        conv = nn.Conv2d(1, 8, 3)
        with torch.no_grad():
            conv.weight[4:] = 0.0
            conv.bias[4:] = -1.0
        super().__init__(
            OrderedDict(
                [("conv", conv), ("relu", nn.ReLU()), ("flat", nn.Flatten()),
                 ("dense", nn.Linear(8 * 26 * 26, 10))]
            )
        )  # fmt: skip
        self.input_shape = (1, 28, 28)


def test_half_dead_layer_mean_excludes_them_and_the_count_is_reported(tmp_path, mnist_small):
    torch.manual_seed(0)
    model = _HalfDead().eval()
    small = _small(mnist_small, 50)
    report = build_report(model, small, tmp_path, images=[0], similarity_images=8)
    (name,) = report.metrics["similarity"]["layers"]
    layer = report.metrics["similarity"]["layers"][name]
    assert layer["dead"] == [4, 5, 6, 7] and layer["excluded"] == [4, 5, 6, 7]
    assert layer["compared"] == 4 and layer["channels"] == 8
    maps = cs.capture(model, small.x_test[:8], layers=[name])[name]
    live = cs.similarity.mean_similarity(maps[:, :4], metric="multiply")
    with_dead = cs.similarity.mean_similarity(maps, metric="multiply", include_dead=True)
    assert layer["mean"] == pytest.approx(live, abs=1e-9) and live != pytest.approx(with_dead)
    assert layer["distinct_maps"] <= 4  # dead channels are not "distinct maps"
    saved = json.loads(report.metrics_path.read_text())["similarity"]["layers"][name]
    assert saved["excluded"] == [4, 5, 6, 7]
    html = report.index.read_text()
    assert "4 dead of 8 channels left out" in html
    assert "over 4 compared channels" in html


def test_training_section_caption_follows_the_data(tmp_path, mnist_small):
    """A run whose deepest tracked layer's similarity rises: the page says it rises."""
    history = {
        "loss": [0.9, 0.6, 0.4], "val_loss": [0.8, 0.5, 0.4],
        "similarity/conv2d": [0.3, 0.25, 0.2], "similarity/conv2d_1": [0.1, 0.15, 0.2],
    }  # fmt: skip
    report = build_report(cs.models.build("mnist_convnet"), _small(mnist_small, 50), tmp_path,
                          history=history, images=[0], similarity_images=4)  # fmt: skip
    html = report.index.read_text()
    assert "conv2d_1&#39;s mean similarity rises (0.100 → 0.200, +100 % over 3 epochs)" in html
    assert "conv2d: −33 % over 3 epochs" in html
    assert "decorrelate" not in html
    trends = report.metrics["training"]["trends"]
    assert trends["conv2d_1"]["change"] == pytest.approx(1.0)


def test_untrained_weights_get_a_banner(tmp_path, mnist_small):
    torch.manual_seed(0)
    small = _small(mnist_small, 50)
    report = build_report(cs.models.build("mnist_convnet"), small, tmp_path, images=[0],
                          similarity_images=4)  # fmt: skip
    html = report.index.read_text()
    assert 'class="banner"' in html and "look untrained" in html
    trained = build_report(cs.models.build("mnist_convnet"), small, tmp_path / "b", images=[0],
                           similarity_images=4, untrained=False)  # fmt: skip
    assert 'class="banner"' not in trained.index.read_text()
