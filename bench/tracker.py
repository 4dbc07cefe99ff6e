"""What the similarity tracker adds to an epoch of mnist_convnet on mnist5k (target <= 3%).

Trains one epoch at a time with and without ``SimilarityTracker`` (default settings: the
last conv layer, 32 probe images, the multiply metric), interleaved after a warm-up, and
prints the median epoch times and the overhead. Also times the tracker's own epoch-end work.

Run: .venv/bin/python bench/tracker.py
"""

from __future__ import annotations

import statistics
import time

import torch

import convscope as cs


def epoch_time(data, tracker: bool) -> float:
    torch.manual_seed(0)
    model = cs.models.build("mnist_convnet")
    callbacks = [cs.train.SimilarityTracker()] if tracker else []
    start = time.perf_counter()
    cs.train.fit(model, data, epochs=1, callbacks=callbacks, progress=False)
    return time.perf_counter() - start


def main() -> None:
    data = cs.data.load("mnist5k")
    for flag in (False, True):  # warm-up
        epoch_time(data, flag)
    plain, tracked = [], []
    for _ in range(5):
        plain.append(epoch_time(data, False))
        tracked.append(epoch_time(data, True))
    p, t = statistics.median(plain), statistics.median(tracked)
    print(
        f"epoch of mnist_convnet on mnist5k ({len(data.x_train)} train + {len(data.x_val)} val images)"
    )
    print(f"  without tracker: {p:.3f} s (median of 5)")
    print(f"  with tracker:    {t:.3f} s (median of 5)")
    print(f"  overhead:        {100 * (t - p) / p:+.1f}%  (target <= 3%)")

    model = cs.models.build("mnist_convnet")
    tracker = cs.train.SimilarityTracker()
    tracker.on_train_begin(model, data)
    tracker.on_epoch_end(0, {}, model)
    runs = []
    for _ in range(20):
        start = time.perf_counter()
        tracker.on_epoch_end(0, {}, model)
        runs.append(time.perf_counter() - start)
    work = statistics.median(runs)
    print(
        f"  tracker's epoch-end work alone: {1000 * work:.1f} ms = {100 * work / p:.2f}% of a plain epoch"
    )


if __name__ == "__main__":
    main()
