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
    for _ in range(7):  # interleaved, so drift in the machine's speed hits both alike
        plain.append(epoch_time(data, False))
        tracked.append(epoch_time(data, True))
    p, t = statistics.median(plain), statistics.median(tracked)
    pb, tb = min(plain), min(tracked)
    print(f"epoch of mnist_convnet on mnist5k ({len(data.x_train)} train + {len(data.x_val)} val)")
    print(f"  without tracker: median {p:.3f} s, best {pb:.3f} s (7 epochs)")
    print(f"  with tracker:    median {t:.3f} s, best {tb:.3f} s (7 epochs)")
    print(
        f"  overhead:        median {100 * (t - p) / p:+.1f}%, best {100 * (tb - pb) / pb:+.1f}%"
        "  (target <= 3%)"
    )

    model = cs.models.build("mnist_convnet")
    tracker = cs.train.SimilarityTracker()
    tracker.on_train_begin(model, data)
    tracker.on_epoch_end(0, {}, model)
    runs = []
    for _ in range(20):
        start = time.perf_counter()
        tracker.on_epoch_end(0, {}, model)
        runs.append(time.perf_counter() - start)
    work, fastest = statistics.median(runs), min(runs)
    print(
        f"  tracker's epoch-end work alone (32 probe images of conv2d_1): median {1000 * work:.1f} ms"
        f" = {100 * work / p:.2f}% of a median epoch; best {1000 * fastest:.1f} ms"
        f" = {100 * fastest / pb:.2f}% of the best epoch"
    )


if __name__ == "__main__":
    main()
