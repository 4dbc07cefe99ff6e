"""``convscope train`` and ``convscope evaluate``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import data as data_mod
from .._io import safe_filename
from ..errors import ConvscopeError, ShapeError
from ..runfolder import RunFolder
from ._common import add_model_data_args, load_model_and_data, parse_layers

_DEFAULTS: dict[str, Any] = {
    "model": "mnist_convnet",
    "data": "mnist5k",
    "epochs": 10,
    "batch_size": 128,
    "lr": 1e-3,
    "seed": 0,
    "patience": None,
}


def _say(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 - the CLI is where printing belongs


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``evaluate`` to the CLI."""
    p = sub.add_parser(
        "train",
        help="train a zoo model on a data set into a run folder",
        description="Train a zoo model with Adam and cross-entropy, keep the best epoch "
        f"(lowest val_loss) as RUN/{RunFolder.MODEL}, then evaluate it on the test split. "
        f"With --resume, options not given are read from RUN/{RunFolder.RECORD}.",
    )
    p.add_argument("--model", help=f"zoo architecture (default {_DEFAULTS['model']})")
    p.add_argument("--data", help=f"data set name or folder:PATH (default {_DEFAULTS['data']})")
    p.add_argument("--epochs", type=int, help=f"epochs (default {_DEFAULTS['epochs']})")
    p.add_argument("--batch-size", type=int, help=f"batch size (default {_DEFAULTS['batch_size']})")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default {_DEFAULTS['lr']})")
    p.add_argument("--seed", type=int, help="seed of the split, shuffling and dropout (default 0)")
    p.add_argument(
        "--patience", type=int, help="stop after N epochs without a better val_loss (default off)"
    )
    p.add_argument("--out", help="run folder (default runs/MODEL-DATA)")
    p.add_argument(
        "--resume", action="store_true", help=f"continue from RUN/{RunFolder.CHECKPOINT}"
    )
    p.add_argument("--data-dir", help="data cache folder (default $CONVSCOPE_DATA)")
    p.add_argument("--device", help="torch device, e.g. cpu or cuda (default cpu)")
    p.add_argument(
        "--track",
        metavar="LAYER[,LAYER]",
        help="follow these layers' mean channel similarity every epoch (seed 000's chart): "
        "names, indices or kinds, comma-separated; 'default' for the last conv layer",
    )
    p.add_argument(
        "--probe",
        type=int,
        help="validation images the tracked similarity is measured on (default 32)",
    )
    _add_penalty_args(p)
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "evaluate",
        help="evaluate a trained run or model file on its test (or val) split",
        description=f"Load the model (RUN/{RunFolder.MODEL}, or a .safetensors, .keras, .h5 "
        "or .onnx file with --data) and its data set (same seed, so the same split), print "
        "loss, accuracy, per-class accuracy and the confusion matrix, and write "
        f"{RunFolder.EVALUATION} and {RunFolder.PREDICTIONS}.",
    )
    add_model_data_args(p, split=False)
    p.add_argument("--split", choices=["test", "val"], default="test")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument(
        "--out",
        help=f"folder for {RunFolder.EVALUATION}/{RunFolder.PREDICTIONS} (default RUN, or RUN/val)",
    )
    p.add_argument("--normalized", action="store_true", help="print row-normalised matrix")
    p.set_defaults(func=_evaluate)


@contextlib.contextmanager
def _quiet_train_log() -> Iterator[None]:
    """The CLI prints its own epoch lines; hide the library's duplicate INFO lines."""
    log = logging.getLogger("convscope.train")
    old = log.level
    if log.getEffectiveLevel() > logging.DEBUG:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(old)


class _PrintEpochs:
    """A fit callback that prints one line per epoch."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        parts = [f"Epoch {epoch + 1}/{self.epochs}"]
        for key, value in logs.items():
            if key in ("lr", "time_s") or not isinstance(value, (int, float)):
                continue
            parts.append(f"{key} {value:.4f}")
        parts.append(f"({logs.get('time_s', 0.0):.1f}s)")
        _say("  ".join(parts))


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """Explicit options, else (with --resume) the run's recorded ones, else the defaults."""
    recorded: dict[str, Any] = {}
    if args.resume and args.out:
        run = RunFolder(args.out).record()
        recorded = dict(run.get("options") or {})
        if run.get("model", {}).get("arch"):
            recorded["model"] = run["model"]["arch"]
        if run.get("dataset"):
            recorded["data"] = run["dataset"]
    chosen = {}
    for key, default in _DEFAULTS.items():
        value = getattr(args, key)
        chosen[key] = value if value is not None else recorded.get(key, default)
    return chosen


def _load_data(name: str, seed: int, data_dir: str | None, input_shape: Any) -> Any:
    return data_mod.load(name, seed=seed, data_dir=data_dir, input_shape=input_shape)


def _input_shape(model_name: str, data_name: str) -> tuple[int, ...]:
    """The zoo model's input shape, checked against the data set's image shape if known."""
    from ..models import ZOO, build  # torch: imported when the verb runs

    if model_name not in ZOO:
        build(model_name)  # raises UnknownNameError listing the zoo
    seed_shape = tuple(ZOO[model_name].input_shape)
    known = data_mod.image_shape(data_name)  # raises UnknownNameError for a bad name
    if known is not None and tuple(known) != seed_shape:
        what = "channels" if known[0] != seed_shape[0] else "image size"
        raise ShapeError(
            f"model {model_name} takes images of shape {seed_shape} (C, H, W) but data set "
            f"{data_name} has {tuple(known)} (the {what} differ). Pick a model and data set "
            "with the same image shape (`convscope models` lists the models), or use "
            "folder:PATH, which resizes."
        )
    return seed_shape


def _train(args: argparse.Namespace) -> int:
    from ..models import build  # torch: imported when the verb runs
    from ..train import evaluate, fit

    opts = _options(args)
    if args.resume and not args.out:
        raise ConvscopeError("--resume needs --out RUN: the run folder to continue")
    model_name, data_name = opts["model"], opts["data"]
    seed_shape = _input_shape(model_name, data_name)
    out = Path(args.out) if args.out else Path("runs") / safe_filename(f"{model_name}-{data_name}")
    run = RunFolder(out)
    if args.resume and not run.checkpoint.exists():
        raise ConvscopeError(
            f"cannot resume: {run.checkpoint} does not exist; train without --resume"
        )
    data = _load_data(data_name, opts["seed"], args.data_dir, seed_shape)
    import torch  # imported when the verb runs

    torch.manual_seed(opts["seed"])  # the initial weights depend on the seed too
    model = build(model_name, num_classes=len(data.class_names), input_shape=seed_shape)
    _say(
        f"Training {model_name} on {data.name} ({len(data.y_train)} train / {len(data.y_val)} "
        f"val images) -> {out}"
    )
    try:
        with _quiet_train_log():
            history = fit(
                model,
                data,
                epochs=opts["epochs"],
                batch_size=opts["batch_size"],
                lr=opts["lr"],
                seed=opts["seed"],
                out=out,
                patience=opts["patience"],
                callbacks=[*_tracker(args), _PrintEpochs(opts["epochs"])],
                penalty=_penalty(args),
                resume=args.resume,
                device=args.device or "cpu",
                progress=True,
            )
    except KeyboardInterrupt:
        print(  # noqa: T201
            f"convscope: training interrupted; the last finished epoch is saved. Continue "
            f"with: convscope train --out {out} --resume",
            file=sys.stderr,
        )
        raise
    record = run.record()
    if record.get("status") == "stopped early":
        _say(f"Stopped early after epoch {len(history)} (patience {opts['patience']}).")
    ev = evaluate(model, data.x_test, data.y_test, data.class_names)
    ev.split, ev.dataset = "test", data.name
    ev.extra = {"best_epoch": record.get("best_epoch")}
    ev.save(run.evaluation_dir)
    _say(
        f"Best epoch {record.get('best_epoch')}: test accuracy {ev.accuracy:.4f}, test loss "
        f"{ev.loss:.4f}"
    )
    _say(f"Run saved to {out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ..train import evaluate  # torch: imported when the verb runs

    model, meta, data = load_model_and_data(args)
    x, y = data.split(args.split)
    names = (meta.class_names if meta is not None else None) or data.class_names
    ev = evaluate(model, x, y, names, batch_size=args.batch_size)
    ev.split, ev.dataset = args.split, data.name
    if meta is not None and meta.extra.get("epoch") is not None:
        ev.extra = {"best_epoch": meta.extra.get("epoch")}
    spec = Path(args.model_path or args.model)
    if args.out:
        dest = Path(args.out)
    else:
        dest = (spec if spec.is_dir() else spec.parent) / ("" if args.split == "test" else "val")
    path = ev.save(dest)
    _say(ev.to_text(normalized=args.normalized))
    _say()
    _say(f"Wrote {path} and {path.parent / RunFolder.PREDICTIONS}")
    return 0


def _add_penalty_args(p: argparse.ArgumentParser) -> None:
    """``--penalty METRIC --penalty-weight W --penalty-layers L``: seed 000's closing idea."""
    p.add_argument(
        "--penalty",
        metavar="METRIC",
        choices=["cosine", "pearson", "multiply"],
        help="add a channel-similarity penalty to the loss: cosine, pearson or multiply (soft)",
    )
    p.add_argument("--penalty-weight", type=float, help="weight of the penalty (default 0.1)")
    p.add_argument(
        "--penalty-layers", help="layers to penalise: names, indices or a kind (default conv)"
    )


def _penalty(args: argparse.Namespace) -> Any:
    """The --penalty options as a SimilarityPenalty; on --resume without them, the run's own."""
    from ..train.penalty import SimilarityPenalty  # torch: imported when the verb runs

    spec: dict[str, Any] = {
        "metric": args.penalty,
        "weight": args.penalty_weight,
        "layers": parse_layers(args.penalty_layers),
    }
    if args.penalty is None:
        if args.penalty_weight is not None or args.penalty_layers is not None:
            raise ConvscopeError("--penalty-weight and --penalty-layers need --penalty METRIC")
        record = RunFolder(args.out).record() if args.resume and args.out else {}
        spec = dict((record.get("options") or {}).get("penalty") or {})
        if not spec:
            return None
    options = {k: spec[k] for k in ("images", "temperature") if spec.get(k) is not None}
    return SimilarityPenalty(
        layers=spec.get("layers") or "conv",
        metric=spec["metric"],
        weight=0.1 if spec.get("weight") is None else spec["weight"],
        **options,
    )


def _tracker(args: argparse.Namespace) -> list[Any]:
    """``--track``/``--probe`` as a SimilarityTracker (none without ``--track``)."""
    from ..train import SimilarityTracker  # torch: imported when the verb runs

    if args.track is None:
        if args.probe is not None:
            raise ConvscopeError("--probe N sets the tracker's images: it needs --track LAYER")
        return []
    if args.probe is not None and args.probe < 1:
        raise ConvscopeError(f"--probe takes a number of images (1 or more), got {args.probe}")
    layers = None if args.track.strip() in ("", "default") else parse_layers(args.track)
    return [SimilarityTracker(layers=layers, probe=args.probe or 32)]
