"""Helpers shared by the CLI verbs: turn MODEL_OR_RUN and --data into a model and data.

The models room (and so torch) is imported when a verb runs, not at module level: the
parser imports every verb module, and ``convscope --help`` or ``convscope datasets``
should not pay for torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..adapters import adapter_for
from ..data import load as load_data
from ..errors import ConvscopeError
from ..runfolder import RunFolder


def add_model_data_args(p: argparse.ArgumentParser, split: bool = True) -> None:
    """The arguments every analysis verb takes.

    Example:
        >>> p = argparse.ArgumentParser(); add_model_data_args(p)
        >>> p.parse_args(["runs/demo", "--data", "mnist5k"]).data
        'mnist5k'
    """
    p.add_argument(
        "model",
        metavar="MODEL_OR_RUN",
        nargs="?",
        help="run folder, model file (.safetensors, .keras, .h5, .onnx) or zoo name",
    )
    p.add_argument(
        "--model", dest="model_path", metavar="PATH", help="model file (same as MODEL_OR_RUN)"
    )
    p.add_argument("--data", help="data set (default: the one the model was trained on)")
    p.add_argument("--data-dir", help="data cache folder (default $CONVSCOPE_DATA)")
    p.add_argument("--seed", type=int, help="split seed (default: the run's, else 0)")
    p.add_argument(
        "--trust",
        action="store_true",
        help="load Keras files with custom code (Lambda layers): only for files you trust",
    )
    if split:
        p.add_argument("--split", choices=["test", "val", "train"], default="test")


def parse_layers(text: str | None) -> str | int | list[str | int] | None:
    """A --layer/--layers value as a layer selection: indices as ints, commas split.

    Example:
        >>> parse_layers("conv2d,2,-1"), parse_layers("conv*"), parse_layers(None)
        (['conv2d', 2, -1], 'conv*', None)
    """
    if text is None:
        return None
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    items: list[str | int] = [int(p) if p.lstrip("-").isdigit() else p for p in parts]
    return items[0] if len(items) == 1 else items


def run_seed_of(spec: str | None) -> int:
    """The seed recorded in a run folder's run record, else 0.

    Example:
        >>> run_seed_of("mnist_convnet"), run_seed_of(None)
        (0, 0)
    """
    return RunFolder(spec).seed() if spec and Path(spec).is_dir() else 0


def model_from_spec(spec: str | None, trust: bool = False) -> tuple[Any, Any]:
    """``MODEL_OR_RUN`` as ``(model, meta)`` through :func:`convscope.models.load`.

    Raises:
        ConvscopeError: no model named; or what :func:`convscope.models.load` raises.
    """
    from ..models import load  # here, not at the top: see the module docstring

    if not spec:
        raise ConvscopeError("name a model: convscope VERB RUN_FOLDER, or --model FILE")
    return load(spec, trust=trust)


def load_model_and_data(args: argparse.Namespace, need_data: bool = True) -> tuple[Any, Any, Any]:
    """Resolve ``MODEL_OR_RUN``/``--model`` and ``--data`` into (model, meta, dataset).

    The data set is resized to nothing: it must fit the model, else the error names both
    shapes. ``folder:PATH`` data is resized to the model's input.
    """
    spec = args.model_path or args.model
    model, meta = model_from_spec(spec, trust=getattr(args, "trust", False))
    if not need_data:
        return model, meta, None
    name = args.data or (meta.dataset if meta is not None else None)
    if not name:
        raise ConvscopeError(
            f"{spec} does not say which data set it was trained on; pass --data NAME "
            "(see `convscope datasets`)"
        )
    seed = args.seed if args.seed is not None else run_seed_of(spec)
    input_shape = model_input_shape(model)
    kwargs: dict[str, Any] = {"data_dir": args.data_dir, "seed": seed}
    if input_shape is not None:
        kwargs["input_shape"] = input_shape
    data = load_data(name, **kwargs)
    return model, meta, data


def model_input_shape(model: Any) -> tuple[int, ...] | None:
    """(C, H, W) of the images the model takes, whatever its backend's own layout.

    Example:
        >>> import convscope as cs
        >>> model_input_shape(cs.models.build("cifar_cnn5"))
        (3, 32, 32)
    """
    with adapter_for(model) as adapter:
        return adapter.image_shape
