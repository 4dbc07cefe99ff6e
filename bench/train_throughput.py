"""Training throughput: images per second for one epoch of mnist_convnet on mnist5k.

Usage:
    python bench/train_throughput.py [--device cpu|cuda] [--batch-size 128] [--threads N]

Runs one warm-up epoch, then times one epoch of ``convscope.train.fit`` (training plus
validation) on mnist5k's training split. Falls back to random data of the same shape when
``convscope.data`` is not importable.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import torch

from convscope.models import build
from convscope.train import fit


def load_data(data_dir: str | None):
    try:
        from convscope.data import load
    except ImportError as exc:
        print(f"convscope.data is not importable ({exc}); using random data of mnist5k's shape")
        rng = np.random.default_rng(0)
        x = rng.random((4000, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, 4000)
        return SimpleNamespace(
            name="random",
            class_names=[str(i) for i in range(10)],
            x_train=x[:3500],
            y_train=y[:3500],
            x_val=x[3500:],
            y_val=y[3500:],
        )
    return load("mnist5k", seed=0, data_dir=data_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_data(args.data_dir)
    n = len(data.y_train)
    torch.manual_seed(0)
    model = build("mnist_convnet", num_classes=10).to(args.device)
    times: list[float] = []

    class Timer:
        def on_epoch_end(self, epoch, logs, model):
            times.append(logs["time_s"])

    t0 = time.perf_counter()
    fit(
        model,
        data,
        epochs=2,
        batch_size=args.batch_size,
        device=args.device,
        progress=False,
        callbacks=[Timer()],
    )
    total = time.perf_counter() - t0
    epoch_s = times[1]  # the second epoch; the first is the warm-up
    device = args.device
    if device.startswith("cuda"):
        device += f" ({torch.cuda.get_device_name()})"
    print(
        f"mnist_convnet on {data.name}: {n} training images, batch {args.batch_size}, "
        f"device {device}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}"
    )
    print(f"warm-up epoch {times[0]:.2f} s, timed epoch {epoch_s:.2f} s (incl. validation)")
    print(f"{n / epoch_s:,.0f} images/s  (fit total {total:.2f} s for 2 epochs)")


if __name__ == "__main__":
    main()
