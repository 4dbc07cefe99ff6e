"""``convscope atlas``: per channel, the image patches that activate it most."""

# ruff: noqa: T201  -- CLI verbs print their results

from __future__ import annotations

import argparse
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
)
from .firing_verbs import add_engine_args, prepare_engine

PER_PAGE = 16


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``atlas`` to the CLI."""
    p = sub.add_parser(
        "atlas",
        help="top-k exemplar patches per channel (what each channel responds to)",
        description="Stream a split through the model once, keep for every channel of the "
        "chosen layers the k highest activations (image, cell, value), crop each to the "
        "unit's receptive field and overlay the activation. Writes per layer "
        "<layer>.json (the exemplars), <layer>.npz (patches and overlays as arrays) and "
        "<layer>_pN.png (16 channels a page).",
    )
    add_model_data_args(p)
    p.add_argument("--layers", default=None, help="layer selection (default: the last conv layer)")
    p.add_argument("--k", type=int, default=9, help="exemplars per channel (default 9)")
    p.add_argument(
        "--channels", help="channels to draw, e.g. 0-15,40 (default all; the JSON has all)"
    )
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    p.add_argument(
        "--out",
        help="output folder (default: RUN/atlas or ./atlas; a request with other options than "
        "the defaults gets a subfolder named after them)",
    )
    add_engine_args(p)
    add_json_arg(p)
    p.set_defaults(func=_atlas)


def parse_channels(text: str | None) -> list[int] | None:
    """``0-3,9`` as ``[0, 1, 2, 3, 9]``.

    Raises:
        ConvscopeError: not a list of numbers and ranges.

    Example:
        >>> parse_channels("0-3,9"), parse_channels(None)
        ([0, 1, 2, 3, 9], None)
    """
    if text is None:
        return None
    out: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ConvscopeError(f"--channels takes numbers and ranges like 0-15,40; got {part!r}")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _out_dir(args: argparse.Namespace, meta: Any) -> Path:
    """--out, else RUN/atlas; a request with non-default options: a subfolder naming them."""
    if args.out:
        return Path(args.out)
    options = request_options(args, model_spec(args), meta)
    extra = {**options, "k": args.k if args.k != 9 else None}
    if not any(v is not None for v in extra.values()):
        return default_out(args, "atlas")
    return default_out(args, "atlas") / result_stem("atlas", **extra)


def _layers(model: Any, selection: Any) -> list[str]:
    from ..adapters import adapter_for
    from ..adapters.base import default_tracked_layer, resolve_layers

    with adapter_for(model) as adapter:
        infos = adapter.infos(shapes=False)
    if selection is None:
        return [default_tracked_layer(infos)]
    return resolve_layers(selection, infos)


def _npz(result: Any) -> bytes:
    buffer = io.BytesIO()
    top = result.top
    np.savez_compressed(buffer, channels=result.channels, patches=result.patches,
                        overlays=result.overlays, values=top.values, images=top.images,
                        rows=top.rows, cols=top.cols)  # fmt: skip
    return buffer.getvalue()


def _atlas(args: argparse.Namespace) -> int:
    from .._io import write_bytes, write_json
    from ..analysis import scan
    from ..analysis.atlas import atlas
    from ..metrics.topk import TopKAccumulator
    from ..render import save
    from ..render.atlas import channel_atlas

    if args.k < 1:
        raise ConvscopeError(f"--k must be >= 1, got {args.k}")
    channels = parse_channels(args.channels)
    check_device(args.device)
    check_out(default_out(args, "atlas"))  # before any compute
    model, meta, data = load_model_and_data(args)
    x, y = data.split(args.split)
    model, engine = prepare_engine(args, model, meta, data)
    names = _layers(model, parse_layers(args.layers))
    acc = TopKAccumulator(args.k, layers=names)
    (tops,) = scan(model, x, acc, batch_size=args.batch_size, device=args.device, engine=engine)
    results = {}
    for name in names:  # every crop checked before anything is written
        results[name] = atlas(model, x, tops[name], channels=channels)
    out = _out_dir(args, meta)
    lines = []
    for name, result in results.items():
        stem = name.replace("/", "_")
        write_json(out / f"{stem}.json", result.to_json())
        write_bytes(out / f"{stem}.npz", _npz(result))
        shown = result.channels
        for page, first in enumerate(range(0, len(shown), PER_PAGE), start=1):
            rows = slice(first, first + PER_PAGE)
            fig = channel_atlas(result.patches[rows], result.overlays[rows],
                                result.top.values[shown[rows]], channels=shown[rows],
                                title=_title(result, shown[rows]))  # fmt: skip
            save(fig, out / f"{stem}_p{page}.png", dpi=100)
        pages = -(-len(shown) // PER_PAGE)
        for stale in out.glob(f"{stem}_p*.png"):  # pages of an earlier, longer atlas
            number = stale.stem.rpartition("_p")[2]
            if number.isdigit() and int(number) > pages:
                stale.unlink()
        lines.append(_summary(result, len(x), args.split, data.name))
    if args.json:
        print_json({"out": str(out), "split": args.split, "data": data.name, "images": len(x),
                    "layers": {name: r.to_json() for name, r in results.items()}})  # fmt: skip
        return 0
    print("\n".join(lines))
    print(
        f"wrote {', '.join(n.replace('/', '_') for n in results)} (.json, .npz, _pN.png) to {out}"
    )
    return 0


def _title(result: Any, channels: np.ndarray) -> str:
    f = result.field
    return (
        f"{result.layer}: top {result.top.values.shape[1]} of {result.top.num_images} images, "
        f"channels {int(channels[0])}-{int(channels[-1])} of {result.top.num_channels}; "
        f"field {f.size[0]}x{f.size[1]} px"
    )


def _summary(result: Any, count: int, split: str, data_name: str) -> str:
    """One line per layer: the field and the channels whose best exemplar is strongest."""
    top = result.top
    best = top.values[:, 0]
    order = np.argsort(-best, kind="stable")[:5]
    strongest = ", ".join(f"{int(c)} ({best[c]:.3g})" for c in order)
    silent = int((best <= 0).sum())
    return (
        f"{result.layer}: {top.num_channels} channels, top {top.values.shape[1]} of {count} "
        f"{split} images of {data_name}; field {result.field.size[0]}x{result.field.size[1]} "
        f"px; strongest channels {strongest}; {silent} channel(s) never above 0"
    )
