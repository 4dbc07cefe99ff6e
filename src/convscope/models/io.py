"""Save and load trained zoo models in a safe format (safetensors + JSON metadata).

A convscope model file is one ``.safetensors`` file: the weights, and in its metadata
header a JSON record of the architecture, input shape, class names and data set. Loading
never unpickles anything.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write
from ..errors import FormatError
from .zoo import ZOO, ZooModel, build

FORMAT = "convscope-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"


@dataclass
class ModelMeta:
    """What a saved model knows about itself besides its weights."""

    arch: str
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    dataset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
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
        >>> from convscope.models import build
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
        >>> _ = save_model(build("mnist_convnet"), p, class_names=[str(i) for i in range(10)])
        >>> load_model(p)[1].arch
        'mnist_convnet'
    """
    from safetensors.torch import save

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
    )
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save(state, metadata={"convscope": meta.to_json()})
    return atomic_write(path, lambda f: f.write(data))


def read_meta(path: str | os.PathLike) -> ModelMeta:
    """Read a model file's description without loading its weights."""
    from safetensors import safe_open

    path = _model_path(path)
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
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"{path} has corrupt convscope metadata: {exc}") from None


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[ZooModel, ModelMeta]:
    """Load a model saved by :func:`save_model` (or a run folder holding one), in eval mode.

    Raises:
        FormatError: the file is missing, truncated, or not a convscope model.

    Example:
        >>> model, meta = load_model("runs/demo")  # doctest: +SKIP
    """
    from safetensors.torch import load_file

    path = _model_path(path)
    meta = read_meta(path)
    if meta.arch not in ZOO:
        raise FormatError(f"{path} names architecture {meta.arch!r}, which this convscope lacks")
    try:
        state = load_file(str(path))
    except Exception as exc:
        raise FormatError(
            f"{path}: cannot read the weights ({exc}); the file may be truncated"
        ) from None
    model = build(meta.arch, num_classes=meta.num_classes, input_shape=meta.input_shape)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FormatError(f"{path}: weights do not fit {meta.arch}: {exc}") from None
    model.to(device).eval()
    return model, meta


def _onnx_meta(props: dict[str, str]) -> ModelMeta | None:
    """The description ``convscope export`` stores in an ONNX file's metadata, if any."""
    if "convscope.arch" not in props:
        return None
    try:
        return ModelMeta(
            arch=props["convscope.arch"],
            input_shape=tuple(json.loads(props.get("convscope.input_shape", "[]"))),
            num_classes=int(props.get("convscope.num_classes", 0)),
            class_names=list(json.loads(props.get("convscope.class_names", "[]"))),
            dataset=props.get("convscope.dataset"),
        )
    except (ValueError, TypeError):
        return None


def _model_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        candidate = path / MODEL_FILE
        if not candidate.exists():
            raise FormatError(
                f"{path} is a folder without {MODEL_FILE}; pass a run folder made by "
                "`convscope train` or a model file"
            )
        return candidate
    if not path.exists():
        raise FormatError(f"model file {path} does not exist")
    return path


def resolve_model(
    spec: str | os.PathLike, device: str = "cpu", trust: bool = False
) -> tuple[Any, ModelMeta | None]:
    """Turn a CLI ``MODEL_OR_RUN`` argument into a model.

    ``spec`` is a run folder, a convscope ``.safetensors`` file, a ``.keras``/``.h5`` or
    ``.onnx`` file (when those backends are installed), or a zoo name (fresh, untrained
    weights; a warning says so). ``trust=True`` lets Keras files run custom code (Lambda
    layers); only use it for files you trust.

    Example:
        >>> model, meta = resolve_model("runs/demo")  # doctest: +SKIP
    """
    text = str(spec)
    path = Path(text)
    if not path.exists() and text in ZOO:
        warnings.warn(f"{text} is a zoo name: its weights are random, not trained", stacklevel=2)
        entry = ZOO[text]
        meta = ModelMeta(arch=text, input_shape=entry.input_shape, num_classes=entry.num_classes)
        return build(text).to(device).eval(), meta
    suffix = path.suffix.lower()
    if suffix in (".keras", ".h5", ".hdf5"):
        from ..adapters.keras import load_keras_model

        return load_keras_model(path, trust=trust), None
    if suffix == ".onnx":
        from ..adapters.onnx import load_onnx_model

        onnx_model = load_onnx_model(path)
        return onnx_model, _onnx_meta(onnx_model.metadata)
    if not path.exists():
        raise FormatError(
            f"{text!r} is neither a file, a run folder nor a zoo model; zoo models: "
            f"{', '.join(sorted(ZOO))}"
        )
    return load_model(path, device=device)
