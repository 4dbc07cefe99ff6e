"""``convscope export RUN --onnx FILE``: write a run's (or zoo) model as ONNX."""

from __future__ import annotations

import argparse
import sys

from ..errors import ConvscopeError
from ._common import model_from_spec


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
    p.add_argument("model", metavar="RUN", nargs="?", help="run folder, model file or zoo name")
    p.add_argument("--model", dest="model_path", metavar="PATH", help="model file (same as RUN)")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from ..export import export_onnx  # torch: imported when the verb runs

    spec = args.model_path or args.model
    if not spec:
        raise ConvscopeError("name a model: convscope export RUN --onnx FILE")
    if not str(args.onnx).lower().endswith(".onnx"):
        raise ConvscopeError(f"--onnx {args.onnx!r}: the file name must end in .onnx")
    model, meta = model_from_spec(spec, trust=getattr(args, "trust", False))
    class_names = list(meta.class_names) if meta is not None and meta.class_names else None
    dataset = meta.dataset if meta is not None else None
    path = export_onnx(model, args.onnx, opset=args.opset, class_names=class_names, dataset=dataset)
    sys.stdout.write(f"wrote {path}\n")
    return 0
