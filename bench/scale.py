"""Scale: one data-set pass on 1 and 2 local Ray workers against one process; merge cost.

The workload is a synthetic stand-in for MNIST's 60,000 training images (1x28x28 float32,
uniform noise, 10 labels; the same shape and count, not the digits: throughput does not
depend on the pixels) through mnist_convnet, feeding what the report's pass feeds:
evaluation, a class firing profile, channel statistics and the top-9 exemplars per channel.

``single`` is the plain scan (torch's default threads), ``single1`` the same on one torch
thread (what each Ray worker gets: Ray sets OMP_NUM_THREADS=1), so the Ray overhead shows
apart from the threading. Each configuration runs in its own fresh process, so its peak memory (``ru_maxrss``) is its
own: the driver's, and for Ray the largest worker's (read inside the workers by a probe
accumulator). Ray is timed twice: cold (starting Ray and the workers' imports) and warm
(workers up). Then: bytes per accumulator per layer, and the driver's merge time as the
number of shards grows.

    python bench/scale.py            # full: 60,000 images
    python bench/scale.py --quick    # 6,000 images, a smoke run
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _harness import env_line, save

os.environ.setdefault("KERAS_BACKEND", "torch")

BATCH = 256


def _accumulators():
    from convscope.metrics.evaluation import EvaluationAccumulator
    from convscope.metrics.firing import FiringAccumulator
    from convscope.metrics.stats import ChannelStats
    from convscope.metrics.topk import TopKAccumulator

    return [
        EvaluationAccumulator(),
        FiringAccumulator(10, layer="flatten"),
        ChannelStats(similarity_samples=256),
        TopKAccumulator(9, layers="conv"),
    ]


class PeakRSS:
    """A probe accumulator: the largest resident set of any process that scanned a shard."""

    layers = ()
    needs_output = True
    peak_mib = 0.0

    def feed(self, batch):
        self.peak_mib = max(
            self.peak_mib, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        )

    def merge(self, other):
        self.peak_mib = max(self.peak_mib, other.peak_mib)
        return self

    def result(self):
        return self.peak_mib


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def child(mode: str, n: int, model_path: str) -> dict:
    """One configuration in this (fresh) process; prints its numbers as JSON."""
    import convscope as cs
    from convscope.analysis import scan
    from convscope.engine import connect, run_sharded

    x, y = _data(n)
    model, _meta = cs.models.load(model_path)
    if mode.startswith("single"):
        if mode == "single1":  # one torch thread, as each Ray worker runs (OMP_NUM_THREADS=1)
            import torch

            torch.set_num_threads(1)
        t0 = time.perf_counter()
        scan(model, (x, y), *_accumulators(), PeakRSS(), batch_size=BATCH)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"mode": mode, "seconds": seconds, "images_per_s": n / seconds, "driver_mib": peak}
    import ray

    workers = int(mode.removeprefix("ray"))
    t0 = time.perf_counter()
    connect(None, workers)
    started = time.perf_counter() - t0
    runs = []
    for _ in range(2):  # cold (workers import torch and load the model), then warm
        t0 = time.perf_counter()
        merged = run_sharded(model_path, (x, y), [*_accumulators(), PeakRSS()], workers,
                             batch_size=BATCH)  # fmt: skip
        runs.append((time.perf_counter() - t0, merged[-1].result()))
    ray.shutdown()
    (cold, _), (warm, worker_peak) = runs
    return {
        "mode": mode, "workers": workers, "ray_start_s": started, "cold_s": cold,
        "seconds": warm, "images_per_s": n / warm,
        "driver_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mib": worker_peak,
    }  # fmt: skip


def _bytes_per_layer(model, x, y) -> dict:
    """Pickled size of each accumulator's state per layer, after a pass."""
    from convscope.analysis import scan
    from convscope.metrics.firing import FiringAccumulator
    from convscope.metrics.stats import ChannelStats
    from convscope.metrics.topk import TopKAccumulator

    out = {}
    for layer in ("conv2d", "conv2d_1", "flatten"):
        accs = {
            "ChannelStats": ChannelStats(similarity_samples=16, layers=[layer]),
            "FiringAccumulator": FiringAccumulator(10, layer=layer),
            "TopKAccumulator(k=9)": TopKAccumulator(9, layers=[layer]),
        }
        scan(model, (x, y), *accs.values(), batch_size=BATCH)
        out[layer] = {name: len(pickle.dumps(acc)) for name, acc in accs.items()}
    return out


def _merge_cost(model, x, y, counts=(2, 8, 32, 128, 512)) -> dict:
    """Driver seconds to merge ``count`` shard results of the whole pass's accumulators."""
    from convscope.analysis import scan

    part = scan(model, (x[:BATCH], y[:BATCH]), *_accumulators(), batch_size=BATCH, results=False)
    out = {}
    for count in counts:
        shards = [copy.deepcopy(part) for _ in range(count)]
        t0 = time.perf_counter()
        merged = copy.deepcopy(shards[0])
        for other in shards[1:]:
            for mine, theirs in zip(merged, other, strict=True):
                mine.merge(theirs)
        out[count] = time.perf_counter() - t0
    return out


def resnet50(num_classes: int = 1000):
    """A ResNet-50 (bottleneck blocks 3-4-6-3, 25.6 M parameters) without torchvision."""
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            cout = width * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))  # fmt: skip

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.down is None else self.down(x)))

    layers, cin = [], 64
    for i, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        for b in range(blocks):
            layers.append(Bottleneck(cin, width, 2 if b == 0 and i > 0 else 1))
            cin = width * 4
    return nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1), *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(2048, num_classes),
    ).eval()  # fmt: skip


def resnet_costs(batch: int = 16, repeats: int = 3) -> dict:
    """Per-image forward cost of ResNet-50 at 224x224 here, with and without the pass's
    accumulators on every conv layer's output, and the accumulators' bytes."""
    import torch
    from _harness import timed

    from convscope.analysis import scan
    from convscope.metrics.firing import FiringAccumulator
    from convscope.metrics.stats import ChannelStats
    from convscope.metrics.topk import TopKAccumulator

    torch.manual_seed(0)
    model = resnet50()
    x = np.random.default_rng(0).random((batch, 3, 224, 224), dtype=np.float32)
    y = np.arange(batch) % 1000
    with torch.no_grad():
        plain = timed(lambda: model(torch.from_numpy(x)), repeats=repeats)["median"] / batch
    blocks = [f"{i}" for i in range(4, 20)]  # the 16 bottleneck blocks' outputs
    accs = lambda: [ChannelStats(similarity_samples=0, layers=blocks),  # noqa: E731
                    TopKAccumulator(9, layers=blocks),
                    FiringAccumulator(1000, layer="21")]  # fmt: skip
    full = timed(lambda: scan(model, (x, y), *accs(), batch_size=batch), repeats=repeats)
    fed = scan(model, (x, y), *accs(), batch_size=batch, results=False)
    return {
        "forward_s_per_image": plain,
        "pass_s_per_image": full["median"] / batch,
        "bytes": {type(a).__name__: len(pickle.dumps(a)) for a in fed},
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }


def _spawn(mode: str, n: int, model_path: str) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--images", str(n), "--model", model_path]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6,000 images instead of 60,000")
    parser.add_argument(
        "--resnet", action="store_true", help="only the ResNet-50 per-image cost (docs/scaling.md)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.images, args.model)))
        return
    import warnings

    import convscope as cs

    if args.resnet:
        with warnings.catch_warnings():  # 16 images of 1000 classes: most classes are empty
            warnings.simplefilter("ignore")
            costs = resnet_costs()
        print(f"ResNet-50 at 224x224, batch 16, {env_line()}")
        print(json.dumps(costs, indent=2))
        print(f"wrote {save('scale-resnet50', costs)}")
        return
    n = 6_000 if args.quick else 60_000
    print(f"scale: {n:,} synthetic MNIST-shaped images (1x28x28, noise; a labelled stand-in), "
          f"mnist_convnet, batch {BATCH}; {env_line()}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_path = str(Path(tmp) / "model.safetensors")
        cs.models.save_model(cs.models.build("mnist_convnet"), model_path, dataset="mnist")
        runs = {m: _spawn(m, n, model_path) for m in ("single", "single1", "ray1", "ray2")}
        model, _ = cs.models.load(model_path)
        x, y = _data(2048)
        sizes = _bytes_per_layer(model, x, y)
        merges = _merge_cost(model, x, y)
    base = runs["single"]["images_per_s"]
    print(f"\n{'run':<10}{'img/s':>10}{'vs one':>8}{'pass s':>9}{'cold s':>9}"
          f"{'driver MiB':>12}{'worker MiB':>12}")  # fmt: skip
    for mode, r in runs.items():
        print(f"{mode:<10}{r['images_per_s']:>10.0f}{r['images_per_s'] / base:>8.2f}"
              f"{r['seconds']:>9.1f}{r.get('cold_s', float('nan')):>9.1f}"
              f"{r['driver_mib']:>12.0f}{r.get('worker_peak_mib', float('nan')):>12.0f}")  # fmt: skip
    print("\nbytes per accumulator per layer (pickled state after the pass):")
    for layer, row in sizes.items():
        print(f"  {layer:<10}" + "  ".join(f"{k} {v:,}" for k, v in row.items()))
    print("\ndriver merge time of the pass's four accumulators, by shard count:")
    print("  " + "  ".join(f"{k} shards {v * 1e3:.1f} ms" for k, v in merges.items()))
    path = save("scale" + ("-quick" if args.quick else ""),
                {"images": n, "runs": runs, "bytes": sizes, "merge_s": merges})  # fmt: skip
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
