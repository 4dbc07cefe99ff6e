"""``convscope models``, ``convscope summary``, ``convscope layers``."""

from __future__ import annotations

import argparse

from ..capturing import layers, summary
from ._common import model_from_spec


def register(sub: argparse._SubParsersAction) -> None:
    """Add the model verbs to the CLI.

    Example:
        >>> p = argparse.ArgumentParser(); register(p.add_subparsers())
        >>> p.parse_args(["layers", "runs/demo"]).model
        'runs/demo'
    """
    p = sub.add_parser("models", help="list the seed model zoo")
    p.set_defaults(func=_models)
    p = sub.add_parser("summary", help="Keras-style summary of a model or run")
    p.add_argument("model", metavar="MODEL_OR_RUN", help="run folder, model file or zoo name")
    p.set_defaults(func=_summary)
    p = sub.add_parser("layers", help="list a model's layers (name, kind, output shape, params)")
    p.add_argument("model", metavar="MODEL_OR_RUN", help="run folder, model file or zoo name")
    p.set_defaults(func=_layers)


def _models(args: argparse.Namespace) -> int:
    from ..models import build, list_models  # torch: imported when the verb runs

    print(f"{'name':<15}{'seed':<6}{'input':<14}{'classes':<9}{'params':>11}  description")
    for name, entry in list_models().items():
        params = sum(p.numel() for p in build(name).parameters())
        shape = "x".join(map(str, entry.input_shape))
        print(
            f"{name:<15}{entry.seed:<6}{shape:<14}{entry.num_classes:<9}{params:>11,}  "
            f"{entry.description}"
        )
    return 0


def _summary(args: argparse.Namespace) -> int:
    model, meta = model_from_spec(args.model)
    print(summary(model))
    if meta is not None and meta.class_names:
        print(f"Classes ({len(meta.class_names)}): {', '.join(meta.class_names)}")
    if meta is not None and meta.dataset:
        print(f"Trained on: {meta.dataset}")
    return 0


def _layers(args: argparse.Namespace) -> int:
    model, _ = model_from_spec(args.model)
    infos = layers(model)
    width = max(len(i.name) for i in infos) + 2
    print(f"{'#':>3}  {'name':<{width}}{'kind':<12}{'output shape':<18}{'params':>10}")
    for index, info in enumerate(infos):
        shape = "x".join(map(str, info.output_shape)) if info.output_shape else "?"
        print(f"{index:>3}  {info.name:<{width}}{info.kind:<12}{shape:<18}{info.params:>10,}")
    return 0
