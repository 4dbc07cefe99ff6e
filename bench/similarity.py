"""Benchmark: seed 000's pair loop against convscope.metrics.similarity.

Run:  .venv/bin/python bench/similarity.py [--threads 1] [--seed-c512 full|estimate]

Threads: part 1 runs with ``--threads`` (default 1: on a 2-core machine shared with other
jobs, torch's second OpenMP thread stalls at every barrier when the core is busy, which
costs milliseconds per op on small problems). Part 2 runs with 1 and with 2 threads.

Inputs are random ReLU-like maps (``max(normal, 0)``, about half the cells zero), float32.
Part 1: one image, C = 64, 256, 512 channels of 11x11 maps (the size of seed 000's
conv2d_1); both sides compute the mean pair similarity, results are checked equal.
Part 2a: the similarity tracker's per-epoch work, ``mean_similarity(per_image=True)`` of 32
images of a 64-channel 11x11 layer, against its 20 ms budget.
Part 2: ``mean_similarity`` over 100 probe images of a 512-channel 7x7 layer (also with a
small ``max_bytes``, which prepares the images in chunks).
Part 3: ``pairwise`` + ``extreme_pairs`` + ``redundancy`` of one layer, computing the matrix
three times against once (passed on as ``similarity=``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from convscope.metrics import similarity as sim


# ---- seed 000, verbatim ------------------------------------------------------------------
def similarity_multiply(img1, img2):
    # norm both to 0->1, multiply to produce 0->1
    min1 = np.min(img1)
    min2 = np.min(img2)
    base1 = np.max(img1) - min1
    base2 = np.max(img2) - min2
    if base1 == 0:
        base1 = 0.0001
    if base2 == 0:
        base2 = 0.0001
    norm1 = (img1 - min1) / base1
    norm2 = (img2 - min2) / base2
    mult = norm1 * norm2
    correlated = mult > np.mean(mult)

    percentage = sum(correlated.flatten()) / len(img1.flatten())
    return percentage


def seed_mean_similarity(maps, simfunc=similarity_multiply, max_pairs=None):
    """LogSimilarities.on_epoch_end's loop (maps NHWC like Keras), optionally on a prefix."""
    preds = []
    for i in range(maps.shape[3]):
        preds.append(maps[0, :, :, i])
    sims = []
    for i in range(maps.shape[3]):
        for j in range(i + 1, maps.shape[3]):
            measure = simfunc(preds[i], preds[j])
            sims.append(measure)
            if max_pairs is not None and len(sims) >= max_pairs:
                return sum(sims) / len(sims), len(sims)
    avg = sum(sims) / len(sims)
    return avg, len(sims)


# -------------------------------------------------------------------------------------------


def relu_maps(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(size=(n, c, h, w)), 0).astype(np.float32)


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--seed-c512",
        choices=["full", "estimate"],
        default="full",
        help="time the seed loop at C=512 once in full, or extrapolate from 20000 pairs",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), numpy {np.__version__}")
    print("maps: random ReLU-like max(normal, 0) float32; seed loop = LogSimilarities loop")
    print()
    print("Part 1: mean pair similarity of one image, 11x11 maps")
    print(
        f"{'C':>5} {'pairs':>7} {'seed loop [s]':>14} {'convscope [ms]':>15} {'speed-up':>9}  note"
    )
    for c in (64, 256, 512):
        maps = relu_maps(1, c, 11, 11, seed=c)
        nhwc = maps.transpose(0, 2, 3, 1)  # the seed works on Keras NHWC output
        pairs = c * (c - 1) // 2
        ours = best_of(lambda m=maps: sim.mean_similarity(m), repeats=5)
        got = sim.mean_similarity(maps)
        if c == 512 and args.seed_c512 == "estimate":
            subset = 20000
            t0 = time.perf_counter()
            seed_mean_similarity(nhwc, max_pairs=subset)
            seed_t = (time.perf_counter() - t0) * pairs / subset
            note = f"seed time ESTIMATED from the first {subset} pairs"
        else:
            repeats = 1 if c == 512 else 2
            t0 = time.perf_counter()
            for _ in range(repeats):
                ref, _ = seed_mean_similarity(nhwc)
            seed_t = (time.perf_counter() - t0) / repeats
            assert abs(ref - got) < 1e-9, (ref, got)
            note = f"seed timed {repeats}x, results equal (|diff| = {abs(ref - got):.1e})"
        print(
            f"{c:>5} {pairs:>7} {seed_t:>14.3f} {ours * 1e3:>15.2f} {seed_t / ours:>8.0f}x  {note}"
        )

    print()
    print("Part 2a: tracker's per-epoch work, mean_similarity(per_image=True) of 32 images,")
    print("         64 channels, 11x11 maps (some all-zero channels); budget 20 ms")
    tracker = relu_maps(32, 64, 11, 11, seed=3)
    tracker[:, ::9] = 0.0  # dead channels
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t = best_of(lambda: sim.mean_similarity(tracker, per_image=True), repeats=10)
        verdict = "within" if t <= 0.020 else "OVER"
        print(f"  {threads} thread(s): {t * 1e3:.1f} ms ({verdict} the 20 ms budget)")
    torch.set_num_threads(args.threads)

    print()
    print("Part 2: mean_similarity over 100 probe images, 512 channels, 7x7 maps")
    probes = relu_maps(100, 512, 7, 7, seed=1)
    per_image = sim.mean_similarity(probes, per_image=True)
    print(f"  multiply mean {per_image.mean():.4f}, std over images {per_image.std():.4f}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = {
            metric: best_of(lambda m=metric: sim.mean_similarity(probes, m), repeats=3)
            for metric in ("multiply", "cosine", "pearson")
        }
        print(f"  {threads} thread(s): " + ", ".join(f"{m} {t:.3f} s" for m, t in times.items()))
    torch.set_num_threads(args.threads)
    budget = 8 * 2**20
    chunked = best_of(lambda: sim.mean_similarity(probes, max_bytes=budget), repeats=3)
    same = sim.mean_similarity(probes, max_bytes=budget) == sim.mean_similarity(probes)
    print(
        f"  multiply, max_bytes = 8 MiB (prepared state in chunks of images, not 65 MB at once), "
        f"{torch.get_num_threads()} thread(s): {chunked:.3f} s, result identical: {same}"
    )

    print()
    print("Part 3: matrix + extreme pairs + redundancy of 4 images, 256 channels, 11x11 maps")
    maps = relu_maps(4, 256, 11, 11, seed=2)

    def separately() -> None:
        sim.pairwise(maps)
        sim.extreme_pairs(maps)
        sim.redundancy(maps)

    def once() -> None:
        s = sim.pairwise(maps)
        sim.extreme_pairs(maps, similarity=s)
        sim.redundancy(maps, similarity=s)

    t_sep, t_once = best_of(separately, repeats=3), best_of(once, repeats=3)
    print(f"  matrix computed 3x: {t_sep:.3f} s; once, passed as similarity=: {t_once:.3f} s")


if __name__ == "__main__":
    main()
