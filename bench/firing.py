"""Benchmark: firing profiles of every layer, streaming vs capture-everything-first.

Profiles every layer of ``mnist_convnet`` (untrained weights: the cost does not depend on
them) over ``mnist5k`` (all 5,000 images; random data of the same shape if
``convscope.data`` cannot load it), two ways:

* stream: :func:`convscope.capturing.capture_iter` batch by batch into one
  :class:`~convscope.metrics.firing.FiringAccumulator` per layer (memory: one batch);
* capture-all: :func:`convscope.capturing.capture` of every layer for every image, then
  one accumulator update per layer (memory: the whole data set's activations).

Each mode runs in fresh processes, alternated over ``--rounds``, (so the RSS peaks do not mask each other), after a
warm-up pass, and reports images per second, the tracemalloc peak (numpy allocations) and
the peak RSS above the process's baseline. Both modes must give identical profiles.

Usage: ``python bench/firing.py [--batch-size 256] [--repeat 3] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
import tracemalloc
import warnings

import numpy as np


def _load_data() -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from convscope.data import load

        ds = load("mnist5k")
        x = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
        y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
        return x, y, "mnist5k"
    except Exception as exc:  # data room not ready: same shape, random values
        rng = np.random.default_rng(0)
        x = rng.random((5000, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, 5000)
        return x, y, f"random 5000x1x28x28 (mnist5k unavailable: {exc})"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run(mode: str, batch_size: int, repeat: int, queue: mp.Queue) -> None:
    import torch

    import convscope as cs
    from convscope.adapters import resolve_layers
    from convscope.capturing import capture, capture_iter, layers
    from convscope.metrics.firing import FiringAccumulator

    torch.set_num_threads(2)
    torch.manual_seed(0)  # both processes must build the same weights
    warnings.simplefilter("ignore")
    x, y, source = _load_data()
    model = cs.models.build("mnist_convnet")
    names = resolve_layers("all", layers(model))

    def stream() -> dict:
        accs = {n: FiringAccumulator(10, layer=n) for n in names}
        for maps, labels in capture_iter(model, (x, y), names, batch_size=batch_size):
            for n in names:
                accs[n].update(maps[n], labels)
        return {n: a.result() for n, a in accs.items()}

    def capture_all() -> dict:
        maps = capture(model, x, names, batch_size=batch_size)
        accs = {n: FiringAccumulator(10, layer=n) for n in names}
        for n in names:
            accs[n].update(maps[n], y)
        return {n: a.result() for n, a in accs.items()}

    fn = stream if mode == "stream" else capture_all
    capture(model, x[:batch_size], names)  # warm-up: allocator, kernels
    base_rss = _rss_mib()
    times = []
    result = None
    for _ in range(repeat):  # timed without tracemalloc: it taxes every small allocation
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result is not None
    fires = {n: p.fires for n, p in result.items()}
    queue.put(
        {
            "mode": mode,
            "source": source,
            "images": len(x),
            "layers": names,
            "best_s": min(times),
            "tracemalloc_mib": peak / 2**20,
            "rss_peak_mib": _rss_mib() - base_rss,
            "fires": fires,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per process")
    parser.add_argument("--rounds", type=int, default=2, help="processes per mode, alternated")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    results: dict = {}
    # alternate the modes over rounds: a busy shared machine then slows both alike
    for _ in range(args.rounds):
        for mode in ("stream", "capture-all"):
            queue = ctx.Queue()
            proc = ctx.Process(target=_run, args=(mode, args.batch_size, args.repeat, queue))
            proc.start()
            r = queue.get()
            proc.join()
            if mode in results:
                r["best_s"] = min(r["best_s"], results[mode]["best_s"])
                r["tracemalloc_mib"] = max(r["tracemalloc_mib"], results[mode]["tracemalloc_mib"])
                r["rss_peak_mib"] = max(r["rss_peak_mib"], results[mode]["rss_peak_mib"])
            results[mode] = r
    first = results["stream"]
    print(f"data: {first['source']}; {first['images']} images, batch {args.batch_size}")
    print(f"layers profiled ({len(first['layers'])}): {', '.join(first['layers'])}")
    print(f"{'mode':<13}{'images/s':>10}{'time s':>9}{'tracemalloc MiB':>17}{'RSS peak +MiB':>15}")
    for mode, r in results.items():
        print(
            f"{mode:<13}{r['images'] / r['best_s']:>10.0f}{r['best_s']:>9.2f}"
            f"{r['tracemalloc_mib']:>17.1f}{r['rss_peak_mib']:>15.1f}"
        )
    same = all(
        np.array_equal(first["fires"][n], results["capture-all"]["fires"][n])
        for n in first["layers"]
    )
    s, c = results["stream"], results["capture-all"]
    print(
        f"stream / capture-all: speed x{c['best_s'] / s['best_s']:.2f}, "
        f"tracemalloc peak x{s['tracemalloc_mib'] / max(c['tracemalloc_mib'], 1e-9):.3f}; "
        f"identical profiles: {same}"
    )


if __name__ == "__main__":
    main()
