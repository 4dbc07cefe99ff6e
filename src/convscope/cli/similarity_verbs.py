"""``convscope similarity``: seed 000's analysis of one layer, from the command line."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import numpy as np

from .._io import safe_filename, write_json, write_text
from ..adapters import resolve_layers
from ..adapters.base import default_tracked_layer
from ..capturing import capture
from ..capturing import layers as list_layers
from ..errors import ConvscopeError
from ._common import add_model_data_args, load_model_and_data, parse_layers


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
        help="folder for similarity.csv and similarity.json (default: RUN/similarity or ./similarity)",
    )
    p.set_defaults(func=_similarity)


def _similarity(args: argparse.Namespace) -> int:
    from ..metrics import similarity as sim  # torch: imported when the verb runs

    model, _meta, data = load_model_and_data(args)
    if args.images < 1:
        raise ConvscopeError(f"--images must be at least 1, got {args.images}")
    selection = parse_layers(args.layer)
    infos = list_layers(model)
    names = (
        resolve_layers(selection, infos)
        if selection is not None
        else [default_tracked_layer(infos)]
    )
    if len(names) != 1:
        raise ConvscopeError(
            f"--layer {args.layer!r} selects {len(names)} layers ({', '.join(names)}); name one"
        )
    layer = names[0]
    x, _y = data.split(args.split)
    x = x[: args.images]
    maps = capture(model, x, layers=[layer])[layer]
    per_image = np.atleast_1d(
        sim.mean_similarity(maps, metric=args.metric, per_image=True, layer=layer)
    )
    S = sim.pairwise(maps, metric=args.metric, layer=layer)
    ext = sim.extreme_pairs(
        maps, metric=args.metric, max_ratio=args.max_ratio, layer=layer, similarity=S
    )
    red_kwargs = {} if args.threshold is None else {"threshold": args.threshold}
    red = sim.redundancy(maps, metric=args.metric, layer=layer, similarity=S, **red_kwargs)

    shape = "x".join(map(str, maps.shape[1:]))
    print(
        f"layer {layer} ({shape}), metric {args.metric}, {len(x)} {args.split} images of {data.name}"
    )
    print(f"mean similarity   {per_image.mean():.6f}  (std over images {per_image.std():.6f})")
    for label, pair_ in (("most similar", ext.most), ("least similar", ext.least)):
        if pair_ is None:
            print(f"{label:<17} none qualifies")
        else:
            i, j, value = pair_
            print(f"{label:<17} #{i} and #{j}: {value:.6f}")
    print(
        f"redundancy        {len(red.groups)} group(s) above {red.threshold:.2f}; "
        f"{red.n_distinct} distinct maps of {maps.shape[1]} (effective rank {red.effective_rank:.1f})"
    )
    for k, group in enumerate(red.groups, 1):
        print(f"  group {k}: {', '.join(map(str, group))}")

    spec = args.model_path or args.model
    default_out = Path(spec) / "similarity" if spec and Path(spec).is_dir() else Path("similarity")
    out = Path(args.out) if args.out else default_out
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["channel", *range(S.shape[1])])
    for i, row in enumerate(S):
        writer.writerow([i, *(f"{v:.6f}" for v in row)])
    write_text(out / f"similarity_{safe_filename(layer)}.csv", buffer.getvalue())
    write_json(
        out / f"similarity_{safe_filename(layer)}.json",
        {
            "layer": layer,
            "metric": args.metric,
            "images": len(x),
            "split": args.split,
            "data": data.name,
            "mean": float(per_image.mean()),
            "std": float(per_image.std()),
            "per_image": per_image.tolist(),
            "most": None if ext.most is None else ext.most._asdict(),
            "least": None if ext.least is None else ext.least._asdict(),
            "groups": [list(map(int, g)) for g in red.groups],
            "threshold": float(red.threshold),
            "distinct_maps": int(red.n_distinct),
            "effective_rank": float(red.effective_rank),
            "matrix": np.asarray(S).tolist(),
        },
    )
    print(f"wrote {out / f'similarity_{safe_filename(layer)}.csv'} and .json")
    return 0
