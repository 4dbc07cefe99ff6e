"""The explorer in headless Chromium: the clicks the issue asks for, on a live server."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import convscope as cs
from convscope._io import write_json
from convscope.runfolder import RunFolder
from convscope.serve import create_app
from convscope.serve.server import ServerThread

from .conftest import explorer_for, png_bytes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run"]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                       reason="Chromium is not installed (make test installs it; CI never skips)"),
]  # fmt: skip


def wait_until(page, expression: str, timeout: float = 20.0):
    """Poll a page expression (``wait_for_function`` evaluates strings, which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {expression}")


@pytest.fixture
def live(tracked_run, mnist_tiny, tmp_path):
    """A copy of the tracked run, served by a live explorer on a free port."""
    run = tmp_path / "run"
    shutil.copytree(tracked_run, run)
    model, _ = cs.models.load(run)
    ex = explorer_for(model, mnist_tiny, runs=[run], model_run=run)
    with ServerThread(create_app(ex)) as server:
        yield server, ex, run


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors, dialogs = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        yield page, errors, dialogs
        browser.close()


def open_explorer(page, url: str) -> None:
    page.goto(url, wait_until="load")
    wait_until(page, "document.body.dataset.ready === '1'")
    wait_until(page, "document.querySelectorAll('#img-grid .thumb').length > 0")


def test_click_through_image_layer_map_similarity(live, browser_page, tmp_path):
    (server, ex, _run), (page, errors, dialogs) = live, browser_page
    open_explorer(page, server.url)
    # pick an image
    page.click("#img-grid .thumb >> nth=3")
    wait_until(page, "document.getElementById('sel-title').textContent.includes('image 3:')")
    # pick a layer: conv2d_1
    page.click("a[data-view=layers]")
    page.click("#layer-table tr[data-layer='2'] button")
    wait_until(
        page,
        "document.getElementById('mosaic').naturalWidth > 0 && document.getElementById('mosaic-title').textContent.startsWith('conv2d_1')",
    )
    zoom = int(page.get_attribute("#mosaic", "data-zoom"))
    # hover the map of channel 9 (row 1, column 1 of 8): 12 px pitch per 11x11 map
    x, y = (1 * 12 + 5) * zoom, (1 * 12 + 5) * zoom
    page.hover("#mosaic", position={"x": x, "y": y})
    tip = page.inner_text("#tooltip")
    assert "channel 9" in tip
    maps = ex.maps(ex.ref("split", 3))["conv2d_1"]
    assert f"max {maps[9].max():.4f}" in tip
    # click the map: the channel view with its overlay and similar channels
    page.click("#mosaic", position={"x": x, "y": y})
    wait_until(page, "document.querySelectorAll('#ch-most li').length === 5")
    wait_until(page, "document.getElementById('ch-overlay').naturalWidth > 0")
    assert "channel 9 of 64" in page.inner_text("#channel-title")
    assert page.evaluate("document.getElementById('ch-overlay').naturalWidth") == 224
    assert len(page.query_selector_all("#ch-firing .bar-row")) == 10
    # similarity: hover a cell and read its value
    page.click("a[data-view=similarity]")
    wait_until(page, "document.getElementById('sim-matrix').naturalWidth === 64")
    zoom = int(page.get_attribute("#sim-matrix", "data-zoom"))
    page.hover("#sim-matrix", position={"x": 20 * zoom + zoom / 2, "y": 7 * zoom + zoom / 2})
    readout = wait_until(
        page,
        "document.getElementById('sim-readout').textContent.includes('×') && document.getElementById('sim-readout').textContent",
    )
    payload = server_json(server, "/api/similarity/2")
    i, j = payload["order"][7], payload["order"][20]
    assert readout == f"#{i} × #{j}: {payload['matrix'][i][j]:.4f}"
    page.click("#sim-matrix", position={"x": 20 * zoom + zoom / 2, "y": 7 * zoom + zoom / 2})
    wait_until(
        page,
        "!document.getElementById('pair').hidden && document.getElementById('pair-mask').naturalWidth === 11",
    )
    assert f"#{i} and #{j}" in page.inner_text("#pair-title")
    assert errors == [] and dialogs == []


def server_json(server, path: str):
    import json
    import urllib.request

    with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=10) as response:
        return json.loads(response.read())


def test_upload_and_confusion_cell(live, browser_page, tmp_path, mnist_tiny):
    (server, ex, _run), (page, errors, dialogs) = live, browser_page
    open_explorer(page, server.url)
    # open a confusion cell's images
    confusion = np.asarray(server_json(server, "/api/overview")["evaluation"]["confusion"])
    true, pred = np.argwhere(confusion > 0)[np.argmax(confusion[confusion > 0])]
    page.click(f"#confusion button[data-true='{true}'][data-pred='{pred}']")
    wait_until(
        page,
        f"document.getElementById('img-count').textContent.endsWith('of {confusion[true, pred]}')",
    )
    keys = page.eval_on_selector_all("#img-grid .thumb", "nodes => nodes.map(n => n.dataset.key)")
    predictions = ex.analysis().evaluation.predictions
    expected = [
        f"split/{k}" for k in np.flatnonzero((mnist_tiny.y_test == true) & (predictions == pred))
    ]
    assert keys == expected[:60]
    # upload a PNG
    digit = tmp_path / "my digit.png"
    digit.write_bytes(png_bytes(np.round(mnist_tiny.x_test[5, 0] * 255).astype(np.uint8)))
    page.set_input_files("#img-upload", str(digit))
    wait_until(
        page,
        "document.getElementById('sel-title').textContent.startsWith('upload 0 (my digit.png)')",
    )
    wait_until(
        page,
        "!document.getElementById('layers').hidden && document.getElementById('mosaic').naturalWidth > 0",
    )
    assert "upload/0" in page.get_attribute("#mosaic", "src")
    assert len(page.query_selector_all("#sel-top5 .bar-row")) == 5
    assert errors == [] and dialogs == []


def test_a_curve_gains_a_point_when_an_epoch_is_appended(live, browser_page):
    (server, _ex, run), (page, errors, dialogs) = live, browser_page
    open_explorer(page, server.url)
    page.click("a[data-view=training]")
    wait_until(
        page,
        "document.getElementById('chart-loss') && document.getElementById('chart-loss').dataset.points === '2'",
    )
    assert (
        page.evaluate("document.querySelectorAll('#chart-loss circle.pt').length") == 4
    )  # loss, val_loss
    folder = RunFolder(run)
    history = folder.history()
    for values in history.values():
        values.append(values[-1])
    history["epoch"][-1] = 3
    history["loss"][-1] = 0.123
    write_json(folder.history_json, history)  # what HistoryWriter does after an epoch
    started = time.monotonic()
    wait_until(page, "document.getElementById('chart-loss').dataset.points === '3'", timeout=10)
    assert time.monotonic() - started < 5  # "within a couple of seconds of each epoch"
    assert page.evaluate("document.querySelectorAll('#chart-loss circle.pt').length") == 6
    # hover the new point: its value is read out
    box = page.query_selector("#chart-loss").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 14, box["y"] + box["height"] / 2)
    assert "loss: 0.1230" in page.inner_text("#tooltip")
    assert errors == [] and dialogs == []


def test_hostile_names_show_as_text(mnist_tiny, browser_page):
    from .test_security import hostile_explorer

    page, errors, dialogs = browser_page
    with ServerThread(create_app(hostile_explorer(mnist_tiny))) as server:
        open_explorer(page, server.url)
        page.click("a[data-view=layers]")
        wait_until(page, "document.querySelectorAll('#layer-table tbody tr').length === 5")
        assert "<img src=x onerror=alert(1)>" in page.inner_text("#layer-table")
        assert "<script>alert(1)</script>" in page.inner_text("#confusion")
        page.click("#layer-table tr[data-layer='0'] button")
        wait_until(page, "document.getElementById('mosaic').naturalWidth > 0")
        page.click("a[data-view=classes]")
        wait_until(page, "document.querySelectorAll('#cls-nearest tbody tr').length === 3")
        assert "../../etc/passwd" in page.inner_text("#cls-nearest")
        assert (
            page.evaluate("document.querySelectorAll('img[src=\"x\"], script:not([src])').length")
            == 0
        )
    assert dialogs == [] and errors == []
