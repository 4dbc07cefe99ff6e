"""``convscope models``, ``convscope summary``, ``convscope layers``."""

from __future__ import annotations

import argparse
from typing import Any

from ..capturing import layers, summary
from ._common import (
    add_json_arg,
    add_model_args,
    model_from_spec,
    model_spec,
    print_json,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the model verbs to the CLI.

    Example:
        >>> p = argparse.ArgumentParser(); register(p.add_subparsers())
        >>> p.parse_args(["layers", "runs/demo", "--json"]).json
        True
    """
    p = sub.add_parser("models", help="list the seed model zoo")
    add_json_arg(p)
    p.set_defaults(func=_models)
    for verb, func, text in (
        ("summary", _summary, "Keras-style summary of a model or run"),
        ("layers", _layers, "list a model's layers (name, kind, output shape, params)"),
    ):
        p = sub.add_parser(verb, help=text)
        add_model_args(p)
        p.add_argument(
            "--data",
            help="data set whose image shape the model is traced at, for a model that "
            "does not say its input size",
        )
        p.add_argument("--input-shape", help="C,H,W to trace the model at, e.g. 3,224,224")
        add_json_arg(p)
        p.set_defaults(func=func)


def _models(args: argparse.Namespace) -> int:
    from ..models import build, list_models  # torch: imported when the verb runs

    rows = []
    for name, entry in list_models().items():
        rows.append(
            {
                "name": name,
                "seed": entry.seed,
                "input_shape": list(entry.input_shape),
                "num_classes": entry.num_classes,
                "parameters": sum(p.numel() for p in build(name).parameters()),
                "description": entry.description,
            }
        )
    if args.json:
        print_json(rows)
        return 0
    print(f"{'name':<15}{'seed':<6}{'input':<14}{'classes':<9}{'params':>11}  description")
    for row in rows:
        shape = "x".join(map(str, row["input_shape"]))
        print(
            f"{row['name']:<15}{row['seed']:<6}{shape:<14}{row['num_classes']:<9}"
            f"{row['parameters']:>11,}  {row['description']}"
        )
    return 0


def _trace_shape(args: argparse.Namespace, model: Any) -> tuple[int, ...] | None:
    """The shape to trace a model at when it does not know its own: --input-shape, --data."""
    from ..adapters import adapter_for
    from ..data import image_shape
    from .maps_verbs import model_image_shape

    with adapter_for(model) as adapter:
        if adapter.input_shape is not None:
            return None
    if args.input_shape:
        return model_image_shape(model, args)
    return image_shape(args.data) if args.data else None


def _loaded(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    model, meta = model_from_spec(model_spec(args), trust=args.trust)
    return model, meta, _trace_shape(args, model)


def _summary(args: argparse.Namespace) -> int:
    model, meta, shape = _loaded(args)
    if args.json:
        print_json({**_layers_json(model, shape), **_meta_json(meta)})
        return 0
    print(summary(model, input_shape=shape))
    if meta is not None and meta.class_names:
        print(f"Classes ({len(meta.class_names)}): {', '.join(meta.class_names)}")
    if meta is not None and meta.dataset:
        print(f"Trained on: {meta.dataset}")
    return 0


def _meta_json(meta: Any) -> dict[str, Any]:
    if meta is None:
        return {"arch": None, "class_names": None, "dataset": None}
    return {"arch": meta.arch, "class_names": list(meta.class_names) or None,
            "dataset": meta.dataset}  # fmt: skip


def _layers_json(model: Any, shape: Any) -> dict[str, Any]:
    infos = layers(model, input_shape=shape)
    rows = [
        {
            "index": index,
            "name": info.name,
            "kind": info.kind,
            "output_shape": list(info.output_shape) if info.output_shape else None,
            "params": int(info.params),
        }
        for index, info in enumerate(infos)
    ]
    return {
        "layers": rows,
        "total_params": sum(
            r["params"] for r in rows if "/" not in r["name"] and "#" not in r["name"]
        ),
    }


def _layers(args: argparse.Namespace) -> int:
    model, meta, shape = _loaded(args)
    if args.json:
        print_json(_layers_json(model, shape)["layers"])
        return 0
    infos = layers(model, input_shape=shape)
    width = max(len(i.name) for i in infos) + 2
    print(f"{'#':>3}  {'name':<{width}}{'kind':<12}{'output shape':<18}{'params':>10}")
    for index, info in enumerate(infos):
        out_shape = "x".join(map(str, info.output_shape)) if info.output_shape else "?"
        print(f"{index:>3}  {info.name:<{width}}{info.kind:<12}{out_shape:<18}{info.params:>10,}")
    return 0
