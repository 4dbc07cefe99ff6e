"""Save and load trained zoo models in a safe format (safetensors + JSON metadata).

A convscope model file is one ``.safetensors`` file: the weights, and in its metadata
header a JSON record of the architecture, input shape, widths (channels of every
resizable layer: a pruned model is narrower than the seed's), class names and data set.
Loading never unpickles anything. Load any kind of model with :func:`convscope.models.load`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

from .._io import atomic_write
from ..errors import ConvscopeError, FormatError
from ..runfolder import RunFolder
from .zoo import ZOO, ZooModel, build

FORMAT = "convscope-model"
FORMAT_VERSION = 1
MODEL_FILE = RunFolder.MODEL
"""The file name of a run's weights (kept for callers; :class:`RunFolder` owns it)."""


@dataclass
class ModelMeta:
    """What a saved model knows about itself besides its weights."""

    arch: str
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    dataset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    widths: dict[str, int] | None = None
    """Channels (units) of each resizable layer; None in files older than pruning: the seed's."""

    def to_json(self) -> str:
        """The record stored in a model file's header.

        Example:
            >>> json.loads(ModelMeta("mnist_convnet", (1, 28, 28), 10).to_json())["format"]
            'convscope-model'
        """
        record = asdict(self)
        record["input_shape"] = list(self.input_shape)
        record["format"] = FORMAT
        record["version"] = FORMAT_VERSION
        return json.dumps(record)


def save_model(
    model: ZooModel,
    path: str | os.PathLike,
    *,
    class_names: list[str] | None = None,
    dataset: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save a zoo model's weights and description to one safetensors file, atomically.

    Example:
        >>> import tempfile, pathlib
        >>> from convscope.models import build, load
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
        >>> _ = save_model(build("mnist_convnet"), p, class_names=[str(i) for i in range(10)])
        >>> load(p)[1].arch
        'mnist_convnet'
    """
    if not isinstance(model, ZooModel):
        raise FormatError(
            f"save_model saves zoo models (convscope.models.build); got {type(model).__name__}. "
            "Save other torch models with torch.save(model.state_dict()) and wrap them yourself."
        )
    meta = ModelMeta(
        arch=model.arch,
        input_shape=tuple(model.input_shape),
        num_classes=model.num_classes,
        class_names=list(class_names or []),
        dataset=dataset,
        extra=dict(extra or {}),
        widths=dict(model.widths) if getattr(model, "widths", None) else None,
    )
    # tensors, not arrays: safetensors wants contiguous CPU torch tensors
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save(state, metadata={"convscope": meta.to_json()})
    return atomic_write(path, lambda f: f.write(data))


def read_meta(path: str | os.PathLike) -> ModelMeta:
    """Read a model file's (or a run folder's) description without loading its weights.

    Raises:
        FormatError: the file is missing, unreadable or not a convscope model.

    Example:
        >>> import tempfile, pathlib
        >>> p = save_model(build("fashion_gap"), pathlib.Path(tempfile.mkdtemp()) / "m.safetensors")
        >>> read_meta(p).input_shape
        (1, 28, 28)
    """
    path = model_file(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise FormatError(
            f"{path} is not a readable safetensors file ({exc}); it may be truncated or not a "
            "convscope model. Re-save it with convscope.models.save_model or `convscope train`."
        ) from None
    if "convscope" not in header:
        raise FormatError(
            f"{path} is a safetensors file but not a convscope model (no 'convscope' metadata). "
            "Save it with convscope.models.save_model."
        )
    try:
        record = json.loads(header["convscope"])
        if record.get("format") != FORMAT:
            raise ValueError("wrong format tag")
        return ModelMeta(
            arch=record["arch"],
            input_shape=tuple(record["input_shape"]),
            num_classes=int(record["num_classes"]),
            class_names=list(record.get("class_names") or []),
            dataset=record.get("dataset"),
            extra=dict(record.get("extra") or {}),
            widths=_widths(record.get("widths")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"{path} has corrupt convscope metadata: {exc}") from None


def _widths(value: Any) -> dict[str, int] | None:
    """The ``widths`` record: None (the seed's), else layer name -> int."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"widths must be a JSON object, got {type(value).__name__}")
    return {str(k): int(v) for k, v in value.items()}


def load_safetensors(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[ZooModel, ModelMeta]:
    """Load a model saved by :func:`save_model` (or a run folder holding one), in eval mode.

    The safetensors branch of :func:`convscope.models.load`, which is what to call.

    Raises:
        FormatError: the file is missing, truncated, or not a convscope model.

    Example:
        >>> import tempfile, pathlib
        >>> p = save_model(build("mnist_bn"), pathlib.Path(tempfile.mkdtemp()) / "m.safetensors")
        >>> load_safetensors(p)[0].training
        False
    """
    path = model_file(path)
    meta = read_meta(path)
    if meta.arch not in ZOO:
        raise FormatError(f"{path} names architecture {meta.arch!r}, which this convscope lacks")
    try:
        state = load_file(str(path))
    except Exception as exc:
        raise FormatError(
            f"{path}: cannot read the weights ({exc}); the file may be truncated"
        ) from None
    try:
        model = build(
            meta.arch, num_classes=meta.num_classes, input_shape=meta.input_shape,
            widths=meta.widths,
        )  # fmt: skip
    except ConvscopeError as exc:
        raise FormatError(f"{path}: its architecture record does not build: {exc}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FormatError(f"{path}: weights do not fit {meta.arch}: {exc}") from None
    model.to(device).eval()
    return model, meta


def model_file(path: str | os.PathLike) -> Path:
    """The weights file of ``path``: the file itself, or a run folder's model file.

    Raises:
        FormatError: the file does not exist, or the folder holds no model file.

    Example:
        >>> model_file("/nonexistent/m.safetensors")
        Traceback (most recent call last):
        ...
        convscope.errors.FormatError: model file /nonexistent/m.safetensors does not exist
    """
    path = Path(path)
    if path.is_dir():
        candidate = RunFolder(path).model
        if not candidate.exists():
            raise FormatError(
                f"{path} is a folder without {candidate.name}; pass a run folder made by "
                "`convscope train` or a model file"
            )
        return candidate
    if not path.exists():
        raise FormatError(f"model file {path} does not exist")
    return path
