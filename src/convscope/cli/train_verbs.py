"""``convscope train``: a zoo model on a data set into a run folder (``evaluate`` lives in
:mod:`convscope.cli.evaluate_verbs`).

An existing run is never replaced silently: ``--out`` a run folder needs ``--resume``
(continue it) or ``--force`` (replace it). The split fractions are kept in the run record,
so every verb that reads the run later loads the same held-out test split."""

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
from ._common import add_json_arg, check_device, check_out, parse_layers, print_json

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
    _add_split_args(p)
    p.set_defaults(func=_train)


def _add_split_args(p: argparse.ArgumentParser) -> None:
    """``--val-fraction``, ``--test-fraction``, ``--force``, ``--offline``, ``--json``."""
    for which, default in RunFolder.SPLIT_DEFAULTS.items():
        flag = "--" + which.replace("_", "-")
        p.add_argument(
            flag, type=float, metavar="F",
            help=f"share of each class held out for {which.split('_')[0]} (default {default}; "
            "data sets with an official test set keep theirs)",
        )  # fmt: skip
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the run already in --out (default: refuse; --resume continues it)",
    )
    p.add_argument(
        "--offline", action="store_true", help="never download data (also CONVSCOPE_OFFLINE=1)"
    )
    p.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write each epoch to TensorBoard event files in DIR (pip install "
        "'convscope[tensorboard]'); with --track, the tracked layer's mosaic and matrix too",
    )
    add_json_arg(p)


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


def _load_data(name: str, seed: int, data_dir: str | None, shape: Any, **options: Any) -> Any:
    return data_mod.load(name, seed=seed, data_dir=data_dir, input_shape=shape, **options)


def _fractions(args: argparse.Namespace, run: RunFolder) -> dict[str, float]:
    """--val-fraction/--test-fraction, else (with --resume) the run's, else the defaults."""
    recorded = run.split_options() if args.resume else dict(RunFolder.SPLIT_DEFAULTS)
    chosen = {}
    for key in RunFolder.SPLIT_DEFAULTS:
        value = getattr(args, key)
        chosen[key] = float(value) if value is not None else recorded[key]
    for key, value in chosen.items():
        if not 0.0 <= value < 1.0:  # NaN fails too
            flag = "--" + key.replace("_", "-")
            raise ConvscopeError(f"{flag} takes a share in [0, 1), e.g. 0.1; got {value}")
    if sum(chosen.values()) >= 1.0:
        raise ConvscopeError(
            f"--val-fraction {chosen['val_fraction']} + --test-fraction "
            f"{chosen['test_fraction']} leave no image to train on; keep their sum below 1"
        )
    return chosen


def _refuse_overwrite(args: argparse.Namespace, run: RunFolder) -> None:
    """An existing run is replaced only with --force (continued with --resume)."""
    if args.resume and args.force:
        raise ConvscopeError("--resume continues the run, --force replaces it: choose one")
    if args.resume or args.force or not run.is_run():
        return
    record = run.record()
    what = ", ".join(
        str(part)
        for part in (
            (record.get("model") or {}).get("arch"),
            record.get("dataset") and f"on {record['dataset']}",
            record.get("status"),
            record.get("best_epoch") and f"best epoch {record['best_epoch']}",
        )
        if part
    )
    raise ConvscopeError(
        f"{run.path} already holds a run ({what or 'trained weights'}); continue it with "
        "--resume, replace it with --force, or choose another --out"
    )


def _clear(run: RunFolder) -> None:
    """Remove the files of the run being replaced (--force): no stale report or evaluation."""
    import shutil

    for path in run.owned_paths():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


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
    check_device(args.device)
    opts = _options(args)
    if args.resume and not args.out:
        raise ConvscopeError("--resume needs --out RUN: the run folder to continue")
    model_name, data_name = opts["model"], opts["data"]
    seed_shape = _input_shape(model_name, data_name)
    out = Path(args.out) if args.out else Path("runs") / safe_filename(f"{model_name}-{data_name}")
    run = RunFolder(out)
    check_out(out)
    _refuse_overwrite(args, run)
    if args.resume and not run.checkpoint.exists():
        raise ConvscopeError(
            f"cannot resume: {run.checkpoint} does not exist; train without --resume"
        )
    fractions = _fractions(args, run)
    data = _load_data(data_name, opts["seed"], args.data_dir, seed_shape, **fractions,
                      download=not args.offline)  # fmt: skip
    tracker, track = _tracker(args)
    extras = {"callbacks": [*tracker, *_tensorboard(args, tracker), _PrintEpochs(opts["epochs"])],
              "penalty": _penalty(args), "track": track}  # fmt: skip
    if args.force:  # every option checked: only now is the old run replaced
        _clear(run)
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = _train_and_test(args, opts, run, data, fractions, seed_shape, extras)
    if args.json:
        print_json(result)
    return 0


def _train_and_test(
    args: argparse.Namespace,
    opts: dict[str, Any],
    run: RunFolder,
    data: Any,
    fractions: dict[str, float],
    seed_shape: tuple[int, ...],
    extras: dict[str, Any],
) -> dict[str, Any]:
    """Fit, keep the split in the record, evaluate the best epoch on the test split."""
    import torch  # torch: imported when the verb runs

    from ..models import build
    from ..train import evaluate, fit

    out, model_name = run.path, opts["model"]
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
                callbacks=extras["callbacks"],
                penalty=extras["penalty"],
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
    finally:
        run.record_split(**fractions)  # later verbs load the same split
        if extras["track"] is not None:
            run.record_track(*extras["track"])  # --resume tracks the same layers
    record = run.record()
    if record.get("status") == "stopped early":
        _say(f"Stopped early after epoch {len(history)} (patience {opts['patience']}).")
    ev = evaluate(model, data.x_test, data.y_test, data.class_names)
    ev.split, ev.dataset, ev.seed = "test", data.name, opts["seed"]
    ev.extra = {"best_epoch": record.get("best_epoch")}
    ev.save(run.evaluation_dir)
    _say(
        f"Best epoch {record.get('best_epoch')}: test accuracy {ev.accuracy:.4f}, test loss "
        f"{ev.loss:.4f}"
    )
    _say(f"Run saved to {out}")
    return {"out": str(out), "model": model_name, "data": data.name, "seed": opts["seed"],
            **fractions, "status": record.get("status"), "epochs": len(history),
            "best_epoch": record.get("best_epoch"),
            "test": {"accuracy": ev.accuracy, "loss": ev.loss, "num_samples": ev.num_samples}}  # fmt: skip


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


def _tracker(args: argparse.Namespace) -> tuple[list[Any], tuple[str, int] | None]:
    """``--track``/``--probe`` as a SimilarityTracker (none without ``--track``), and the
    ``(layers, probe)`` it tracks, for the run record."""
    from ..train import SimilarityTracker  # torch: imported when the verb runs

    track, probe = args.track, args.probe
    if track is None and args.resume and args.out:  # the run's own, as it was started
        recorded = RunFolder(args.out).record().get("track") or {}
        track = recorded.get("layers")
        probe = probe if probe is not None else recorded.get("probe")
    if track is None:
        if args.probe is not None:
            raise ConvscopeError("--probe N sets the tracker's images: it needs --track LAYER")
        return [], None
    if probe is not None and probe < 1:
        raise ConvscopeError(f"--probe takes a number of images (1 or more), got {probe}")
    layers = None if track.strip() in ("", "default") else parse_layers(track)
    return [SimilarityTracker(layers=layers, probe=probe or 32)], (track, probe or 32)


def _tensorboard(args: argparse.Namespace, tracker: list[Any]) -> list[Any]:
    """``--tensorboard DIR`` as a TensorBoard callback after the tracker (none without it)."""
    if not args.tensorboard:
        return []
    from ..train.tensorboard import TensorBoard  # tensorboardX: imported when asked for

    return [TensorBoard(args.tensorboard, tracker=tracker[0] if tracker else None)]
