"""``convscope maps``: your own images through your own model (seeds 003, 004).

Each image file is read as the model takes it (:func:`convscope.data.read_images`:
resized, EXIF-oriented, transparency on white, 16-bit scaled, optionally normalised),
run once, and drawn as seed 004's belts, seed 002's mosaics and seed 000's overlays; the
top-5 predicted classes are printed. A file that cannot be read is named on one line
with the reason; the other images are still drawn, and the exit status is 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import safe_filename
from ..adapters import adapter_for, resolve_layers
from ..adapters.base import spatial_layers
from ..data import PREPROCESS, RESIZE_MODES, ImageReadError, read_image
from ..data.images import normalize
from ..errors import ConvscopeError
from ._common import add_json_arg, check_out, model_from_spec, parse_layers, print_json

MAX_LAYERS = 12
"""Layers drawn per image by default: a deep model's 50+ conv layers, evenly sampled."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``maps`` to the CLI."""
    p = sub.add_parser(
        "maps",
        help="feature maps of your own image files: belts, mosaics, overlays, top-5 classes",
        description="Read image files (PNG, JPEG, BMP, TIFF, WebP) as the model takes them, "
        "run them once and write, per image, seed 004's belt of every chosen layer, seed "
        "002's mosaic and seed 000's overlay of each, and print the top-5 predicted classes.",
    )
    p.add_argument(
        "model",
        metavar="MODEL_OR_RUN",
        help="run folder, model file (.safetensors, .keras, .h5, .onnx) or zoo name",
    )
    p.add_argument("images", metavar="IMAGE", nargs="*", help="image files")
    p.add_argument(
        "--model", dest="model_path", metavar="PATH", help="model file (same as MODEL_OR_RUN)"
    )
    p.add_argument(
        "--data", help="data set whose class names label the top-5 (default: the model's own)"
    )
    p.add_argument(
        "--layers",
        default=None,
        help="layers to draw: names, indices, kinds, globs, comma-separated (default: conv,pool)",
    )
    p.add_argument(
        "--max-layers",
        type=int,
        default=MAX_LAYERS,
        help=f"draw at most this many layers, evenly spaced (default {MAX_LAYERS}; 0: all)",
    )
    p.add_argument("--out", default="maps", help="output folder (default ./maps)")
    add_image_args(p)
    p.add_argument("--trust", action="store_true", help="load Keras files with custom code")
    add_json_arg(p)
    p.set_defaults(func=_maps)


def add_image_args(p: argparse.ArgumentParser) -> None:
    """How image files become model input: resizing and normalisation.

    Example:
        >>> p = argparse.ArgumentParser(); add_image_args(p)
        >>> p.parse_args(["--preprocess", "imagenet"]).preprocess
        'imagenet'
    """
    p.add_argument(
        "--resize",
        choices=RESIZE_MODES,
        default="fit",
        help="fit: stretch to the model's size (default, as Keras load_img); crop: scale the "
        "short side and crop the centre; pad: scale the long side and pad",
    )
    p.add_argument(
        "--preprocess",
        choices=sorted(PREPROCESS),
        default="none",
        help="normalisation the model was trained with (imagenet: ImageNet mean and std)",
    )
    p.add_argument("--mean", help="per-channel mean after scaling to [0, 1], e.g. 0.5,0.5,0.5")
    p.add_argument("--std", help="per-channel std after scaling to [0, 1], e.g. 0.25,0.25,0.25")
    p.add_argument(
        "--input-shape", help="C,H,W for a model that does not say its input size, e.g. 3,224,224"
    )


def _numbers(text: str | None, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConvscopeError(
            f"{what} takes comma-separated numbers like 0.5,0.5,0.5; got {text!r}"
        ) from None


@dataclass(frozen=True)
class ImageBatch:
    """Image files read for a model: pixels in [0, 1], the model's input, what failed."""

    paths: list[Path]
    pixels: np.ndarray
    inputs: np.ndarray
    failed: list[tuple[str, str]]


def read_cli_images(
    paths: list[str], shape: tuple[int, ...], args: argparse.Namespace
) -> ImageBatch:
    """Read every readable image; each unreadable one is printed on one line to stderr.

    Raises:
        ConvscopeError: bad ``--mean``/``--std``, or no image could be read.
    """
    mean, std = PREPROCESS[args.preprocess]
    mean = _numbers(args.mean, "--mean") or mean
    std = _numbers(args.std, "--std") or std
    good, pixels, failed = [], [], []
    for path in paths:
        try:
            pixels.append(read_image(path, shape, args.resize))
            good.append(Path(path))
        except ImageReadError as exc:
            failed += exc.errors
    if not pixels:  # one line: every file and why
        reasons = "; ".join(f"{name}: {reason}" for name, reason in failed)
        raise ConvscopeError(f"none of the {len(paths)} image file(s) could be read ({reasons})")
    for name, reason in failed:  # the others are drawn; each failed file has its line
        print(f"convscope: error: {name}: {reason}", file=sys.stderr)
    raw = np.stack(pixels)
    return ImageBatch(good, raw, normalize(raw, mean, std), failed)


def model_image_shape(model: Any, args: argparse.Namespace) -> tuple[int, int, int]:
    """(C, H, W) the model takes, from the model or ``--input-shape``."""
    given = _numbers(getattr(args, "input_shape", None), "--input-shape")
    if given is not None:
        if len(given) != 3 or any(v < 1 or v != int(v) for v in given):
            raise ConvscopeError(
                f"--input-shape takes C,H,W like 3,224,224; got {args.input_shape}"
            )
        return tuple(int(v) for v in given)  # type: ignore[return-value]
    with adapter_for(model) as adapter:
        shape = adapter.image_shape
    if shape is None:
        raise ConvscopeError(
            "the model does not say the image size it takes; pass --input-shape C,H,W"
        )
    return tuple(int(v) for v in shape)  # type: ignore[return-value]


def top_classes(scores: np.ndarray, class_names: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` best classes of one output row, as probabilities (softmax of logits).

    Example:
        >>> [(c, round(p, 2)) for c, p in top_classes(np.array([0.0, 2.0, 1.0]), ["a", "b", "c"], 2)]
        [('b', 0.67), ('c', 0.24)]
    """
    row = np.asarray(scores, dtype=np.float64).ravel()
    probs = row
    if not (row.min() >= 0 and abs(row.sum() - 1) < 1e-3):  # logits: softmax them
        exp = np.exp(row - row.max())
        probs = exp / exp.sum()
    names = class_names if len(class_names) == len(row) else [str(i) for i in range(len(row))]
    order = np.argsort(-probs, kind="stable")[:k]
    return [(names[i], float(probs[i])) for i in order]


def _layers_to_draw(
    model: Any, selection: Any, limit: int, shape: tuple[int, ...]
) -> tuple[list[str], str, list[str]]:
    """The spatial layers to draw (evenly sampled down to ``limit``), the output, the rest."""
    from ..analysis import output_layer  # the verb's run time, not the parser's

    with adapter_for(model) as adapter:
        # a model that does not know its size is traced at the one the images were read at
        infos = adapter.infos(input_shape=shape if adapter.input_shape is None else None)
    default = ["kind:conv", "kind:pool"]
    chosen = resolve_layers(selection if selection is not None else default, infos)
    order = {info.name: k for k, info in enumerate(infos)}
    chosen.sort(key=lambda name: order.get(name, len(order)))  # belts top to bottom: model order
    spatial = set(spatial_layers(infos, ("conv", "pool", "norm", "activation", "other", "dense")))
    drawn = [n for n in chosen if n in spatial]
    left_out = [n for n in chosen if n not in spatial]
    if not drawn:
        raise ConvscopeError(
            f"none of the chosen layers has (C, H, W) maps with more than one cell: "
            f"{', '.join(chosen)}; choose conv or pool layers"
        )
    if limit and len(drawn) > limit:
        keep = np.unique(np.linspace(0, len(drawn) - 1, limit).round().astype(int))
        drawn = [drawn[i] for i in keep]
    return drawn, output_layer(infos), left_out


def _spec_and_images(args: argparse.Namespace) -> tuple[str, list[str]]:
    """``--model PATH IMAGE...`` or ``MODEL_OR_RUN IMAGE...``."""
    images = list(args.images)
    if args.model_path:
        images = [args.model, *images] if args.model else images
        spec = args.model_path
    else:
        spec = args.model
    if not images:
        raise ConvscopeError("name at least one image file: convscope maps MODEL_OR_RUN IMAGE...")
    return spec, images


def _maps(args: argparse.Namespace) -> int:
    from .. import render
    from ..capturing import capture

    spec, images = _spec_and_images(args)
    out = check_out(args.out)  # before any compute
    model, meta = model_from_spec(spec, trust=args.trust)
    shape = model_image_shape(model, args)
    batch = read_cli_images(images, shape, args)
    drawn, output, left_out = _layers_to_draw(
        model, parse_layers(args.layers), args.max_layers, shape
    )
    if left_out and not args.json:
        print(f"not drawn (no spatial maps): {', '.join(left_out)}")
    maps = capture(model, batch.inputs, [*drawn, output] if output not in drawn else drawn)
    names = list(meta.class_names) if meta is not None and meta.class_names else []
    if args.data and not names:
        from ..data import lookup

        names = list(lookup(args.data).class_names)
    rows = []
    for k, path in enumerate(batch.paths):
        folder = out / safe_filename(path.stem)
        folder.mkdir(parents=True, exist_ok=True)
        layer_maps = {name: maps[name][k : k + 1] for name in drawn}
        render.save(render.belt(layer_maps), folder / "belt.png")
        for name in drawn:
            key = safe_filename(name)
            render.save(render.mosaic(layer_maps[name]), folder / f"mosaic_{key}.png")
            render.save(
                render.overlay(batch.pixels[k], layer_maps[name]), folder / f"overlay_{key}.png"
            )
        scores = maps[output][k]
        top = top_classes(scores, names) if scores.ndim == 1 and scores.size > 1 else []
        rows.append({"image": str(path), "folder": str(folder), "figures": len(drawn) * 2 + 1,
                     "top5": [{"class": c, "probability": p} for c, p in top]})  # fmt: skip
        if not args.json:
            print(f"{path}: {len(drawn) * 2 + 1} figures in {folder}")
            if top:
                print("  top-5: " + "   ".join(f"{c} {p:.3f}" for c, p in top))
    if args.json:
        print_json({"layers": drawn, "not_drawn": left_out, "images": rows,
                    "failed": [{"file": n, "reason": r} for n, r in batch.failed]})  # fmt: skip
    return 2 if batch.failed else 0
