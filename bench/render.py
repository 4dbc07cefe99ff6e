"""Benchmark: a 256-map mosaic against the pixel limit and against seed 002's subplot loop.

Three ways to get the same maps into a PNG in memory, each saved the way a user saves
(``savefig(buf, format="png")``, or PIL's default ``save`` for the limit):

* the limit: colour-map lookup + tiling + PIL PNG of the native image (no figure at all);
* ``convscope.render.mosaic`` + ``fig.savefig(buf, format="png")``;
* seed 002's loop, one subplot per map (``tests/seeds.seed_002_grid``, 16 x 16).

Measured on random-uniform maps (the worst case for PNG) and on smooth post-ReLU maps,
after a warm-up; minimum and median of several runs; ``--load`` repeats it all with a
second process spinning on one core. Targets (issue 14): mosaic <= 2x the limit and
>= 30x faster than the seed's loop. Numbers go to ``bench/results/render.json``.

Run: .venv/bin/python bench/render.py [--size 26] [--maps 256] [--repeat 7] [--load]
"""

from __future__ import annotations

import argparse
import io
import time

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from _harness import condition, conditions, env_line, ms, save, timed  # noqa: E402
from PIL import Image  # noqa: E402

from convscope import render  # noqa: E402
from convscope.render import _fig  # noqa: E402
from convscope.render._tiles import grid, to_unit  # noqa: E402
from tests.seeds import seed_002_grid  # noqa: E402

COLS = 16


def feature_like(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """Smooth, sparse (post-ReLU) maps that look like real conv activations, (1, C, H, W)."""
    x = rng.standard_normal((count, size + 4, size + 4)).astype(np.float32)
    k = np.array([1, 4, 6, 4, 1], np.float32) / 16
    for axis in (1, 2):  # separable 5-tap blur
        x = sum(k[i] * np.take(x, range(i, i + size), axis=axis) for i in range(5))
    return np.maximum(x - 0.1, 0)[None]


def limit(maps: np.ndarray) -> bytes:
    """What no figure can beat: LUT, tiling (1-pixel gaps) and PIL's PNG of the native image."""
    rgb = _fig.colorize(to_unit(maps[0], "map"), "binary")
    img = grid(rgb, cols=COLS, gap=1, fill=_fig.GAP_RGB)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="png")
    return buf.getvalue()


def convscope_mosaic(maps: np.ndarray) -> bytes:
    fig = render.mosaic(maps, cols=COLS, cmap="binary")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # as a user saves: no options
    return buf.getvalue()


def seed_loop(maps: np.ndarray) -> bytes:
    return seed_002_grid([maps.transpose(0, 2, 3, 1)], rows=16, cols=16)  # Keras NHWC


def cpu_seconds(fn, repeats: int) -> float:
    """Median CPU seconds of this process per call (what the work costs, waiting aside)."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.median(times))


def measure(maps: np.ndarray, repeat: int) -> dict[str, dict[str, float]]:
    """Timings of the three, each after a warm-up: wall (min, median, max) and CPU median."""
    calls = {
        "limit": (lambda: limit(maps), repeat),
        "mosaic": (lambda: convscope_mosaic(maps), repeat),
        "seed_loop": (lambda: seed_loop(maps), max(2, repeat // 3)),
    }
    out: dict[str, dict[str, float]] = {}
    for name, (fn, n) in calls.items():
        out[name] = timed(fn, repeats=n)
        out[name]["cpu_median"] = cpu_seconds(fn, n)
    out["ratios"] = {
        "mosaic_over_limit": out["mosaic"]["median"] / out["limit"]["median"],
        "seed_over_mosaic": out["seed_loop"]["median"] / out["mosaic"]["median"],
        "mosaic_over_limit_cpu": out["mosaic"]["cpu_median"] / out["limit"]["cpu_median"],
        "seed_over_mosaic_cpu": out["seed_loop"]["cpu_median"] / out["mosaic"]["cpu_median"],
    }
    return out


def readme_rows(results: dict) -> list[dict[str, str]]:
    """The README table's rows (``bench/readme.py`` writes them): one per condition and input."""
    rows = []
    for key, r in results.items():
        condition, kind = key.split("/", 1)
        q = r["ratios"]
        rows.append({
            "work": f"256-map mosaic 26×26 + `savefig` PNG ({kind} maps)",
            "convscope": ms(r["mosaic"]["median"]),
            "reference": f"pixel limit {ms(r['limit']['median'])}; seed 002 loop {ms(r['seed_loop']['median'])}",
            "ratio": f"{q['mosaic_over_limit']:.2f}× the limit; {q['seed_over_mosaic']:.0f}× faster than the seed",
            "condition": condition,
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=26, help="map height and width")
    parser.add_argument("--maps", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--load", action="store_true", help="also measure under a competing load")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    inputs = {
        "random-uniform": rng.random((1, args.maps, args.size, args.size), dtype=np.float32),
        "smooth": feature_like(rng, args.maps, args.size),
    }
    print(env_line())
    print(f"{args.maps} maps of {args.size}x{args.size}, {COLS} per row, PNG into memory")
    results: dict = {}
    for label, busy in conditions(args.load):
        with condition(busy):
            for kind, maps in inputs.items():
                r = measure(maps, args.repeat)
                results[f"{label}/{kind}"] = r
                q = r["ratios"]
                print(
                    f"{label:>4} {kind:<14} limit {ms(r['limit']['median']):>9}   "
                    f"mosaic {ms(r['mosaic']['median']):>9} ({q['mosaic_over_limit']:.2f}x the "
                    f"limit, target <= 2)   seed loop {ms(r['seed_loop']['median']):>9} "
                    f"({q['seed_over_mosaic']:.0f}x slower, target >= 30)\n"
                    f"{'':>19}CPU time: mosaic {q['mosaic_over_limit_cpu']:.2f}x the limit, "
                    f"seed loop {q['seed_over_mosaic_cpu']:.0f}x the mosaic"
                )
    path = save(
        "render",
        {"maps": args.maps, "size": args.size, "results": results, "readme": readme_rows(results)},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
