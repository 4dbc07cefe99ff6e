"""``convscope evaluate``: loss, accuracy, per-class accuracy and confusion matrix.

Each request is kept apart: ``evaluate RUN`` writes
``RUN/evaluations/<split>-<dataset>-seed<seed>/`` (:meth:`RunFolder.request_dir`), and
never the run's own ``evaluation.json`` (the test split of the run's data and seed, which
``train`` writes and ``report`` shows) — except to fill it in when a run has none and the
request is exactly that one. A model file or zoo name writes only where ``--out`` says.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..runfolder import RunFolder
from ._common import (
    add_json_arg,
    add_model_data_args,
    check_out,
    load_model_and_data,
    model_spec,
    print_json,
    run_folder,
    say,
    split_options,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` to the CLI.

    Example:
        >>> p = argparse.ArgumentParser(); register(p.add_subparsers())
        >>> p.parse_args(["evaluate", "runs/a", "--split", "train"]).split
        'train'
    """
    p = sub.add_parser(
        "evaluate",
        help="evaluate a trained run or model file on a split of a data set",
        description=f"Load the model (RUN/{RunFolder.MODEL}, or a .safetensors, .keras, .h5 "
        "or .onnx file with --data) and its data set (a run's own split: its seed and "
        "fractions), print loss, accuracy, per-class accuracy and the confusion matrix. A run "
        f"keeps each request in RUN/{RunFolder.EVALUATIONS}/<split>-<data>-seed<seed>/; its "
        f"own {RunFolder.EVALUATION} (what `report` shows) is never replaced.",
    )
    add_model_data_args(p)
    p.add_argument("--batch-size", type=int, default=512, help="images per forward pass")
    p.add_argument(
        "--out",
        help=f"folder for {RunFolder.EVALUATION} and {RunFolder.PREDICTIONS} (default for a "
        f"run: RUN/{RunFolder.EVALUATIONS}/<split>-<data>-seed<seed>; a model file: not saved)",
    )
    p.add_argument("--normalized", action="store_true", help="print row-normalised matrix")
    add_json_arg(p)
    p.set_defaults(func=_evaluate)


def _destination(args: argparse.Namespace, run: RunFolder | None, request: tuple) -> Path | None:
    if args.out:
        return Path(args.out)
    return run.request_dir(*request) if run is not None else None


def _evaluate(args: argparse.Namespace) -> int:
    from ..errors import ConvscopeError
    from ..train import evaluate  # torch: imported when the verb runs

    if args.batch_size < 1:
        raise ConvscopeError(f"--batch-size must be >= 1, got {args.batch_size}")
    spec = model_spec(args)
    run = run_folder(spec)
    if args.out:  # before any compute
        check_out(args.out)
    model, meta, data = load_model_and_data(args)
    seed = split_options(args, spec)["seed"]
    request = (args.split, data.name, seed)
    dest = _destination(args, run, request)
    if dest is not None:
        check_out(dest)
    x, y = data.split(args.split)
    if y is None or len(y) == 0:
        raise ConvscopeError(f"the {args.split} split of {data.name} has no labelled images")
    names = (meta.class_names if meta is not None else None) or data.class_names
    ev = evaluate(model, x, y, names, batch_size=args.batch_size)
    ev.split, ev.dataset, ev.seed = request
    if meta is not None and meta.extra.get("epoch") is not None:
        ev.extra = {"best_epoch": meta.extra.get("epoch")}
    written = _save(ev, dest, run, request)
    if args.json:
        print_json({**ev.to_dict(), "saved": [str(p) for p in written]})
        return 0
    say(args, ev.to_text(normalized=args.normalized))
    say(args)
    if written:
        say(args, f"Wrote {' and '.join(str(p) for p in written)} (with {RunFolder.PREDICTIONS})")
    else:
        say(args, f"Not saved: pass --out DIR to keep {RunFolder.EVALUATION}")
    return 0


def _save(ev: Any, dest: Path | None, run: RunFolder | None, request: tuple) -> list[Path]:
    """Write the request's folder; fill in the run's own evaluation if it has none."""
    written = [ev.save(dest)] if dest is not None else []
    if run is not None and not run.evaluation.exists() and run.is_own_request(*request):
        written.append(ev.save(run.evaluation_dir))
    return written
