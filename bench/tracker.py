"""What the similarity tracker adds to an epoch of mnist_convnet on mnist5k (target <= 3%).

Trains one epoch at a time with and without ``SimilarityTracker`` as ``convscope demo`` runs
it (both conv layers, 32 probe images, the multiply metric, dead channels counted), the two
interleaved after a warm-up so drift hits both alike, and prints the median epoch times, the
overhead, and the tracker's own epoch-end work; idle, and with ``--load`` under a competing
process on one core.

Run: .venv/bin/python bench/tracker.py [--load] [--epochs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _harness import condition, conditions, env_line, save

import convscope as cs


def epoch_time(data, tracker: bool) -> float:
    torch.manual_seed(0)
    model = cs.models.build("mnist_convnet")
    callbacks = [cs.train.SimilarityTracker(layers="conv", probe=32)] if tracker else []
    start = time.perf_counter()
    cs.train.fit(model, data, epochs=1, callbacks=callbacks, progress=False)
    return time.perf_counter() - start


def measure(data, epochs: int, busy: bool) -> dict:
    for flag in (False, True):  # warm-up
        epoch_time(data, flag)
    plain, tracked = [], []
    for _ in range(epochs):
        plain.append(epoch_time(data, False))
        tracked.append(epoch_time(data, True))
    p, t = statistics.median(plain), statistics.median(tracked)
    model = cs.models.build("mnist_convnet")
    tracker = cs.train.SimilarityTracker(layers="conv", probe=32)
    tracker.on_train_begin(model, data)
    tracker.on_epoch_end(0, {}, model)
    runs = []
    for _ in range(10):
        start = time.perf_counter()
        tracker.on_epoch_end(0, {}, model)
        runs.append(time.perf_counter() - start)
    work = statistics.median(runs)
    row = {"busy": busy, "plain_s": p, "tracked_s": t, "overhead": (t - p) / p, "work_s": work}
    print(f"  without tracker: median {p:.3f} s   with tracker: median {t:.3f} s")
    print(
        f"  overhead {100 * row['overhead']:+.1f}% (target <= 3%); the tracker's own work "
        f"{1000 * work:.1f} ms = {100 * work / p:.2f}% of an epoch"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help="also run with a competing load")
    parser.add_argument("--epochs", type=int, default=7)
    args = parser.parse_args()
    data = cs.data.load("mnist5k")
    print(env_line())
    print(f"epoch of mnist_convnet on mnist5k ({len(data.x_train)} train + {len(data.x_val)} val)")
    rows = []
    for name, busy in conditions(args.load):
        with condition(busy):
            print(f"== {name}")
            rows.append(measure(data, args.epochs, busy))
    readme = [
        {
            "work": "similarity tracker (2 conv layers, 32 probes) per epoch, mnist_convnet",
            "convscope": f"{1000 * (r['tracked_s'] - r['plain_s']):+.0f} ms per epoch "
            f"(own work {1000 * r['work_s']:.0f} ms)",
            "reference": f"epoch without tracker {r['plain_s']:.2f} s",
            "ratio": f"{100 * r['overhead']:+.1f}% (target ≤ 3%)",
            "condition": "busy (1 core loaded)" if r["busy"] else "idle",
        }
        for r in rows
    ]
    print("wrote", save("tracker", {"rows": rows, "readme": readme}))


if __name__ == "__main__":
    main()
