"""``convscope similarity``: seed 000's analysis of one layer, from the command line."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from .._io import write_json, write_text
from ..adapters import resolve_layers
from ..adapters.base import default_tracked_layer
from ..capturing import capture
from ..capturing import layers as list_layers
from ..errors import ConvscopeError, UnknownNameError
from ._common import (
    add_json_arg,
    add_model_data_args,
    check_out,
    default_out,
    load_model_and_data,
    model_spec,
    nonfinite_counts,
    parse_layers,
    print_json,
    request_options,
    result_stem,
    split_options,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``similarity`` to the CLI."""
    p = sub.add_parser(
        "similarity",
        help="mean channel similarity, extreme pairs and redundancy groups of a layer",
        description="Capture a layer for the first N images of a split and print its mean "
        "channel similarity (seed 000), the most and least similar pairs and the redundancy "
        "groups; write the similarity matrix as CSV and JSON.",
    )
    add_model_data_args(p)
    p.add_argument(
        "--layer", default=None, help="layer name, index or glob (default: the last conv layer)"
    )
    p.add_argument(
        "--images",
        type=int,
        default=32,
        help="number of images (default 32; 1 reproduces seed 000)",
    )
    p.add_argument("--metric", default="multiply", help="multiply (seed 000), cosine or pearson")
    p.add_argument(
        "--threshold", type=float, default=None, help="redundancy threshold (default: the metric's)"
    )
    p.add_argument(
        "--max-ratio",
        type=float,
        default=3.0,
        help="least-similar pairs must have peaks within this ratio (seed 000: 3)",
    )
    p.add_argument(
        "--out",
        help="folder for LAYER-METRIC.csv and .json (options other than the defaults are "
        "named in the file name too; default: RUN/similarity or ./similarity)",
    )
    add_json_arg(p)
    p.set_defaults(func=_similarity)


def _similarity(args: argparse.Namespace) -> int:
    from ..metrics import similarity as sim  # torch: imported when the verb runs

    if args.images < 1:
        raise ConvscopeError(f"--images must be at least 1, got {args.images}")
    if args.metric not in sim.available_metrics():  # before loading anything
        raise UnknownNameError("similarity metric", [args.metric], sim.available_metrics())
    out = check_out(default_out(args, "similarity"))
    model, meta, data = load_model_and_data(args)
    layer = _layer(model, args.layer)
    x, _y = data.split(args.split)
    x = x[: args.images]
    maps = capture(model, x, layers=[layer])[layer]
    bad = nonfinite_counts({layer: maps})
    if bad:
        images = int((~np.isfinite(maps.reshape(len(maps), -1))).any(axis=1).sum())
        raise ConvscopeError(
            f"layer {layer!r} has {bad[layer]} NaN/Inf activation(s) in {images} of {len(x)} "
            "image(s): its channel similarity cannot be computed. Check the model's weights "
            f"(`convscope stats {model_spec(args)}` names every affected layer) and the "
            "input scaling"
        )
    record = _measure(sim, maps, layer, args)
    record.update(images=len(x), split=args.split, data=data.name,
                  seed=split_options(args, model_spec(args))["seed"])  # fmt: skip
    stem = result_stem(
        layer, args.metric, **request_options(args, model_spec(args), meta),
        n=args.images if args.images != 32 else None, t=args.threshold,
        r=args.max_ratio if args.max_ratio != 3.0 else None,
    )  # fmt: skip
    written = [write_text(out / f"{stem}.csv", _matrix_csv(record["matrix"])),
               write_json(out / f"{stem}.json", record)]  # fmt: skip
    if args.json:
        print_json({**record, "files": [str(p) for p in written]})
        return 0
    _print(record, maps.shape, written)
    return 0


def _layer(model: object, text: str | None) -> str:
    """The one layer --layer names (default: the last conv layer)."""
    selection = parse_layers(text)
    infos = list_layers(model)
    names = (
        resolve_layers(selection, infos)
        if selection is not None
        else [default_tracked_layer(infos)]
    )
    if len(names) != 1:
        raise ConvscopeError(
            f"--layer {text!r} selects {len(names)} layers ({', '.join(names)}); name one"
        )
    return names[0]


def _measure(sim: Any, maps: np.ndarray, layer: str, args: argparse.Namespace) -> dict[str, Any]:
    """Mean similarity per image, the extreme pairs, the redundancy groups, the matrix."""
    per_image = np.atleast_1d(
        sim.mean_similarity(maps, metric=args.metric, per_image=True, layer=layer)
    )
    S = sim.pairwise(maps, metric=args.metric, layer=layer)
    ext = sim.extreme_pairs(
        maps, metric=args.metric, max_ratio=args.max_ratio, layer=layer, similarity=S
    )
    red_kwargs = {} if args.threshold is None else {"threshold": args.threshold}
    red = sim.redundancy(maps, metric=args.metric, layer=layer, similarity=S, **red_kwargs)
    return {
        "layer": layer,
        "metric": args.metric,
        "channels": int(maps.shape[1]),
        "mean": float(per_image.mean()),
        "std": float(per_image.std()),
        "per_image": per_image.tolist(),
        "most": None if ext.most is None else ext.most._asdict(),
        "least": None if ext.least is None else ext.least._asdict(),
        "groups": [list(map(int, g)) for g in red.groups],
        "threshold": float(red.threshold),
        "max_ratio": float(args.max_ratio),
        "distinct_maps": int(red.n_distinct),
        "effective_rank": float(red.effective_rank),
        "matrix": np.asarray(S).tolist(),
    }


def _matrix_csv(matrix: list[list[float]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["channel", *range(len(matrix))])
    for i, row in enumerate(matrix):
        writer.writerow([i, *(f"{v:.6f}" for v in row)])
    return buffer.getvalue()


def _print(record: dict[str, Any], shape: tuple[int, ...], written: list[Path]) -> None:
    dims = "x".join(map(str, shape[1:]))
    print(
        f"layer {record['layer']} ({dims}), metric {record['metric']}, {record['images']} "
        f"{record['split']} images of {record['data']}"
    )
    per_image = np.asarray(record["per_image"])
    print(f"mean similarity   {record['mean']:.6f}  (std over images {per_image.std():.6f})")
    for label, key in (("most similar", "most"), ("least similar", "least")):
        pair_ = record[key]
        if pair_ is None:
            print(f"{label:<17} none qualifies")
        else:
            print(f"{label:<17} #{pair_['i']} and #{pair_['j']}: {pair_['value']:.6f}")
    groups = record["groups"]
    print(
        f"redundancy        {len(groups)} group(s) above {record['threshold']:.2f}; "
        f"{record['distinct_maps']} distinct maps of {record['channels']} (effective rank "
        f"{record['effective_rank']:.1f})"
    )
    for k, group in enumerate(groups, 1):
        print(f"  group {k}: {', '.join(map(str, group))}")
    print(f"wrote {written[0]} and {written[1].name}")
