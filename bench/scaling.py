"""How similarity time grows with the number of channels C and the map size H×W.

Fits the exponent ``b`` of ``time ~ size**b`` (least squares in log-log) for
``mean_similarity`` of one image: over C = 64 ... 1024 at 7×7, and over H×W = 7×7 ... 28×28
at C = 256, for every metric. An all-pairs metric is quadratic in C (b ≈ 2) and linear in
H×W (b ≈ 1) once the fixed cost per call is paid; smaller exponents at small sizes show the
fixed cost.

Run: .venv/bin/python bench/scaling.py
"""

from __future__ import annotations

import numpy as np
from _harness import env_line, save, timed

from convscope.metrics import similarity as sim


def relu_maps(c: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(size=(1, c, h, h)), 0).astype(np.float32)


def curve_point(maps: np.ndarray, metric: str) -> float:
    """Best time of ``mean_similarity`` on ``maps`` (made before the clock starts)."""
    return timed(lambda: sim.mean_similarity(maps, metric), 3)["min"]


def exponent(sizes: list[int], times: list[float]) -> float:
    slope, _ = np.polyfit(np.log(sizes), np.log(times), 1)
    return float(slope)


def main() -> None:
    print(env_line())
    results: dict = {"channels": {}, "cells": {}}
    readme = []
    for metric in sim.available_metrics():
        cs_ = [64, 128, 256, 512, 1024]
        t_c = [curve_point(relu_maps(c, 7), metric) for c in cs_]
        hs = [7, 11, 14, 20, 28]
        t_h = [curve_point(relu_maps(256, h), metric) for h in hs]
        b_c, b_h = exponent(cs_, t_c), exponent([h * h for h in hs], t_h)
        b_c_big = exponent(cs_[2:], t_c[2:])
        results["channels"][metric] = {"sizes": cs_, "seconds": t_c, "exponent": b_c}
        results["cells"][metric] = {"sizes": [h * h for h in hs], "seconds": t_h, "exponent": b_h}
        print(
            f"{metric:>8}: time ~ C^{b_c:.2f} (C >= 256: C^{b_c_big:.2f}), ~ (HW)^{b_h:.2f}; "
            f"C=1024 7x7 {t_c[-1] * 1e3:.1f} ms, C=256 28x28 {t_h[-1] * 1e3:.1f} ms"
        )
        readme.append(
            {
                "work": f"{metric} similarity: growth in C (64-1024, 7×7) and in H×W (7²-28², C=256)",
                "convscope": f"C=1024: {t_c[-1] * 1e3:.1f} ms; 28×28: {t_h[-1] * 1e3:.1f} ms",
                "reference": "all pairs: C² × HW",
                "ratio": f"C^{b_c:.2f} (C≥256: C^{b_c_big:.2f}), (HW)^{b_h:.2f}",
                "condition": "idle",
            }
        )
    results["readme"] = readme
    print("wrote", save("scaling", results))


if __name__ == "__main__":
    main()
