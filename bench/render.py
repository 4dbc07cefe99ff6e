"""Benchmark: convscope.render.mosaic against seed 002's one-subplot-per-map loop.

Both draw 256 feature maps (16 x 16 grid) and save a PNG into memory, after a warm-up.
Targets: mosaic under 0.1 s and at least 30x faster than the loop.

Run: .venv/bin/python bench/render.py [--size 13] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from convscope import render  # noqa: E402
from convscope._io import PNG_OPTIONS  # noqa: E402


def feature_like(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """Smooth, sparse (post-ReLU) maps that look like real conv activations."""
    x = rng.standard_normal((count, size + 4, size + 4)).astype(np.float32)
    k = np.array([1, 4, 6, 4, 1], np.float32) / 16
    for axis in (1, 2):  # separable 5-tap blur
        x = sum(k[i] * np.take(x, range(i, i + size), axis=axis) for i in range(5))
    return np.maximum(x - 0.1, 0)[None]


def seed_loop(feature_maps: list[np.ndarray]) -> bytes:
    """Seed 002's loop, verbatim except 16x16 instead of 4x8 and savefig instead of show."""
    nmaps = feature_maps[0].shape[-1]
    fig = plt.figure(figsize=(8, 4), dpi=120)
    for i in range(nmaps):
        fig.add_subplot(16, 16, i + 1)
        plt.imshow(feature_maps[0][0, :, :, i], cmap="binary")
        plt.axis("off")
    buf = io.BytesIO()
    plt.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def convscope_mosaic(maps_nchw: np.ndarray) -> bytes:
    fig = render.mosaic(maps_nchw, cols=16, cmap="binary")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **PNG_OPTIONS)  # the encoding convscope's save() uses
    return buf.getvalue()


def best_of(fn, arg, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=13, help="map height and width (13 or 26)")
    parser.add_argument("--maps", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--noise", action="store_true", help="uniform noise maps (worst case for PNG size)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.noise:
        maps = rng.random((1, args.maps, args.size, args.size), dtype=np.float32)
    else:
        maps = feature_like(rng, args.maps, args.size)
    feature_maps = [maps.transpose(0, 2, 3, 1)]  # Keras NHWC, as in the seed
    convscope_mosaic(maps)  # warm-up (imports, font cache)
    seed_loop(feature_maps)
    t_mosaic = best_of(convscope_mosaic, maps, args.repeat)
    t_seed = best_of(seed_loop, feature_maps, max(1, args.repeat - 1))
    kind = "uniform noise" if args.noise else "smooth post-ReLU"
    print(f"maps: {args.maps} x {args.size}x{args.size} ({kind}), PNG to memory, best of runs")
    print(f"convscope.render.mosaic: {t_mosaic * 1000:8.1f} ms  (target < 100 ms)")
    print(f"seed 002 subplot loop:   {t_seed * 1000:8.1f} ms")
    print(f"speed-up: {t_seed / t_mosaic:.1f}x  (target >= 30x)")


if __name__ == "__main__":
    main()
