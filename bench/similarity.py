"""Benchmark: seed 000's pair loop against convscope's channel similarity, idle and busy.

Run:  .venv/bin/python bench/similarity.py [--load] [--quick]

Inputs are random ReLU-like maps (``max(normal, 0)``, about half the cells zero), float32,
7x7 cells (a late conv layer). Everything is timed after a warm-up, minimum of several runs.

Part 1, one image, C = 16 ... 2048 channels: the seed's ``LogSimilarities`` loop (timed in
full up to C = 512, estimated from its first 20,000 pairs above, and labelled so), convscope's
``mean_similarity`` with its default thread policy, and the anchor of what the hardware
allows: a float32 matrix product of the same (C x HW) . (HW x C) shape on the same threads.
The values are checked equal to the seed's (``include_dead=True``, the seed's own number).
Part 2: the tracker-sized and probe-sized workloads, 1 thread against the policy.
Part 3: every registered metric against the seed loop at C = 16, 64, 512.
``--load`` repeats parts 1-3 with a second process spinning on one core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _harness import condition, conditions, env_line, save, timed

from convscope._threads import threads_for, torch_threads
from convscope.metrics import similarity as sim
from tests.seeds import seed_mean_similarity

# -------------------------------------------------------------------------------------------


def relu_maps(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(size=(n, c, h, w)), 0).astype(np.float32)


def seed_time(maps: np.ndarray, full_up_to: int) -> tuple[float, float | None, str]:
    """Seconds of the seed loop on one image, its value (None when estimated) and a note."""
    c = maps.shape[1]
    nhwc = maps.transpose(0, 2, 3, 1)
    pairs = c * (c - 1) // 2
    if c <= full_up_to:
        t0 = time.perf_counter()
        value, _ = seed_mean_similarity(nhwc)
        return time.perf_counter() - t0, value, "timed in full"
    subset = 20_000
    t0 = time.perf_counter()
    seed_mean_similarity(nhwc, max_pairs=subset)
    return (time.perf_counter() - t0) * pairs / subset, None, f"estimated from {subset} pairs"


def matmul_time(maps: np.ndarray) -> float:
    """A float32 (C x HW) . (HW x C) product on the threads the similarity call would use."""
    c, f = maps.shape[1], maps.shape[2] * maps.shape[3]
    x = torch.from_numpy(maps[0].reshape(c, f))
    with torch_threads(threads_for(c * c * f)):
        return timed(lambda: torch.matmul(x, x.T), repeats=20)["min"]


def part1(busy: bool, channels: list[int], full_up_to: int) -> list[dict]:
    rows = []
    print(
        f"{'C':>5} {'seed loop':>11} {'convscope':>11} {'matmul f32':>11} "
        f"{'x seed':>8} {'/ matmul':>9}  note"
    )
    for c in channels:
        maps = relu_maps(1, c, 7, 7, seed=c)
        ours = timed(lambda m=maps: sim.mean_similarity(m), repeats=5)["min"]
        seed_s, seed_value, note = seed_time(maps, full_up_to)
        anchor = matmul_time(maps)
        if seed_value is not None:
            got = sim.mean_similarity(maps, include_dead=True)
            assert abs(got - seed_value) < 1e-9, (got, seed_value)
            note += ", values equal"
        rows.append(
            {
                "channels": c,
                "seed_s": seed_s,
                "convscope_s": ours,
                "matmul_s": anchor,
                "speedup": seed_s / ours,
                "matmul_ratio": ours / anchor,
                "seed_estimated": seed_value is None,
                "busy": busy,
            }
        )
        print(
            f"{c:>5} {seed_s:>10.3f}s {ours * 1e3:>9.2f}ms {anchor * 1e3:>9.3f}ms "
            f"{seed_s / ours:>7.0f}x {ours / anchor:>8.1f}x  {note}"
        )
    return rows


def part2(busy: bool) -> list[dict]:
    rows = []
    for label, maps in (
        ("tracker: 32 images x 64 ch x 11x11", relu_maps(32, 64, 11, 11, seed=3)),
        ("probes: 100 images x 512 ch x 7x7", relu_maps(100, 512, 7, 7, seed=1)),
    ):
        one = torch.get_num_threads()
        with torch_threads(1):
            single = timed(lambda m=maps: sim.mean_similarity(m, per_image=True), repeats=3)
        policy = timed(lambda m=maps: sim.mean_similarity(m, per_image=True), repeats=3)
        rows.append(
            {"work": label, "one_thread_s": single["min"], "policy_s": policy["min"], "busy": busy}
        )
        print(
            f"  {label}: 1 thread {single['min'] * 1e3:.1f} ms, policy (<= {one} threads) "
            f"{policy['min'] * 1e3:.1f} ms"
        )
    return rows


def part3(busy: bool, seeds: dict[int, float]) -> list[dict]:
    rows = []
    for c, seed_s in seeds.items():
        maps = relu_maps(1, c, 7, 7, seed=c)
        for metric in sim.available_metrics():
            t = timed(lambda m=maps, k=metric: sim.mean_similarity(m, k), repeats=5)["min"]
            rows.append({"channels": c, "metric": metric, "seconds": t, "speedup": seed_s / t})
            print(f"  C={c:>4} {metric:>8}: {t * 1e3:8.2f} ms, {seed_s / t:6.0f}x the seed loop")
            assert t < seed_s, f"{metric} at C={c} is slower than the seed loop"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help="also run with a competing load")
    parser.add_argument("--quick", action="store_true", help="C up to 512, seed estimated")
    args = parser.parse_args()
    channels = [16, 64, 256, 512] if args.quick else [16, 64, 256, 512, 1024, 2048]
    full_up_to = 256 if args.quick else 512
    print(env_line())
    results: dict[str, list] = {"part1": [], "part2": [], "part3": []}
    for name, busy in conditions(args.load):
        with condition(busy):
            print(f"\n== {name}: part 1, one image, 7x7 maps ({env_line()})")
            rows = part1(busy, channels, full_up_to if not busy else 64)
            results["part1"] += rows
            print(f"\n== {name}: part 2, per-image means")
            results["part2"] += part2(busy)
            print(f"\n== {name}: part 3, every metric against the seed loop")
            seeds = {r["channels"]: r["seed_s"] for r in rows if r["channels"] in (16, 64, 512)}
            results["part3"] += [dict(r, busy=busy) for r in part3(busy, seeds)]
    results["readme"] = readme_rows(results)
    print("\nwrote", save("similarity", results))


def readme_rows(results: dict[str, list]) -> list[dict]:
    """The README's lines: the seed's C=512 case, the matmul anchor, the busy machine."""
    out = []
    for row in results["part1"]:
        if row["channels"] not in (64, 512, 2048):
            continue
        condition = "busy (1 core loaded)" if row["busy"] else "idle"
        seed = "estimated" if row["seed_estimated"] else "timed"
        out.append(
            {
                "work": f"multiply similarity, 1 image, C={row['channels']}, 7×7",
                "convscope": f"{row['convscope_s'] * 1e3:.2f} ms",
                "reference": f"seed loop {row['seed_s']:.2f} s ({seed}); f32 matmul "
                f"{row['matmul_s'] * 1e3:.3f} ms",
                "ratio": f"{row['speedup']:.0f}× the seed; {row['matmul_ratio']:.1f}× a matmul",
                "condition": condition,
            }
        )
    for row in results["part2"]:
        out.append(
            {
                "work": f"per-image means, {row['work'].split(': ', 1)[1]}",
                "convscope": f"{row['policy_s'] * 1e3:.1f} ms (thread policy)",
                "reference": f"{row['one_thread_s'] * 1e3:.1f} ms on 1 thread",
                "ratio": f"{row['one_thread_s'] / row['policy_s']:.2f}× one thread",
                "condition": "busy (1 core loaded)" if row["busy"] else "idle",
            }
        )
    return out


if __name__ == "__main__":
    main()
