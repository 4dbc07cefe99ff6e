"""``convscope export RUN --onnx FILE``: write a run's (or zoo) model as ONNX."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConvscopeError
from ._common import (
    add_json_arg,
    add_model_args,
    check_out,
    model_from_spec,
    model_spec,
    print_json,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export`` verb to the CLI.

    Example:
        >>> p = argparse.ArgumentParser(); register(p.add_subparsers())
        >>> p.parse_args(["export", "runs/demo", "--onnx", "m.onnx"]).onnx
        'm.onnx'
    """
    p = sub.add_parser(
        "export",
        help="export a run's model as ONNX (layer names kept)",
        description="Write a trained run's model (or a zoo model) as an ONNX file with a "
        "dynamic batch axis. The file keeps the zoo's layer names, so `convscope layers "
        "FILE.onnx` lists the same layers as the run.",
    )
    add_model_args(p)
    p.add_argument(
        "--data", help="data set whose class names the file records, for a model without them"
    )
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    p.add_argument(
        "--opset", type=int, default=17, help="ONNX opset, 7 up to what torch exports (default 17)"
    )
    add_json_arg(p)
    p.set_defaults(func=_export)


def opset_range() -> tuple[int, int]:
    """The ONNX opsets this torch exports that onnxruntime runs (checked before exporting).

    Example:
        >>> low, high = opset_range(); low >= 7 and high >= 17
        True
    """
    low, high = 7, 20
    try:  # torch knows its own range; imported lazily, so `convscope --help` stays fast
        import importlib

        constants = importlib.import_module("torch.onnx._constants")
        low = max(low, int(constants.ONNX_MIN_OPSET))
        high = int(getattr(constants, "ONNX_MAX_OPSET", high))
    except (ImportError, AttributeError, ValueError):
        pass
    return low, high


def _export(args: argparse.Namespace) -> int:
    from ..export import export_onnx  # torch: imported when the verb runs

    spec = model_spec(args)
    if not spec:
        raise ConvscopeError("name a model: convscope export RUN --onnx FILE")
    if not str(args.onnx).lower().endswith(".onnx"):
        raise ConvscopeError(f"--onnx {args.onnx!r}: the file name must end in .onnx")
    low, high = opset_range()
    if not low <= args.opset <= high:
        raise ConvscopeError(
            f"--opset {args.opset} is out of range: this torch exports opsets {low}..{high} "
            "(default 17)"
        )
    target = Path(args.onnx)
    if target.is_dir():
        raise ConvscopeError(f"--onnx {target} is a folder; name the .onnx file to write")
    check_out(target.parent, what="the folder of --onnx")  # before the export
    model, meta = model_from_spec(spec, trust=args.trust)
    class_names = list(meta.class_names) if meta is not None and meta.class_names else None
    dataset = meta.dataset if meta is not None else None
    if args.data and not class_names:
        from ..data import lookup

        class_names, dataset = list(lookup(args.data).class_names) or None, args.data
    path = export_onnx(model, target, opset=args.opset, class_names=class_names, dataset=dataset)
    if args.json:
        print_json({"onnx": str(path), "opset": args.opset, "bytes": path.stat().st_size,
                    "class_names": class_names, "dataset": dataset})  # fmt: skip
        return 0
    sys.stdout.write(f"wrote {path}\n")
    return 0
