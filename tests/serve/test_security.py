"""The explorer refuses what it must: paths in any parameter, big uploads, bombs, hostile
names as ids, requests without the token off the local host, foreign hosts and origins;
and it reads and writes nothing outside the run, the package and a temp folder."""

from __future__ import annotations

import os
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import convscope as cs
from convscope.serve import create_app

from .conftest import LOCAL, explorer_for, png_bytes

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")

HOSTILE = ["..", "../..", "../../etc/passwd", "/etc/passwd", "%2e%2e", "..%2f..%2fetc%2fpasswd",
           "%2Fetc%2Fpasswd", "C:\\Windows\\win.ini", "~", "-1", "1e3", " 1", "0x1", "1.0", "１",
           "<img src=x onerror=alert(1)>", "conv2d_1", "99999999999"]  # fmt: skip
ROUTES = [  # every route with ids in the path; {} is the one parameter made hostile
    "/api/image/{}/0", "/api/image/split/{}", "/api/png/image/split/{}", "/api/png/image/{}/0",
    "/api/maps/split/0/{}", "/api/maps/split/{}/2", "/api/png/maps/split/0/{}",
    "/api/channel/split/0/2/{}", "/api/channel/split/0/{}/1", "/api/png/map/split/0/2/{}",
    "/api/png/overlay/split/0/{}/1", "/api/png/overlay/{}/0/2/1", "/api/similarity/{}",
    "/api/png/similarity/{}", "/api/pair/split/0/2/1/{}", "/api/pair/split/0/2/{}/1",
    "/api/png/pair/split/0/2/1/3/{}", "/api/png/classes/{}", "/api/png/epochs/{}/0",
    "/api/png/colorbar/{}", "/api/figures/{}", "/api/png/figure/{}/0", "/api/png/figure/classes/{}",
    "/static/{}",
]  # fmt: skip
QUERIES = [  # every query parameter made hostile
    "/api/maps/split/0/2?norm={}", "/api/png/maps/split/0/2?norm={}", "/api/channel/split/0/2/1?metric={}",
    "/api/similarity/2?metric={}", "/api/images?cls={}", "/api/images?true={}&pred=1",
    "/api/images?true=1&pred={}", "/api/images?offset={}", "/api/images?limit={}",
    "/api/images?wrong={}", "/api/figures/similarity?arg={}", "/api/figures/training?arg={}",
]  # fmt: skip


@pytest.fixture
def audit(tmp_path):
    """Every file the process opens while ``audit.on`` (a sys audit hook)."""

    class Opened(list):
        on = False

    opened = Opened()

    def hook(event, args):
        if opened.on and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)  # hooks cannot be removed: it records only while `on`
    yield opened
    opened.on = False


def _allowed(path: str, *roots: Path) -> bool:
    """Inside convscope, the Python installation, the temp folder or matplotlib's font
    cache (read when a figure is drawn), or one of ``roots``."""
    import matplotlib

    real = os.path.realpath(path)
    bases = [Path(cs.__file__).parent, Path(sys.prefix), Path(sys.base_prefix),
             Path(tempfile.gettempdir()), Path(matplotlib.get_cachedir()), *roots]  # fmt: skip
    return any(real.startswith(str(b.resolve())) for b in bases) or real.startswith("/dev/")


def raw_get(app, target: str) -> tuple[int, bytes]:
    """Send ``target`` to the ASGI app exactly as a hostile client could (no client-side
    normalisation of ``..`` segments, which HTTP libraries do): what uvicorn hands on."""
    from urllib.parse import unquote

    import anyio

    raw_path, _, query = target.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": unquote(raw_path), "raw_path": raw_path.encode("utf-8"),
             "query_string": query.encode("utf-8"), "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8765")], "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8765)}  # fmt: skip
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    anyio.run(app, scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize("value", HOSTILE)
def test_no_path_or_name_reaches_anything(untrained, audit, value):
    app = create_app(untrained)
    audit.on = True
    for route in ROUTES + QUERIES:
        target = route.format(value)
        status, body = raw_get(app, target)
        assert status in (400, 404, 405), (target, status)
        assert b"root:" not in body  # /etc/passwd's content never comes back
    audit.on = False
    assert all(_allowed(p) for p in audit), [p for p in audit if not _allowed(p)]
    assert not any("passwd" in p or "win.ini" in p for p in audit)


def test_valid_ids_still_work(client):
    for url in ("/api/maps/split/0/2?norm=standardize", "/api/png/pair/split/0/2/1/3/2",
                "/api/images?cls=3&wrong=1&offset=0&limit=5", "/static/report.css"):  # fmt: skip
        assert client.get(url).status_code == 200, url


def test_oversize_upload_is_refused_before_and_while_reading(untrained):
    from starlette.testclient import TestClient

    app = create_app(untrained, max_upload_bytes=1000)
    with TestClient(app, base_url=LOCAL) as small:
        big = png_bytes(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8))
        assert len(big) > 1000
        declared = small.post("/api/upload", content=big, headers={"content-type": "image/png"})
        assert declared.status_code == 413 and "at most 1,000" in declared.json()["error"]
        chunks = (big[i : i + 256] for i in range(0, len(big), 256))  # no content-length
        streamed = small.post("/api/upload", content=chunks, headers={"content-type": "image/png"})
        assert streamed.status_code == 413
    assert untrained.uploads.count == 0


def _bomb(side: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, format="PNG")  # all zeros: compresses to a few KB
    return buf.getvalue()


def test_decompression_bombs_and_huge_images_are_refused(untrained, client):
    huge = _bomb(5000)  # 25 M pixels: above the explorer's 16.7 M cap, below Pillow's guard
    assert len(huge) < 100_000
    r = client.post("/api/upload", content=huge)
    assert r.status_code == 413 and "pixels" in r.json()["error"]
    untrained.upload_limits = (untrained.upload_limits[0], 10**12)  # only Pillow's guard left
    bomb = _bomb(20000)  # 400 M pixels: more than twice Pillow's MAX_IMAGE_PIXELS
    r = client.post("/api/upload", content=bomb)
    assert r.status_code == 413 and "decompression bomb" in r.json()["error"]
    assert client.post("/api/upload", content=b"not an image").status_code == 415
    assert client.post("/api/upload", content=b"").status_code == 400
    assert untrained.uploads.count == 0


def test_upload_is_decoded_in_memory_and_written_nowhere(untrained, client, tracked_run, audit):
    before = {p: p.stat().st_mtime_ns for p in Path(tracked_run).rglob("*")}
    audit.on = True
    r = client.post("/api/upload", content=png_bytes(np.zeros((28, 28), np.uint8)),
                    headers={"x-upload-name": "%3Cb%3Ename%3C%2Fb%3E.png"})  # fmt: skip
    assert r.status_code == 200 and r.json()["name"] == "<b>name</b>.png"
    assert client.get(f"/api/maps/upload/{r.json()['id']}/2").status_code == 200
    audit.on = False
    assert not any(("w" in os.path.basename(p)) and p.endswith(".png") for p in audit)
    assert all(_allowed(p) for p in audit), [p for p in audit if not _allowed(p)]
    assert {p: p.stat().st_mtime_ns for p in Path(tracked_run).rglob("*")} == before


class _Hostile(nn.Sequential):
    def __init__(self):
        super().__init__(OrderedDict([
            ("<img src=x onerror=alert(1)>", nn.Conv2d(1, 4, 3)), ("etc/passwd", nn.ReLU()),
            ("pool", nn.MaxPool2d(2)), ("flat", nn.Flatten()), ("dense", nn.Linear(4 * 13 * 13, 3)),
        ]))  # fmt: skip
        self.input_shape = (1, 28, 28)


def hostile_explorer(mnist_tiny):
    import dataclasses

    torch.manual_seed(0)
    names = ["<script>alert(1)</script>", "../../etc/passwd", "a&b\"'"]
    keep = mnist_tiny.y_test < 3
    data = dataclasses.replace(mnist_tiny, class_names=names, x_test=mnist_tiny.x_test[keep],
                               y_test=mnist_tiny.y_test[keep])  # fmt: skip
    return explorer_for(_Hostile(), data)


def test_hostile_layer_and_class_names_are_data_never_markup_nor_ids(mnist_tiny):
    from starlette.testclient import TestClient

    ex = hostile_explorer(mnist_tiny)
    with TestClient(create_app(ex), base_url=LOCAL) as c:
        page = c.get("/").text
        overview = c.get("/api/overview").json()
        assert overview["layers"][0]["name"] == "<img src=x onerror=alert(1)>"
        assert overview["classes"][0] == "<script>alert(1)</script>"
        assert "<script>alert" not in page and "<img src=x" not in page
        assert c.get("/api/maps/split/0/0").json()["name"].startswith("<img")
        for name in ("<img src=x onerror=alert(1)>", "etc%2Fpasswd", "%2e%2e%2fetc"):
            assert c.get(f"/api/maps/split/0/{name}").status_code in (400, 404)
        assert c.get("/api/images?cls=../../etc/passwd").status_code == 400


def test_a_non_local_host_needs_the_token(untrained):
    from starlette.testclient import TestClient

    app = create_app(untrained, token="s3cret-token")
    with TestClient(app, base_url="http://192.168.1.20:8765") as c:
        for url in ("/", "/api/overview", "/static/app.js", "/api/png/image/split/0"):
            r = c.get(url)
            assert r.status_code == 403 and "token" in r.text, url
        assert c.get("/api/overview", headers={"x-convscope-token": "wrong"}).status_code == 403
        assert c.get("/api/overview?token=s3cret-tokeX").status_code == 403
        first = c.get("/?token=s3cret-token")
        assert first.status_code == 200
        assert (
            "HttpOnly" in first.headers["set-cookie"]
            and "SameSite=Strict" in first.headers["set-cookie"]
        )
        assert c.get("/api/overview").status_code == 200  # the cookie now carries it
        assert (
            c.get("/api/overview", headers={"x-convscope-token": "s3cret-token"}).status_code == 200
        )


def test_local_explorer_refuses_foreign_hosts_and_origins(untrained):
    from starlette.testclient import TestClient

    with TestClient(create_app(untrained), base_url="http://evil.example") as c:
        assert c.get("/api/overview").status_code == 403  # DNS rebinding: Host is not local
    with TestClient(create_app(untrained), base_url=LOCAL) as c:
        upload = png_bytes(np.zeros((28, 28), np.uint8))
        r = c.post("/api/upload", content=upload, headers={"origin": "http://evil.example"})
        assert r.status_code == 403
        assert c.post("/api/upload", content=upload, headers={"origin": LOCAL}).status_code == 200


def test_every_answer_has_a_strict_content_security_policy(client):
    for url in ("/", "/api/overview", "/static/app.js", "/api/png/image/split/0", "/nope"):
        headers = client.get(url).headers
        csp = headers["content-security-policy"]
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp
            and "default-src 'none'" in csp
        )
        assert headers["x-content-type-options"] == "nosniff"
    import re

    page = client.get("/").text
    assert "<script>" not in page and not re.search(r"\son[a-z]+\s*=", page)  # no inline code
    assert 'type="module" src="/static/app.js"' in page and "style=" not in page


def test_static_files_are_a_fixed_list(client):
    assert client.get("/static/app.js").status_code == 200
    for name in ("explorer.html", "__init__.py", "..%2F__init__.py", "report.css.bak", "%2e%2e"):
        assert client.get(f"/static/{name}").status_code == 404, name


def test_cli_binding_beyond_localhost_prints_a_token(tmp_path, mnist_tiny):
    import subprocess
    import time
    import urllib.error
    import urllib.request

    env = dict(os.environ, CONVSCOPE_DATA=str(tmp_path), KERAS_BACKEND="torch")
    proc = subprocess.Popen(
        [sys.executable, "-m", "convscope", "serve", "mnist_convnet", "--data", "mnist5k",
         "--host", "0.0.0.0", "--port", "0", "--images", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        url = None
        deadline = time.time() + 240
        lines = []
        while time.time() < deadline and url is None:
            line = proc.stdout.readline()
            lines.append(line)
            if "Open the explorer at " in line:
                url = line.split("Open the explorer at ", 1)[1].strip()
        assert url is not None, "".join(lines)
        assert "?token=" in url and len(url.split("token=")[1]) >= 40
        bare = url.split("?")[0] + "api/overview"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bare, timeout=10)
        assert refused.value.code == 403
        with urllib.request.urlopen(url, timeout=10) as ok:
            assert ok.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
