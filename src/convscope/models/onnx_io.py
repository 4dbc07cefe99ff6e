"""ONNX model files: the :class:`OnnxModel` wrapper, its loader and its convscope metadata.

``onnx`` and ``onnxruntime`` are optional and imported only when an ONNX model is used,
so ``import convscope.models`` stays cheap; a missing one raises
:class:`~convscope.errors.BackendMissingError` naming the pip extra. Capturing from an
ONNX model is :class:`convscope.adapters.onnx.OnnxAdapter`'s job.

Example:
    >>> onnx_meta(onnx_props("mnist_convnet", (1, 28, 28), 10)).input_shape
    (1, 28, 28)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendMissingError, FormatError
from ..validation import as_numpy
from .io import ModelMeta

__all__ = ["OnnxModel", "cpu_session", "load_onnx_file", "onnx_meta", "onnx_props"]


def onnx_module() -> Any:
    """The ``onnx`` package, or a :class:`BackendMissingError` naming the extra to install."""
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise BackendMissingError("onnx", "onnx") from exc
    return onnx


def onnxruntime_module() -> Any:
    """The ``onnxruntime`` package, or a :class:`BackendMissingError` naming the extra."""
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise BackendMissingError("onnxruntime", "onnx") from exc
    return onnxruntime


def cpu_session(data: bytes) -> Any:
    """An onnxruntime CPU ``InferenceSession`` for a serialised model, logging errors only."""
    ort = onnxruntime_module()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


class OnnxModel:
    """An ONNX model from a file or ``onnx.ModelProto``, with a lazy onnxruntime session.

    Attributes:
        path: the ``.onnx`` file, or None for an in-memory model.
        name: the file's stem or the graph's name.

    Example:
        >>> model = OnnxModel("mnist_convnet.onnx")  # doctest: +SKIP
        >>> model.predict(x).shape  # doctest: +SKIP
        (4, 10)
    """

    def __init__(self, source: str | os.PathLike | Any) -> None:
        self._proto: Any = None
        self._session: Any = None
        if isinstance(source, (str, os.PathLike)):
            self.path: Path | None = Path(source)
            if not self.path.exists():
                raise FormatError(f"ONNX model file {self.path} does not exist")
            self.name = self.path.stem
        elif isinstance(source, onnx_module().ModelProto):
            self.path = None
            self._proto = source
            self.name = source.graph.name or "onnx_model"
        else:
            raise FormatError(
                f"an ONNX model is a .onnx path or an onnx.ModelProto, got "
                f"{type(source).__module__}.{type(source).__name__}"
            )

    @property
    def proto(self) -> Any:
        """The ``onnx.ModelProto`` (loaded on first use)."""
        if self._proto is None:
            assert self.path is not None
            try:
                self._proto = onnx_module().load(str(self.path))
            except Exception as exc:  # protobuf raises DecodeError and friends
                raise FormatError(
                    f"{self.path} is not a readable ONNX model ({type(exc).__name__}: {exc}); "
                    "it may be truncated"
                ) from None
            if not self._proto.graph.node:
                raise FormatError(f"{self.path} is not an ONNX model: its graph has no nodes")
        return self._proto

    @property
    def session(self) -> Any:
        """An onnxruntime CPU ``InferenceSession`` for the model as it is (created lazily)."""
        if self._session is None:
            self._session = cpu_session(self.proto.SerializeToString())
        return self._session

    @property
    def metadata(self) -> dict[str, str]:
        """The model's ``metadata_props`` (``convscope.arch`` etc. for exported zoo models)."""
        return {p.key: p.value for p in self.proto.metadata_props}

    def predict(self, x: Any) -> np.ndarray:
        """Run the model on one batch and return its first output."""
        feed = {self.session.get_inputs()[0].name: as_numpy(x, dtype=np.float32)}
        return self.session.run(None, feed)[0]

    def close(self) -> None:
        """Release the onnxruntime session (the proto stays loaded)."""
        self._session = None

    def __enter__(self) -> OnnxModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path) if self.path else self.name!r})"


def load_onnx_file(path: str | os.PathLike) -> OnnxModel:
    """Load an ``.onnx`` file (checked now, run lazily with onnxruntime on CPU).

    The ONNX branch of :func:`convscope.models.load`, which is what to call.

    Raises:
        FormatError: the file is missing, truncated or not an ONNX model.

    Example:
        >>> load_onnx_file("/nonexistent.onnx")
        Traceback (most recent call last):
        ...
        convscope.errors.FormatError: ONNX model file /nonexistent.onnx does not exist
    """
    model = OnnxModel(path)
    model.proto  # noqa: B018 - load now so a bad file fails here
    return model


# The metadata keys `convscope export` writes and `convscope.models.load` reads.
_PREFIX = "convscope."


def onnx_props(
    arch: str,
    input_shape: Sequence[int],
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    dataset: str | None = None,
) -> dict[str, str]:
    """The ``metadata_props`` describing an exported model (empty fields are left out).

    Example:
        >>> onnx_props("mnist_convnet", (1, 28, 28))
        {'convscope.arch': 'mnist_convnet', 'convscope.input_shape': '[1, 28, 28]'}
    """
    props = {f"{_PREFIX}arch": str(arch), f"{_PREFIX}input_shape": json.dumps(list(input_shape))}
    if num_classes is not None:
        props[f"{_PREFIX}num_classes"] = str(num_classes)
    if class_names:
        props[f"{_PREFIX}class_names"] = json.dumps(list(class_names))
    if dataset:
        props[f"{_PREFIX}dataset"] = str(dataset)
    return props


def onnx_meta(props: dict[str, str]) -> ModelMeta | None:
    """The description :func:`onnx_props` stored in an ONNX file's metadata, if any.

    Example:
        >>> onnx_meta({}) is None
        True
    """
    if f"{_PREFIX}arch" not in props:
        return None
    try:
        return ModelMeta(
            arch=props[f"{_PREFIX}arch"],
            input_shape=tuple(json.loads(props.get(f"{_PREFIX}input_shape", "[]"))),
            num_classes=int(props.get(f"{_PREFIX}num_classes", 0)),
            class_names=list(json.loads(props.get(f"{_PREFIX}class_names", "[]"))),
            dataset=props.get(f"{_PREFIX}dataset"),
        )
    except (ValueError, TypeError):
        return None
