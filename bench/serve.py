"""How fast the live explorer answers: startup, first page, and every click path.

Serves mnist_convnet (trained two epochs, so the run has a history and kept maps) on the
mnist5k test split (1,000 images) with uvicorn on a free port, then replays the requests
the page makes for each click over one keep-alive HTTP connection, one after the other
(a browser sends the pictures in parallel, so these are upper bounds). Targets from the
issue: the first page under 1 s; a click on an image, a layer or a map under 200 ms once
that image has been captured. Also checks that memory stays bounded while browsing many
images with a small capture cache.

Run:  .venv/bin/python bench/serve.py [--load] [--repeats 7]
"""

from __future__ import annotations

import argparse
import http.client
import os
import resource
import tempfile
import time
from pathlib import Path

import torch
from _harness import condition, conditions, env_line, save, timed

import convscope as cs
from convscope.serve import Explorer, create_app
from convscope.serve.mapviews import warm_up
from convscope.serve.server import ServerThread

FIRST_PAGE = ["/", "/static/report.css", "/static/explorer.css", "/static/app.js", "/static/api.js",
              "/static/charts.js", "/static/images.js", "/static/layers.js", "/static/channel.js",
              "/static/similarity.js", "/static/training.js", "/static/classes.js", "/api/overview",
              "/api/image/split/0", "/api/png/image/split/0", "/api/images?limit=60"]  # fmt: skip
TARGETS = {"first page": 1.0, "image": 0.2, "layer": 0.2, "map": 0.2}


def click_paths(i: int) -> dict[str, list[str]]:
    """The requests each click makes (what app.js fetches), for image ``i`` of the split."""
    img = f"split/{i}"
    return {
        "image": [f"/api/image/{img}", f"/api/png/image/{img}"],
        "layer": [f"/api/maps/{img}/2?norm=map", f"/api/png/maps/{img}/2?norm=map"],
        "map": [f"/api/channel/{img}/2/9?metric=multiply", f"/api/png/map/{img}/2/9?norm=map",
                f"/api/png/overlay/{img}/2/9"]
        + [f"/api/png/map/{img}/2/{k}?norm=map" for k in range(10)],  # the similar-channel thumbnails
        "similarity view": ["/api/similarity/2?metric=multiply", "/api/png/similarity/2?metric=multiply"],
        "similarity cell": [f"/api/pair/{img}/2/3/40?metric=multiply", f"/api/png/image/{img}"]
        + [f"/api/png/pair/{img}/2/3/40/{p}" for p in range(4)],
        "training view": ["/api/training", "/api/png/epochs/0/0?norm=map", "/api/png/epochs/0/1?norm=map"],
        "classes view": ["/api/classes", "/api/png/classes/rates", "/api/png/classes/distance"],
        "poll": ["/api/state"],
    }  # fmt: skip


class Browser:
    """One keep-alive connection, as a browser tab has."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> int:
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
        return len(body)

    def click(self, paths: list[str]) -> float:
        start = time.perf_counter()
        for path in paths:
            self.get(path)
        return time.perf_counter() - start


def make_run(folder: Path) -> Path:
    data = cs.data.load("mnist5k", seed=0)
    torch.manual_seed(0)
    model = cs.models.build("mnist_convnet")
    run = folder / "run"
    tracker = cs.train.SimilarityTracker(probe=32, out=run)
    cs.train.fit(model, data, epochs=2, out=run, progress=False, callbacks=[tracker])
    return run


def measure(run: Path, repeats: int, busy: bool) -> list[dict]:
    rows = []
    started = time.perf_counter()
    model, _meta = cs.models.load(run)
    data = cs.data.load("mnist5k", seed=0)
    ex = Explorer(model, data, runs=[run], model_run=run)
    ready = warm_up(ex)
    startup = time.perf_counter() - started
    rows.append({"path": "startup (load, one pass over 1,000 images, warm-up)", "seconds": startup,
                 "warm_up_s": ready, "busy": busy})  # fmt: skip
    print(f"  startup: {startup:.2f} s (of which the pass and warm-up {ready:.2f} s)")
    with ServerThread(create_app(ex)) as server:
        browser = Browser(server.port)
        first = timed(lambda: browser.click(FIRST_PAGE), repeats=repeats)
        rows.append({"path": "first page", **first, "requests": len(FIRST_PAGE), "busy": busy})
        print(
            f"  first page ({len(FIRST_PAGE)} requests): min {first['min'] * 1e3:.1f} ms, median {first['median'] * 1e3:.1f} ms"
        )
        cold = []
        for i in range(100, 100 + repeats):  # a new image each time: its first capture
            cold.append(browser.click(click_paths(i)["image"]))
        rows.append({"path": "image, first capture", "min": min(cold), "median": sorted(cold)[len(cold) // 2],
                     "max": max(cold), "busy": busy})  # fmt: skip
        print(f"  image click, first capture: median {sorted(cold)[len(cold) // 2] * 1e3:.1f} ms")
        for name, paths in click_paths(100).items():
            t = timed(lambda p=paths: browser.click(p), repeats=repeats)
            rows.append({"path": name, **t, "requests": len(paths), "busy": busy})
            print(
                f"  {name} ({len(paths)} requests): min {t['min'] * 1e3:.1f} ms, median {t['median'] * 1e3:.1f} ms"
            )
    return rows


def rss_mib() -> float:
    """The process's resident memory now (Linux), else its peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_bound(run: Path) -> dict:
    """Browse 800 images with a 16 MiB capture cache: resident memory must stop growing."""
    model, _meta = cs.models.load(run)
    ex = Explorer(model, cs.data.load("mnist5k", seed=0), cache_bytes=16 * 2**20)
    warm_up(ex)
    with ServerThread(create_app(ex)) as server:
        browser = Browser(server.port)
        rss = []
        for i in range(800):
            for path in click_paths(i)["image"] + click_paths(i)["layer"]:
                browser.get(path)
            if i in (199, 399, 799):
                rss.append(rss_mib())
    print(f"  800 images browsed, cache bound 16 MiB: cache holds {ex.captures.bytes / 2**20:.1f} MiB "
          f"({len(ex.captures)} images); RSS after 200/400/800 images: "
          + ", ".join(f"{r:.0f}" for r in rss) + " MiB")  # fmt: skip
    return {
        "cache_mib": ex.captures.bytes / 2**20,
        "cached_images": len(ex.captures),
        "rss_mib": rss,
    }


def readme_rows(rows: list[dict], memory: dict) -> list[dict]:
    out = []
    for row in rows:
        target = TARGETS.get(row["path"].split(",")[0].removesuffix(" view"))
        if row["path"] not in ("first page", "image", "layer", "map", "image, first capture"):
            continue
        median = row["median"]
        out.append({
            "work": f"explorer: {row['path']} (mnist_convnet, every request of the click)",
            "convscope": f"{median * 1e3:.1f} ms median",
            "reference": f"target < {target * 1e3:.0f} ms" if target else "–",
            "ratio": f"{target / median:.0f}× under target" if target else "–",
            "condition": "busy (1 core loaded)" if row["busy"] else "idle",
        })  # fmt: skip
    out.append({
        "work": "explorer: memory while browsing 800 images (capture cache bound 16 MiB)",
        "convscope": f"cache {memory['cache_mib']:.1f} MiB; RSS "
        + " → ".join(f"{r:.0f}" for r in memory["rss_mib"]) + " MiB",
        "reference": "after 200 / 400 / 800 images", "ratio": "bounded", "condition": "idle",
    })  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help="also run with a competing load")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    print(env_line())
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp))
        rows: list[dict] = []
        for name, busy in conditions(args.load):
            with condition(busy):
                print(f"\n== {name} ({env_line()})")
                rows += measure(run, args.repeats, busy)
        print("\n== memory")
        memory = memory_bound(run)
    results = {"rows": rows, "memory": memory}
    results["readme"] = readme_rows(rows, memory)
    print("\nwrote", save("serve", results))


if __name__ == "__main__":
    main()
