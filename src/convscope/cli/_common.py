"""Helpers shared by the CLI verbs: turn MODEL_OR_RUN and --data into a model and data.

The models room (and so torch) is imported when a verb runs, not at module level: the
parser imports every verb module, and ``convscope --help`` or ``convscope datasets``
should not pay for torch.

Every verb that takes a model takes ``MODEL_OR_RUN``, ``--model``, ``--data`` and
``--trust`` (:func:`add_model_data_args`); a run folder's data is loaded with the run's
own split (seed and fractions, :meth:`RunFolder.split_options`), so its test split stays
the held-out one; a data set whose classes are not the model's is refused unless
``--force``. Output folders are checked (:func:`check_out`) before any compute.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._io import check_writable_dir, clean_stale_temporaries, json_safe, safe_filename
from ..adapters import adapter_for
from ..data import load as load_data
from ..errors import ConvscopeError, check_same_classes, did_you_mean
from ..runfolder import RunFolder


def add_model_args(p: argparse.ArgumentParser, run_name: str = "MODEL_OR_RUN") -> None:
    """``MODEL_OR_RUN``, ``--model PATH`` and ``--trust``: how every verb names a model.

    Example:
        >>> p = argparse.ArgumentParser(); add_model_args(p)
        >>> p.parse_args(["--model", "m.keras", "--trust"]).trust
        True
    """
    p.add_argument(
        "model",
        metavar=run_name,
        nargs="?",
        help="run folder, model file (.safetensors, .keras, .h5, .onnx) or zoo name",
    )
    p.add_argument(
        "--model", dest="model_path", metavar="PATH", help=f"model file (same as {run_name})"
    )
    p.add_argument(
        "--trust",
        action="store_true",
        help="load Keras files with custom code (Lambda layers): only for files you trust",
    )


def add_data_args(p: argparse.ArgumentParser, split: bool = True, force: bool = True) -> None:
    """``--data``, ``--data-dir``, ``--seed``, ``--offline`` (and ``--split``, ``--force``).

    Example:
        >>> p = argparse.ArgumentParser(); add_data_args(p)
        >>> a = p.parse_args(["--data", "mnist5k", "--split", "train", "--offline"])
        >>> a.data, a.split, a.offline, a.force
        ('mnist5k', 'train', True, False)
    """
    p.add_argument("--data", help="data set (default: the one the model was trained on)")
    p.add_argument("--data-dir", help="data cache folder (default $CONVSCOPE_DATA)")
    p.add_argument("--seed", type=int, help="split seed (default: the run's, else 0)")
    p.add_argument(
        "--offline",
        action="store_true",
        help="never download; a missing data file is an error naming where to put it "
        "(also CONVSCOPE_OFFLINE=1)",
    )
    if split:
        p.add_argument("--split", choices=["test", "val", "train"], default="test")
    if force:
        p.add_argument(
            "--force",
            action="store_true",
            help="analyse a data set whose classes are not the ones the model was trained on",
        )


def add_model_data_args(p: argparse.ArgumentParser, split: bool = True) -> None:
    """The arguments every analysis verb takes.

    Example:
        >>> p = argparse.ArgumentParser(); add_model_data_args(p)
        >>> p.parse_args(["runs/demo", "--data", "mnist5k"]).data
        'mnist5k'
    """
    add_model_args(p)
    add_data_args(p, split=split)


def add_json_arg(p: argparse.ArgumentParser) -> None:
    """``--json``: print the result as one JSON document on stdout (schema in the README)."""
    p.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout (messages go to stderr); schema in the README",
    )


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON (numpy values plain, NaN and inf as null)."""
    print(json.dumps(json_safe(obj), indent=2, default=str))  # noqa: T201 - the CLI prints


def say(args: argparse.Namespace, text: str = "") -> None:
    """A human line: stdout, or stderr under ``--json`` (stdout then holds only the JSON)."""
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout
    print(text, file=stream, flush=True)  # noqa: T201 - the CLI prints


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


def model_spec(args: argparse.Namespace) -> str | None:
    """``MODEL_OR_RUN`` or ``--model``; both given must agree.

    Example:
        >>> model_spec(argparse.Namespace(model="runs/a", model_path=None))
        'runs/a'
    """
    given, path = getattr(args, "model", None), getattr(args, "model_path", None)
    if given and path and Path(given) != Path(path):
        raise ConvscopeError(
            f"two models named: {given} and --model {path}; name one (MODEL_OR_RUN or --model)"
        )
    return path or given


def run_folder(spec: str | None) -> RunFolder | None:
    """The run folder ``spec`` names, or None for a file or zoo name.

    Example:
        >>> run_folder("mnist_convnet") is None
        True
    """
    return RunFolder(spec) if spec and Path(spec).is_dir() else None


def run_seed_of(spec: str | None) -> int:
    """The seed recorded in a run folder's run record, else 0.

    Example:
        >>> run_seed_of("mnist_convnet"), run_seed_of(None)
        (0, 0)
    """
    run = run_folder(spec)
    return run.seed() if run is not None else 0


def split_options(args: argparse.Namespace, spec: str | None) -> dict[str, Any]:
    """``seed``, ``val_fraction``, ``test_fraction``: ``--seed``, else the run's split.

    Example:
        >>> split_options(argparse.Namespace(seed=3), "mnist_convnet")
        {'seed': 3, 'val_fraction': 0.1, 'test_fraction': 0.2}
    """
    run = run_folder(spec)
    options = run.split_options() if run is not None else dict(RunFolder.SPLIT_DEFAULTS, seed=0)
    if getattr(args, "seed", None) is not None:
        options["seed"] = int(args.seed)
    return {"seed": options["seed"], **{k: options[k] for k in RunFolder.SPLIT_DEFAULTS}}


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
    shapes. ``folder:PATH`` data is resized to the model's input. A run folder's data is
    split as the run split it; a data set with other classes than the model's is refused
    unless ``--force``.
    """
    spec = model_spec(args)
    model, meta = model_from_spec(spec, trust=getattr(args, "trust", False))
    if not need_data:
        return model, meta, None
    name = args.data or (meta.dataset if meta is not None else None)
    if not name:
        raise ConvscopeError(
            f"{spec} does not say which data set it was trained on; pass --data NAME "
            "(see `convscope datasets`)"
        )
    kwargs: dict[str, Any] = {"data_dir": args.data_dir, **split_options(args, spec)}
    input_shape = model_input_shape(model)
    if input_shape is not None:
        kwargs["input_shape"] = input_shape
    if getattr(args, "offline", False):
        kwargs["download"] = False
    data = load_data(name, **kwargs)
    check_same_classes(
        meta.class_names if meta is not None else None,
        data.class_names,
        model=str(spec),
        data=data.name,
        force=getattr(args, "force", False),
    )
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


def check_out(path: str | Path, what: str = "--out") -> Path:
    """An output folder checked before any compute: writable, room left, no file in the
    way; the temporaries a killed run left there are removed.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "out"
        >>> check_out(folder) == folder
        True
    """
    path = check_writable_dir(path, what=what)
    clean_stale_temporaries(path)
    return path


def check_device(device: str | None) -> str | None:
    """``--device`` checked against what this torch build and machine have.

    Raises:
        ConvscopeError: an unknown device type (with the closest name), or one this torch
            build or machine lacks (cuda without a GPU, a GPU index past the count).

    Example:
        >>> check_device("cpu"), check_device(None)
        ('cpu', None)
    """
    if device is None:
        return None
    import torch

    have = {"cpu": True, "cuda": torch.cuda.is_available()}
    mps = getattr(torch.backends, "mps", None)
    have["mps"] = bool(mps is not None and mps.is_available())
    xpu = getattr(torch, "xpu", None)
    have["xpu"] = bool(xpu is not None and xpu.is_available())
    kind, _, index = str(device).partition(":")
    usable = [k for k, ok in have.items() if ok]
    if kind not in have:
        raise ConvscopeError(
            f"--device {device}: unknown device type{did_you_mean(kind, have)}; this machine "
            f"has: {', '.join(usable)}"
        )
    if not have[kind]:
        build = (
            " (this torch is a CPU-only build)" if kind == "cuda" and not torch.version.cuda else ""
        )
        raise ConvscopeError(
            f"--device {device}: {kind.upper()} is not available on this machine{build}; "
            f"use --device {' or '.join(usable)}"
        )
    if index:
        count = torch.cuda.device_count() if kind == "cuda" else 1
        if not index.isdigit() or int(index) >= count:
            raise ConvscopeError(
                f"--device {device}: this machine has {count} {kind} device(s) "
                f"({kind}:0..{kind}:{count - 1})"
            )
    return str(device)


def result_stem(*parts: object, **options: object) -> str:
    """A result file's name from what it is and the options that changed it.

    Parts are always named; an option is named only when given (not None), so a
    result computed with other options never overwrites another's file.

    Example:
        >>> result_stem("conv2d_1", "cosine", split="val", data=None, seed=1)
        'conv2d_1-cosine-val-seed1'
    """
    names = [str(p) for p in parts if p is not None and str(p) != ""]
    for key, value in options.items():
        if value is None:
            continue
        names.append(f"{key}{value}" if key in ("seed", "t", "k", "n") else str(value))
    return safe_filename("-".join(names))


def request_options(args: argparse.Namespace, spec: str | None, meta: Any) -> dict[str, Any]:
    """The options of a request that differ from the model's own data and split, for
    :func:`result_stem`: ``split`` (not test), ``data`` (not the model's), ``seed`` (not
    the run's).

    Example:
        >>> a = argparse.Namespace(split="val", data="mnist5k", seed=None)
        >>> request_options(a, None, None)
        {'split': 'val', 'data': 'mnist5k', 'seed': None}
    """
    own_data = meta.dataset if meta is not None else None
    data = args.data if args.data and args.data != own_data else None
    seed = args.seed if args.seed is not None and args.seed != run_seed_of(spec) else None
    split = getattr(args, "split", "test")
    return {"split": split if split != "test" else None, "data": data, "seed": seed}


def default_out(args: argparse.Namespace, name: str) -> Path:
    """``--out``, else ``RUN/NAME`` for a run folder, else ``./NAME``.

    Example:
        >>> default_out(argparse.Namespace(out=None, model="mnist_convnet"), "classes")
        PosixPath('classes')
    """
    if getattr(args, "out", None):
        return Path(args.out)
    run = run_folder(model_spec(args))
    return run.path / name if run is not None else Path(name)


def nonfinite_counts(maps: Mapping[str, Any]) -> dict[str, int]:
    """``{layer: count}`` of NaN/Inf values, for the layers that have any.

    Example:
        >>> import numpy as np
        >>> nonfinite_counts({"a": np.array([1.0, np.nan]), "b": np.zeros(2)})
        {'a': 1}
    """
    import numpy as np

    counts = {name: int(np.size(m) - np.isfinite(m).sum()) for name, m in maps.items()}
    return {name: count for name, count in counts.items() if count}
