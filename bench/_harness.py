"""Shared benchmark plumbing: warm timing, a competing load, the environment line, results.

Every bench script times what a user gets, after a warm-up (an allocator that has not
grown yet and an idle core that has not clocked up make the first runs ~2x slower), and
prints minimum and median of several repeats. ``--load`` runs the same measurements while
a second process spins on one core (on a 2-core machine that is what "busy" means: torch's
intra-op threads then wait at every barrier for the core they do not get).

Each script also writes its numbers to ``bench/results/<name>.json``; ``bench/readme.py``
regenerates the README's benchmark table from those files, so no number there is typed by
hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the seed oracles live once, in tests/seeds.py
    sys.path.insert(0, str(ROOT))


def timed(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Seconds per call of ``fn``: min, median and max over ``repeats`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"min": min(times), "median": statistics.median(times), "max": max(times)}


@contextlib.contextmanager
def competing_load(cores: int = 1) -> Iterator[None]:
    """Spin ``cores`` busy processes for the duration of the block (a shared machine)."""
    spinners = [
        subprocess.Popen(
            [sys.executable, "-c", "while True: pass"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(cores)
    ]
    time.sleep(0.5)  # let the spinners reach the scheduler
    try:
        yield
    finally:
        for proc in spinners:
            proc.kill()
        for proc in spinners:
            proc.wait()


def conditions(load: bool) -> list[tuple[str, bool]]:
    """The conditions a script runs: idle, and busy when asked."""
    return [("idle", False)] + ([("busy", True)] if load else [])


@contextlib.contextmanager
def condition(busy: bool) -> Iterator[None]:
    """A competing load on one core when ``busy``, else nothing."""
    if busy:
        with competing_load(1):
            yield
    else:
        yield


def environment() -> dict[str, Any]:
    """Threads, cores and load average: printed with every result."""
    import numpy as np
    import torch

    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpus": cpus,
        "torch_threads": torch.get_num_threads(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "machine": platform.machine(),
    }


def env_line(env: dict[str, Any] | None = None) -> str:
    """One line describing where the numbers come from."""
    env = env or environment()
    return (
        f"python {env['python']}, torch {env['torch']}, numpy {env['numpy']}, "
        f"{env['cpus']} CPU(s), torch threads {env['torch_threads']}, "
        f"load average {env['loadavg_1m']}"
    )


def save(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` atomically (temp file + rename)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    payload = {"environment": environment(), "created": time.strftime("%Y-%m-%d %H:%M"), **payload}
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def ms(seconds: float) -> str:
    """Seconds as a short millisecond string."""
    return f"{seconds * 1e3:.2f} ms" if seconds < 10 else f"{seconds:.1f} s"
