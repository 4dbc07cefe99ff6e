"""``convscope report`` and ``convscope demo``: the page, and the main job end to end."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from ..history_keys import mean_key, tracked_layers
from ._common import (
    add_json_arg,
    add_model_data_args,
    check_device,
    check_out,
    load_model_and_data,
    model_from_spec,
    model_spec,
    parse_layers,
    print_json,
    run_folder,
    say,
)
from .firing_verbs import add_engine_args, prepare_engine
from .maps_verbs import add_image_args, model_image_shape, read_cli_images


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` and ``demo`` to the CLI."""
    p = sub.add_parser(
        "report",
        help="write the HTML report (index.html, metrics.json, figures) of a run or model",
        description="Everything the seeds compute and draw, in one page: model summary, "
        "training curves, evaluation (a run's own: the held-out test split of its data and "
        "seed), feature maps, kernels, channel similarity, class firing profile, dead "
        "channels, atlas. Built beside --out and swapped in whole; --single-file writes one "
        "self-contained .html file.",
    )
    add_model_data_args(p)
    p.add_argument(
        "--out",
        help="output folder (default RUN/report, or report/); with --single-file the .html "
        "file (default RUN/report.html, or report.html)",
    )
    p.add_argument(
        "--single-file",
        action="store_true",
        help="write one self-contained .html file: the stylesheet and every figure inlined",
    )
    p.add_argument(
        "--images",
        help="probe image indices in the split, e.g. 0,5,17 (default: one per class, four)",
    )
    p.add_argument(
        "--image",
        nargs="+",
        metavar="PATH",
        help="your own image files as the probes (PNG, JPEG, BMP, TIFF, WebP), read at the "
        "model's input size; see --resize and --preprocess",
    )
    add_image_args(p)
    p.add_argument(
        "--metric", default="multiply", help="channel similarity metric (multiply, cosine, pearson)"
    )
    p.add_argument(
        "--similarity-images", type=int, default=32, help="images for the similarity matrices"
    )
    p.add_argument(
        "--firing-layer", help="layer for the class firing profile (default: penultimate)"
    )
    add_engine_args(p)
    add_json_arg(p)
    p.set_defaults(func=_report)

    p = sub.add_parser(
        "demo",
        help="the main job: train mnist_convnet on mnist5k with similarity tracking, report",
        description="Train mnist_convnet on the embedded MNIST subset with the similarity "
        "tracker on, evaluate it, write the report and print its path.",
    )
    p.add_argument(
        "--out", default="runs/demo", help="folder for the run and its report (default runs/demo)"
    )
    p.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", help="data cache folder (default $CONVSCOPE_DATA)")
    p.add_argument(
        "--quick", action="store_true", help="a tiny run for tests: 1 epoch on 600 images"
    )
    p.set_defaults(func=_demo)


def _parse_images(text: str | None) -> list[int] | None:
    from ..errors import ConvscopeError

    if not text:
        return None
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise ConvscopeError(
            f"--images takes comma-separated indices like 0,5,17; got {text!r}"
        ) from None


def _report_out(args: argparse.Namespace) -> Path:
    """--out, else RUN/report (RUN/report.html) or report (report.html)."""
    run = run_folder(model_spec(args))
    name = "report.html" if args.single_file else "report"
    out = Path(args.out) if args.out else (run.path / name if run is not None else Path(name))
    if args.single_file and out.is_dir() and not (out / "index.html").exists():
        out = out / "report.html"  # --out FOLDER --single-file: the file goes inside
    return out


def _report(args: argparse.Namespace) -> int:
    from ..report import build_report, report_for_run

    check_device(args.device)
    spec = model_spec(args)
    out = _report_out(args)
    probes, failed = _own_probes(spec, args)
    options: dict[str, Any] = {
        "images": probes if probes is not None else _parse_images(args.images),
        "metric": args.metric,
        "similarity_images": args.similarity_images,
        "firing_layer": parse_layers(args.firing_layer),
        "split": args.split,
        "progress": False if args.quiet else SectionProgress(),
        "single_file": args.single_file,
    }
    if args.engine == "ray" or args.device:  # the data-set pass sharded on Ray, or on a device
        model, meta, data = load_model_and_data(args)
        _model, options["engine"] = prepare_engine(args, model, meta, data)
    started = time.perf_counter()
    if run_folder(spec) is not None:
        report = report_for_run(
            spec, out=out, data=args.data, data_dir=args.data_dir, seed=args.seed,
            force=args.force, download=not args.offline, **options,
        )  # fmt: skip
    else:
        model, _meta, data = load_model_and_data(args)
        report = build_report(model, data, out, **options)
    seconds = time.perf_counter() - started
    if args.json:
        print_json(_report_json(report, seconds, failed))
    else:
        say(args, f"report written in {seconds:.1f} s: {report.index}")
    return 2 if failed else 0


def _report_json(report: Any, seconds: float, failed: list) -> dict[str, Any]:
    """``convscope report --json``: where the page is and its headline numbers."""
    evaluation = report.metrics.get("evaluation") or {}
    return {
        "index": str(report.index),
        "metrics": None if report.metrics_path is None else str(report.metrics_path),
        "seconds": round(seconds, 3),
        "accuracy": evaluation.get("accuracy"),
        "loss": evaluation.get("loss"),
        "nonfinite": report.metrics.get("nonfinite") or {},
        "failed_images": [{"file": name, "reason": why} for name, why in failed],
    }


class SectionProgress:
    """Report progress: a bar advancing per section on a terminal, else one line per
    section on stderr (``convscope: report: [3/11] similarity (4.2 s)``)."""

    def __init__(self) -> None:
        from ..report.sections import SECTIONS

        self.total = len(SECTIONS) + 2  # the data-set pass, the sections, writing figures
        self.done = 0
        self.started = time.perf_counter()
        self.bar: Any = None
        if sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc="report", unit="section", leave=False)

    def __call__(self, name: str) -> None:
        """One step begins: ``name`` is what is being computed."""
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(name)
            self.bar.update(1)
            if self.done >= self.total:
                self.bar.close()
            return
        elapsed = time.perf_counter() - self.started
        print(f"convscope: report: [{self.done}/{self.total}] {name} ({elapsed:.1f} s)",
              file=sys.stderr, flush=True)  # fmt: skip


def _own_probes(spec: str | None, args: argparse.Namespace) -> tuple[Any, list]:
    """``--image`` files read at the model's input size; the ones that failed (printed)."""
    from ..errors import ConvscopeError
    from ..report.inputs import ProbeImages

    if not args.image:
        return None, []
    if args.images:
        raise ConvscopeError(
            "--images picks probes from the split, --image gives your own: use one"
        )
    model, _meta = model_from_spec(spec, trust=args.trust)
    batch = read_cli_images(args.image, model_image_shape(model, args), args)
    names = tuple(path.name for path in batch.paths)
    return ProbeImages(batch.pixels, batch.inputs, names), batch.failed


def _demo(args: argparse.Namespace) -> int:
    from .. import data as data_mod
    from ..models import build
    from ..report import report_for_run
    from ..train import SimilarityTracker, evaluate, fit

    started = time.perf_counter()
    out = check_out(args.out)  # before any compute
    run = out / "run"
    say = _Printer()
    say(f"convscope demo: mnist_convnet on mnist5k -> {out}")
    data = data_mod.load("mnist5k", seed=args.seed, data_dir=args.data_dir)
    epochs = args.epochs
    if args.quick:
        data = dataclasses.replace(
            data,
            x_train=data.x_train[:600],
            y_train=data.y_train[:600],
            x_val=data.x_val[:200],
            y_val=data.y_val[:200],
            x_test=data.x_test[:300],
            y_test=data.y_test[:300],
        )
        epochs = 1 if args.epochs == 12 else args.epochs
    say(
        f"data: {len(data.x_train)} train / {len(data.x_val)} val / {len(data.x_test)} test "
        f"images {'x'.join(map(str, data.input_shape))}, {len(data.class_names)} classes"
    )
    import torch

    torch.manual_seed(args.seed)  # the initial weights too: the same --seed gives the same run
    model = build("mnist_convnet", num_classes=len(data.class_names))
    # the tracker keeps the probe's maps at a few epochs (run/epoch_maps.npz): the report
    # draws them beside the similarity chart, seed 000's story in one view
    tracker = SimilarityTracker(layers="conv", probe=32, out=run)
    history = fit(
        model,
        data,
        epochs=epochs,
        batch_size=128,
        lr=1e-3,
        seed=args.seed,
        out=run,
        callbacks=[tracker],
        progress=True,
        dataset_name="mnist5k",
        class_names=list(data.class_names),
    )
    trained = time.perf_counter()
    say(f"trained {epochs} epochs in {trained - started:.1f} s")
    evaluation = evaluate(model, data.x_test, data.y_test, list(data.class_names))
    evaluation.split, evaluation.dataset, evaluation.seed = "test", "mnist5k", args.seed
    evaluation.save(run)
    if args.quick:
        from ..report import build_report

        report = build_report(
            model,
            data,
            out / "report",
            history=history.history,
            evaluation=evaluation,
            progress=True,
        )
    else:
        report = report_for_run(run, out=out / "report", progress=True)
    finished = time.perf_counter()
    hist = history.history
    say("")
    say("=" * 64)
    say(
        f"test accuracy      {evaluation.accuracy:.4f}   (loss {evaluation.loss:.4f}, {len(data.y_test)} images)"
    )
    for layer in tracked_layers(hist):
        values = hist[mean_key(layer)]
        say(
            f"mean similarity    {layer:<10} epoch 1: {values[0]:.4f}  ->  epoch {len(values)}: {values[-1]:.4f}"
        )
    say(f"run folder         {run}")
    say(f"report             {report.index}")
    say(
        f"time               {finished - started:.1f} s (training {trained - started:.1f} s, report {finished - trained:.1f} s)"
    )
    say("=" * 64)
    return 0


class _Printer:
    def __call__(self, text: str) -> None:
        print(text, file=sys.stdout, flush=True)
