"""``convscope prune``: remove a layer's most removable channels into a new, smaller run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import ConvscopeError
from ..runfolder import RunFolder
from ._common import (
    add_model_data_args,
    check_out,
    load_model_and_data,
    model_spec,
    parse_layers,
    split_options,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``prune`` to the CLI.

    Example:
        >>> p = argparse.ArgumentParser(); register(p.add_subparsers())
        >>> p.parse_args(["prune", "runs/a", "--layer", "conv2d_1", "--out", "b"]).fraction
        0.3
    """
    p = sub.add_parser(
        "prune",
        help="remove a layer's most redundant (or weakest) channels: a smaller model",
        description="Rank the channels of one conv or dense layer (redundancy: most similar "
        "to another channel on training images; weight_norm; fpgm; random), remove the first "
        "ones for real (a narrower zoo model, not a mask), optionally fine-tune, evaluate on "
        f"the test split and write a run folder (OUT/{RunFolder.MODEL}, {RunFolder.RECORD} "
        f"with the pruning, {RunFolder.EVALUATION}) that every other verb reads.",
    )
    add_model_data_args(p, split=False)
    p.add_argument("--layer", required=True, help="conv or hidden dense layer to prune")
    p.add_argument(
        "--by",
        default="redundancy",
        choices=["redundancy", "weight_norm", "fpgm", "random"],
        help="ranking criterion (default redundancy)",
    )
    amount = p.add_mutually_exclusive_group()
    amount.add_argument(
        "--fraction", type=float, default=0.3, help="share of channels to remove (default 0.3)"
    )
    amount.add_argument("--count", type=int, help="number of channels to remove")
    p.add_argument(
        "--metric",
        default="multiply",
        help="similarity metric for --by redundancy (default multiply)",
    )
    p.add_argument(
        "--samples", type=int, default=256, help="training images compared (default 256)"
    )
    p.add_argument(
        "--finetune", type=int, default=0, help="epochs of fine-tuning after pruning (default 0)"
    )
    p.add_argument("--lr", type=float, default=1e-3, help="fine-tuning Adam learning rate")
    p.add_argument("--batch-size", type=int, default=128, help="fine-tuning batch size")
    p.add_argument("--out", required=True, help="run folder for the pruned model")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_prune)


def _say(text: str, quiet: bool) -> None:
    if not quiet:
        print(text, flush=True)


def _save_unfinetuned(model: Any, run: RunFolder, names: list[str], data: Any, seed: int) -> None:
    """The pruned weights and a run record, as ``fit`` would leave them after 0 epochs."""
    from ..models import save_model
    from ..train.record import model_description, new_record, now

    save_model(model, run.model, class_names=names, dataset=data.name, extra={"seed": seed})
    record = new_record(
        model_desc=model_description(model),
        data_desc={"name": data.name},
        class_names=names,
        options={"seed": seed, "epochs": 0, "monitor": "val_loss"},
    )
    record.update(status="complete", ended=now())
    run.write_record(record)


def _prune(args: argparse.Namespace) -> int:
    from ..analysis import resolve_one
    from ..prune import check_prunable, parameter_count, prune, rank_channels
    from ..train import evaluate, fit

    spec = model_spec(args)
    run = RunFolder(args.out)
    if spec and Path(spec).resolve() == run.path.resolve():
        raise ConvscopeError(f"--out {args.out} is the run being pruned; name a new folder")
    if args.samples < 1 or args.finetune < 0:
        raise ConvscopeError("--samples must be >= 1 and --finetune >= 0")
    check_out(run.path)  # before any compute
    if run.is_run() and not args.force:
        raise ConvscopeError(
            f"--out {args.out} already holds a run; name a new folder, or pass --force to "
            "replace it"
        )
    model, meta, data = load_model_and_data(args)
    layer = resolve_one(model, parse_layers(args.layer), "prune")
    check_prunable(model, layer)  # before ranking: a bad layer fails at once
    seed = data_seed(args, spec)
    names = (meta.class_names if meta is not None else None) or list(data.class_names)
    ranking = rank_channels(
        model, data.x_train, layer, args.by, metric=args.metric, samples=args.samples,
        seed=seed,
    )  # fmt: skip
    if args.count is not None:
        channels = ranking.select(args.count)
    else:
        channels = ranking.select(fraction=args.fraction)
    before = evaluate(model, data.x_test, data.y_test, names)
    pruned = prune(model, ranking.layer, channels)
    pruned_eval = evaluate(pruned, data.x_test, data.y_test, names)
    if args.finetune > 0:
        fit(
            pruned, data, epochs=args.finetune, lr=args.lr, batch_size=args.batch_size,
            seed=seed, out=run, progress=not args.json, class_names=names, dataset_name=data.name,
        )  # fmt: skip
    else:
        _save_unfinetuned(pruned, run, names, data, seed)
    final = evaluate(pruned, data.x_test, data.y_test, names)
    final.split, final.dataset, final.seed = "test", data.name, seed
    final.save(run.evaluation_dir)
    fractions = split_options(args, spec)
    run.record_split(fractions["val_fraction"], fractions["test_fraction"])
    summary = {
        "source": str(spec),
        "layer": ranking.layer,
        "by": args.by,
        "metric": ranking.metric,
        "removed": channels,
        "channels": [ranking.num_channels, ranking.num_channels - len(channels)],
        "parameters": [parameter_count(model), parameter_count(pruned)],
        "test_accuracy": {
            "original": before.accuracy,
            "pruned": pruned_eval.accuracy,
            "final": final.accuracy,
        },
        "finetune_epochs": args.finetune,
        "seed": seed,
    }
    record = run.record()
    record["pruning"] = summary
    run.write_record(record)
    _report(summary, run, args.json)
    return 0


def data_seed(args: argparse.Namespace, spec: str) -> int:
    """The split seed: --seed, else the source run's (so its test split stays unseen)."""
    from ._common import run_seed_of

    return args.seed if args.seed is not None else run_seed_of(spec)


def _report(summary: dict[str, Any], run: RunFolder, as_json: bool) -> None:
    if as_json:
        print(json.dumps({**summary, "out": str(run.path)}, indent=2))
        return
    c0, c1 = summary["channels"]
    p0, p1 = summary["parameters"]
    acc = summary["test_accuracy"]
    how = summary["by"] + (f" ({summary['metric']})" if summary["metric"] else "")
    print(f"Pruned {summary['layer']}: {c0 - c1} of {c0} channels removed by {how}")
    print(f"parameters     {p0:,} -> {p1:,} ({100.0 * (p1 - p0) / p0:+.1f} %)")
    print(f"test accuracy  {acc['original']:.4f} -> {acc['pruned']:.4f} after pruning", end="")
    if summary["finetune_epochs"]:
        print(f" -> {acc['final']:.4f} after {summary['finetune_epochs']} fine-tuning epoch(s)")
    else:
        print()
    print(f"Run saved to {run.path}")
