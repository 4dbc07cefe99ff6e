"""Benchmark: ``build_report`` on the demo-sized run, with the time of each section.

Trains mnist_convnet on mnist5k for a few epochs with the similarity tracker (keeping
the probe's maps across epochs, as the demo does) unless --run names a run folder, then
builds the report several times after a warm-up and prints the time of the data-set pass
and of each section (compute + draw + save + HTML), the total, and the time a fresh
process takes to import what the report needs. Target (issue 14): the demo report in
at most 3 s on this machine.

Run: .venv/bin/python bench/report.py [--run runs/demo/run] [--repeat 3] [--load]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import condition, conditions, env_line, save

import convscope as cs
from convscope.report import report_for_run
from convscope.train.tracker import load_epoch_maps


def _train(out: Path, epochs: int) -> Path:
    """A demo-like run: mnist_convnet on mnist5k, tracker on two layers, maps kept."""
    import torch

    torch.manual_seed(0)
    data = cs.data.load("mnist5k", seed=0)
    model = cs.models.build("mnist_convnet")
    run = out / "run"
    tracker = cs.train.SimilarityTracker(layers="conv", probe=32, out=run)
    cs.train.fit(model, data, epochs=epochs, batch_size=128, out=run, callbacks=[tracker],
                 progress=False, dataset_name="mnist5k", class_names=list(data.class_names))  # fmt: skip
    return run


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _timed_report(run: Path, out: Path) -> dict[str, dict[str, float]]:
    """One report: wall and CPU seconds per step (the pass, then each section), and in all.

    CPU seconds (this process, every thread) are what the work costs; on a machine other
    processes share, wall seconds also hold the time spent waiting for a core."""
    marks: list[tuple[str, tuple[float, float]]] = []
    started = _now()
    report_for_run(
        run, out=out, epoch_maps=load_epoch_maps(run),
        progress=lambda step: marks.append((step, _now())),
    )  # fmt: skip
    ended = _now()
    steps = {}
    for (name, t0), (_next, t1) in zip(marks, marks[1:] + [("end", ended)], strict=True):
        steps[name] = {"wall": t1[0] - t0[0], "cpu": t1[1] - t0[1]}
    steps["total"] = {"wall": ended[0] - started[0], "cpu": ended[1] - started[1]}
    return steps


def _import_time() -> float:
    """Seconds a fresh interpreter takes to import the report and what it draws with."""
    code = (
        "import time; t = time.perf_counter(); import convscope.report, convscope.render, "
        "matplotlib.figure, jinja2; print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder (default: train one here first)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--load", action="store_true", help="also measure under a competing load")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="convscope-bench-report-"))
    run = Path(args.run) if args.run else _train(work, args.epochs)
    print(env_line())
    _timed_report(run, work / "warmup")  # imports, font cache, first-call costs
    results = {}
    for label, busy in conditions(args.load):
        with condition(busy):
            runs = [_timed_report(run, work / f"{label}{k}") for k in range(args.repeat)]
            imports = min(_import_time() for _ in range(2))
        best = min(runs, key=lambda r: r["total"]["wall"])
        results[label] = {"best": best, "totals": [r["total"] for r in runs], "import_s": imports}
        print(f"\n{label}: build_report, best of {args.repeat} (seconds: wall, CPU)")
        for name, seconds in best.items():
            print(f"  {name:<24} {seconds['wall']:6.2f} {seconds['cpu']:6.2f}")
        print(f"  {'imports (fresh process)':<24} {imports:6.2f}")
        total = best["total"]["wall"] + imports
        print(f"  build_report + imports: {total:.2f} s wall (target <= 3 s); {env_line()}")
    rows = [
        {
            "work": "`build_report` on the demo run (+ imports, fresh process)",
            "convscope": f"{r['best']['total']['wall']:.2f} s (+ {r['import_s']:.2f} s)",
            "reference": "target 3 s in all",
            "ratio": f"{(r['best']['total']['wall'] + r['import_s']) / 3:.2f}× the target",
            "condition": label,
        }
        for label, r in results.items()
    ]
    path = save(
        "report", {"run": str(run), "repeat": args.repeat, "results": results, "readme": rows}
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
