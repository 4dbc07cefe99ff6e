"""``convscope classes`` (seed 001's class firing profile) and ``convscope stats``."""

# ruff: noqa: T201  -- CLI verbs print their results

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConvscopeError
from ._common import (
    add_json_arg,
    add_model_data_args,
    check_device,
    check_out,
    default_out,
    load_model_and_data,
    model_spec,
    parse_layers,
    print_json,
    request_options,
    result_stem,
    run_seed_of,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``classes`` and ``stats`` to the CLI."""
    p = sub.add_parser(
        "classes",
        help="class x unit firing profile of a layer and the nearest classes (seed 001)",
        description="Profile which units of a layer fire for which class over a whole split, "
        "compare classes by their firing rates and rank, for each class, the most alike "
        "classes. Writes profile.csv, distance.csv, nearest.csv and ranking.png.",
    )
    add_model_data_args(p)
    p.add_argument(
        "--layer",
        default=None,
        help="layer name or index (default: the layer feeding the output, e.g. dense for "
        "fashion_gap as in seed 001, flatten for mnist_convnet)",
    )
    p.add_argument(
        "--threshold", type=float, default=0.0, help="a unit fires above this (default 0)"
    )
    p.add_argument(
        "--reduce",
        choices=["any", "mean"],
        default="any",
        help="conv layers: a channel fires when any cell (any) or its mean (mean) is above "
        "the threshold",
    )
    p.add_argument(
        "--metric",
        choices=["l1", "cosine", "correlation"],
        default="l1",
        help="class distance: l1 (seed 001's mean absolute difference), cosine, correlation",
    )
    p.add_argument("--top", type=int, default=3, help="nearest classes printed per class")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    p.add_argument(
        "--out",
        help="this request's output folder (default: RUN/classes/LAYER-REDUCE-METRIC..., the "
        "options in the name, or ./classes/... for a model file)",
    )
    add_engine_args(p)
    add_json_arg(p)
    p.set_defaults(func=_classes)

    p = sub.add_parser(
        "stats",
        help="per-layer channel statistics: dead channels, firing fraction, mean similarity",
        description="Stream a split through the model once and report, per layer, the "
        "channels that never fire, how often channels fire and the mean channel similarity "
        "averaged over images.",
    )
    add_model_data_args(p)
    p.add_argument("--layers", default="conv", help="layer selection (default: conv)")
    p.add_argument(
        "--threshold", type=float, default=0.0, help="a channel fires above this (default 0)"
    )
    p.add_argument(
        "--similarity-samples",
        type=int,
        default=256,
        help="images the mean similarity is averaged over per layer (default 256; 0 skips)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    p.add_argument("--out", help="also write stats.json into this folder")
    add_engine_args(p)
    add_json_arg(p)
    p.set_defaults(func=_stats)


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine``, ``--address``, ``--workers`` and ``--device``: where the data-set pass runs.

    Example:
        >>> p = argparse.ArgumentParser(); add_engine_args(p)
        >>> a = p.parse_args(["--engine", "ray", "--workers", "2"])
        >>> a.engine, a.workers, a.address, a.device
        ('ray', 2, None, None)
    """
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="run the data-set pass in this process (local) or on Ray, shard by shard "
        "(needs pip install 'convscope[ray]')",
    )
    p.add_argument(
        "--address",
        help="Ray cluster to join: auto or HOST:PORT (default: start a local Ray)",
    )
    p.add_argument(
        "--workers", type=int, default=2, help="local Ray workers (CPUs) to start (default 2)"
    )
    p.add_argument(
        "--device",
        help="torch device for the pass, e.g. cuda: batches and maps stay on the GPU",
    )


def prepare_engine(args: argparse.Namespace, model: Any, meta: Any, data: Any) -> tuple[Any, Any]:
    """The model on ``--device`` and the ``engine`` hook for ``scan`` (None: this process).

    Raises:
        ConvscopeError: --address without --engine ray, a bad worker count,
            a device torch cannot use, or no Ray installed (the message says how).
    """
    from ..engine import DataSpec, RayEngine, require_ray

    if args.device:
        model = _on_device(model, check_device(args.device))
    if args.engine != "ray":
        if args.address:
            raise ConvscopeError("--address needs --engine ray")
        return model, None
    require_ray()
    if args.workers < 1:
        raise ConvscopeError(f"--workers must be >= 1, got {args.workers}")
    spec = model_spec(args)
    x, y = data.split(args.split)
    name = args.data or (meta.dataset if meta is not None else data.name)
    if str(name).startswith("folder:"):  # the files are on this machine: ship the arrays
        source: Any = (x, y)
    else:
        seed = args.seed if args.seed is not None else run_seed_of(spec)
        source = DataSpec(name, args.split, args.data_dir, seed, tuple(x.shape[1:]))
    engine = RayEngine(
        spec, source, args.workers, args.address, batch_size=args.batch_size,
        device=args.device, progress=True,
    )  # fmt: skip
    return model, engine


def _on_device(model: Any, device: str) -> Any:
    """Move a torch model to ``device``; refuse what cannot go there."""

    from ..adapters import adapter_for

    with adapter_for(model) as adapter:
        module = adapter.torch_module
    if module is None:
        raise ConvscopeError(
            "--device takes torch models; Keras and ONNX models run where their backend runs them"
        )
    try:
        return module.to(device)
    except (RuntimeError, ValueError) as exc:
        raise ConvscopeError(f"--device {device}: {exc}") from None


def _classes(args: argparse.Namespace) -> int:
    from .._io import write_text
    from ..analysis import resolve_one, scan
    from ..analysis.firing import (
        FiringAccumulator,
        check_reduce,
        check_threshold,
        class_distance,
        default_layer,
        nearest,
    )
    from ..report.nonfinite import NonFiniteCounter

    check_threshold(args.threshold)
    if args.top < 0:
        raise ConvscopeError(f"--top must be >= 0, got {args.top}")
    check_device(args.device)
    check_out(default_out(args, "classes"))  # before any compute
    model, meta, data = load_model_and_data(args)
    x, y = data.split(args.split)
    if y is None or len(y) == 0:
        raise ConvscopeError(f"the {args.split} split of {data.name} has no labelled images")
    names = list(data.class_names) or (list(meta.class_names) if meta is not None else [])
    model, engine = prepare_engine(args, model, meta, data)
    layer = resolve_one(
        model, parse_layers(args.layer) if args.layer is not None else default_layer(model),
        "classes",
    )  # fmt: skip
    acc = FiringAccumulator(len(names) or None, args.threshold, check_reduce(args.reduce),
                            layer=layer, class_names=names or None)  # fmt: skip
    prof, bad = scan(model, (x, y), acc, NonFiniteCounter([layer]), batch_size=args.batch_size,
                     device=args.device, engine=engine)  # fmt: skip
    _refuse_nonfinite(bad, layer, "its firing profile would count them as not firing", args)
    names = prof.class_names
    dist = class_distance(prof, metric=args.metric)
    ranks = nearest(dist)
    out = _classes_out(args, meta, layer)
    prof.to_csv(out / "profile.csv")
    write_text(out / "distance.csv", _distance_csv(dist, names))
    write_text(out / "nearest.csv", _nearest_csv(ranks, names))
    _ranking_figure(dist, x, y, names, out / "ranking.png", data.name)
    written = ["profile.csv", "distance.csv", "nearest.csv", "ranking.png"]
    if args.json:
        print_json(_classes_json(prof, args, data.name, ranks, out, written))
        return 0
    print(
        f"layer {prof.layer} ({prof.num_units} units), threshold {prof.threshold:g}, "
        f"reduce {prof.reduce}, metric {args.metric}, {int(prof.counts.sum())} {args.split} "
        f"images of {data.name}"
    )
    print(format_nearest_table(ranks, names, prof.counts, top=args.top))
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _refuse_nonfinite(bad: dict, layer: str, why: str, args: argparse.Namespace) -> None:
    """NaN/Inf activations in the analysed layer: an error naming the layer and the count."""
    if not bad:
        return
    from ..report.nonfinite import describe

    raise ConvscopeError(
        f"layer {describe(layer, bad[layer])}; {why}. Check the model's weights "
        f"(`convscope stats {model_spec(args)} --layers all` names every affected layer) and "
        "the input scaling"
    )


def _classes_out(args: argparse.Namespace, meta: Any, layer: str) -> Path:
    """--out, else a folder per request under RUN/classes: the options in its name."""
    if args.out:
        return Path(args.out)
    stem = result_stem(
        layer, args.reduce, args.metric, **request_options(args, model_spec(args), meta),
        t=args.threshold if args.threshold != 0.0 else None,
    )  # fmt: skip
    return default_out(args, "classes") / stem


def _classes_json(
    prof: Any, args: argparse.Namespace, data: str, ranks: list, out: Path, written: list[str]
) -> dict[str, Any]:
    """``convscope classes --json``."""
    names = prof.class_names
    return {
        "layer": prof.layer, "units": int(prof.num_units), "threshold": float(prof.threshold),
        "reduce": prof.reduce, "metric": args.metric, "split": args.split, "data": data,
        "images": int(prof.counts.sum()),
        "classes": [
            {"class": names[k], "count": int(prof.counts[k]),
             "nearest": [{"class": names[j], "distance": float(d)} for j, d in row[: args.top]]}
            for k, row in enumerate(ranks)
        ],
        "files": [str(out / name) for name in written],
    }  # fmt: skip


def format_nearest_table(
    ranks: list[list[tuple[int, float]]],
    names: list[str],
    counts: np.ndarray,
    top: int = 3,
) -> str:
    """Text table: one row per class, its sample count, then its ``top`` nearest classes."""
    width = max([len("class")] + [len(n) for n in names]) + 2
    header = f"{'class':<{width}}{'n':>6}  nearest (distance)"
    lines = [header, "-" * max(len(header), 40)]
    for k, row in enumerate(ranks):
        near = ", ".join(f"{names[j]} {d:.4f}" for j, d in row[:top])
        lines.append(f"{names[k]:<{width}}{int(counts[k]):>6}  {near}")
    return "\n".join(lines)


def _distance_csv(dist: np.ndarray, names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", *names])
    for k, name in enumerate(names):
        writer.writerow([name, *(repr(float(v)) for v in dist[k])])
    return buffer.getvalue()


def _nearest_csv(ranks: list[list[tuple[int, float]]], names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", "rank", "neighbour", "distance"])
    for k, row in enumerate(ranks):
        for rank, (j, d) in enumerate(row, start=1):
            writer.writerow([names[k], rank, names[j], repr(d)])
    return buffer.getvalue()


def _ranking_figure(
    dist: np.ndarray, x: np.ndarray, y: np.ndarray, names: list[str], path: Path, data_name: str
) -> None:
    from .._io import save_figure
    from ..data import class_examples
    from ..render import class_ranking

    examples = class_examples(x, y, len(names))  # a class with no image gets a black tile
    fig = class_ranking(dist, examples, names, title=f"nearest classes ({data_name})")
    save_figure(fig, path)


def _stats(args: argparse.Namespace) -> int:
    import warnings

    from .._io import write_json
    from ..analysis import scan
    from ..metrics.firing import check_threshold
    from ..metrics.stats import ChannelStats

    check_threshold(args.threshold)
    if args.similarity_samples < 0:
        raise ConvscopeError(f"--similarity-samples must be >= 0, got {args.similarity_samples}")
    check_device(args.device)
    if args.out:
        check_out(args.out)  # before any compute
    model, meta, data = load_model_and_data(args)
    x, _y = data.split(args.split)
    model, engine = prepare_engine(args, model, meta, data)
    acc = ChannelStats(args.threshold, args.similarity_samples, layers=parse_layers(args.layers))
    (stats,) = scan(model, x, acc, batch_size=args.batch_size, device=args.device, engine=engine)
    affected = [f"{n} ({s.nonfinite} in {s.nonfinite_images} of {s.num_samples} images)"
                for n, s in stats.items() if s.nonfinite]  # fmt: skip
    if affected:
        warnings.warn(
            f"NaN/Inf activations in {len(affected)} layer(s), marked ! in the table: "
            f"{', '.join(affected)}; a NaN counts as not firing, and the mean similarity "
            "leaves those images out",
            RuntimeWarning,
            stacklevel=1,
        )
    record = {n: s.to_dict() for n, s in stats.items()}
    path = write_json(Path(args.out) / "stats.json", record) if args.out else None
    if args.json:
        print_json({"split": args.split, "data": data.name, "images": len(x),
                    "threshold": float(args.threshold), "layers": record,
                    "file": None if path is None else str(path)})  # fmt: skip
        return 0
    print(f"{len(x)} {args.split} images of {data.name}, a channel fires above {args.threshold:g}")
    print(format_stats_table(stats))
    if path is not None:
        print(f"wrote {path}")
    return 0


def format_stats_table(stats: dict[str, Any]) -> str:
    """Text table of :func:`convscope.analysis.stats.channel_stats` results."""
    width = max([len("layer")] + [len(n) for n in stats]) + 2
    header = (
        f"{'layer':<{width}}{'channels':>9}{'dead':>6}{'fire frac':>11}{'min frac':>10}"
        f"{'mean sim':>12}{'sim imgs':>9}  dead channels"
    )
    lines = [header, "-" * len(header)]
    for name, s in stats.items():
        sim = f"{s.mean_similarity:.5g}" if s.mean_similarity is not None else "-"
        dead = ", ".join(map(str, s.dead[:12].tolist())) + (" ..." if len(s.dead) > 12 else "")
        mark = "!" if getattr(s, "nonfinite", 0) else ""
        lines.append(
            f"{name + mark:<{width}}{s.num_channels:>9}{len(s.dead):>6}"
            f"{float(np.mean(s.fire_fraction)):>11.3f}{float(np.min(s.fire_fraction)):>10.3f}"
            f"{sim:>12}{s.similarity_samples:>9}  {dead or '-'}"
        )
    return "\n".join(lines)
