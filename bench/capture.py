"""Capture speed and memory: capturing every layer of mnist_convnet against a plain forward.

Prints images per second of (a) a plain forward pass, (b) convscope.capture of every
layer, (c) a hand-written hook-per-layer copy (what notebooks do), all in one run after a
warm-up, and the peak memory of ``capture_iter`` over the data set repeated 10 times (it
must not grow with the data).

Run: .venv/bin/python bench/capture.py
"""

from __future__ import annotations

import resource
import time

import numpy as np
import torch

import convscope as cs

BATCH = 256
REPEATS = 5


def best_rate(fn, x: torch.Tensor, repeats: int = REPEATS) -> float:
    """Images per second of the fastest of ``repeats`` passes over ``x``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(x), BATCH):
            fn(x[i : i + BATCH])
        best = min(best, time.perf_counter() - start)
    return len(x) / best


def main() -> None:
    torch.manual_seed(0)
    data = cs.data.load("mnist5k")
    x = torch.from_numpy(np.ascontiguousarray(data.x_train))
    model = cs.models.build("mnist_convnet").eval()
    names = [i.name for i in cs.layers(model)]

    def plain(batch):
        with torch.no_grad():
            model(batch)

    def convscope_all(batch):
        cs.capture(model, batch, layers="all", batch_size=BATCH)

    def hand_hooks(batch):  # the usual notebook recipe: one hook per layer, copy to numpy
        out = {}
        handles = [
            model.get_submodule(n).register_forward_hook(
                lambda m, i, o, n=n: out.__setitem__(n, o.detach().cpu().numpy().copy())
            )
            for n in names
        ]
        try:
            with torch.no_grad():
                model(batch)
        finally:
            for h in handles:
                h.remove()

    for fn in (plain, convscope_all, hand_hooks):  # warm the allocator and the cores
        best_rate(fn, x, repeats=2)
    rates = {}
    for _ in range(2):  # interleave, keep the best of each
        for fn in (plain, convscope_all, hand_hooks):
            rates[fn.__name__] = max(rates.get(fn.__name__, 0.0), best_rate(fn, x))
    print(
        f"images: {len(x)} (mnist5k train split), batch {BATCH}, torch threads {torch.get_num_threads()}"
    )
    for name, rate in rates.items():
        print(f"{name:>14}: {rate:10.0f} images/s   {rate / rates['plain']:.2f}x plain forward")

    # memory of streaming over the data set repeated 10 times: bounded by one batch.
    # torch's allocator is invisible to tracemalloc, so the process's peak RSS is measured.
    def stream(times: int) -> tuple[int, int]:
        seen = 0
        batch_bytes = 0
        for _ in range(times):
            for maps, _labels in cs.capture_iter(
                model, (data.x_train, data.y_train), "all", batch_size=BATCH
            ):
                seen += len(next(iter(maps.values())))
                batch_bytes = max(batch_bytes, sum(m.nbytes for m in maps.values()))
        return seen, batch_bytes

    stream(1)  # warm: the allocator's pools reach their steady size
    before = peak_rss_mib()
    n1, batch_bytes = stream(1)
    after1 = peak_rss_mib()
    n10, _ = stream(10)
    after10 = peak_rss_mib()
    everything = (
        sum(int(np.prod(i.output_shape)) * 4 for i in cs.layers(model)) * len(data.x_train) * 10
    )
    print(
        f"capture_iter peak RSS: {before:.0f} MiB before, {after1:.0f} MiB after {n1} images, "
        f"{after10:.0f} MiB after {n10} images (growth {after10 - after1:+.0f} MiB); one batch of "
        f"maps is {batch_bytes / 2**20:.1f} MiB, all maps of {n10} images would be {everything / 2**30:.1f} GiB"
    )


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
