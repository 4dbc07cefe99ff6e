"""``convscope report`` and ``convscope demo``: the page, and the main job end to end."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from ..history_keys import mean_key, tracked_layers
from ._common import add_model_data_args, load_model_and_data, model_from_spec, parse_layers
from .firing_verbs import add_engine_args, prepare_engine
from .maps_verbs import add_image_args, model_image_shape, read_cli_images


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` and ``demo`` to the CLI."""
    p = sub.add_parser(
        "report",
        help="write the HTML report (index.html, metrics.json, figures) of a run or model",
        description="Everything the seeds compute and draw, in one self-contained page: model "
        "summary, training curves, evaluation, feature maps, kernels, channel similarity, "
        "class firing profile, dead channels.",
    )
    add_model_data_args(p)
    p.add_argument("--out", help="output folder (default RUN/report, or report/)")
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


def _report(args: argparse.Namespace) -> int:
    from ..report import build_report, report_for_run

    spec = args.model_path or args.model
    probes, failed = _own_probes(spec, args)
    options: dict[str, Any] = {
        "images": probes if probes is not None else _parse_images(args.images),
        "metric": args.metric,
        "similarity_images": args.similarity_images,
        "firing_layer": parse_layers(args.firing_layer),
        "split": args.split,
        "progress": True,
    }
    if args.engine == "ray" or args.device:  # the data-set pass sharded on Ray, or on a device
        model, meta, data = load_model_and_data(args)
        _model, options["engine"] = prepare_engine(args, model, meta, data)
    started = time.perf_counter()
    if spec and Path(spec).is_dir():
        report = report_for_run(
            spec, out=args.out, data=args.data, data_dir=args.data_dir, seed=args.seed, **options
        )
    else:
        model, _meta, data = load_model_and_data(args)
        out = args.out or "report"
        report = build_report(model, data, out, **options)
    print(f"report written in {time.perf_counter() - started:.1f} s: {report.index}")
    return 2 if failed else 0


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
    out = Path(args.out)
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
    evaluation.split, evaluation.dataset = "test", "mnist5k"
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
