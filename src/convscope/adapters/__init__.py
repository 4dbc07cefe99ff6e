"""Backends: the only code that knows a framework (torch, Keras 3, ONNX).

Each adapter lists a model's layers and runs one batch into ``{layer: ndarray}`` with
conv maps in NCHW float32; :func:`adapter_for` picks one. The verbs built on them
(``capture``, ``capture_iter``, ``layers``) live in :mod:`convscope.capturing`.

Example:
    >>> import convscope as cs
    >>> adapter_for(cs.models.build("mnist_convnet")).backend
    'torch'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConvscopeError
from .base import KINDS, Adapter, LayerInfo, format_summary, resolve_layers
from .inputs import ModelInputs
from .selection import LayerSkipWarning

__all__ = [
    "KINDS",
    "Adapter",
    "LayerInfo",
    "LayerSkipWarning",
    "ModelInputs",
    "adapter_for",
    "format_summary",
    "resolve_layers",
]


def _is_keras(model: Any) -> bool:
    return any(cls.__module__.split(".")[0] == "keras" for cls in type(model).__mro__)


def adapter_for(model: Any, device: Any = None) -> Adapter:
    """Pick the capture backend for ``model``: torch module, Keras model or ONNX model.

    ONNX models are given as a path to a ``.onnx`` file, an ``onnx.ModelProto`` or a
    :class:`convscope.adapters.onnx.OnnxModel`.

    Example:
        >>> import convscope as cs
        >>> adapter_for(cs.models.build("mnist_convnet")).backend
        'torch'
    """
    if isinstance(model, Adapter):
        return model
    # Each backend's adapter is imported when a model of its kind shows up: the Keras and
    # ONNX ones load their optional framework, and the torch one keeps `convscope --help`
    # (whose verbs import this package) from paying for torch.
    if _is_keras(model):  # first: with KERAS_BACKEND=torch a Keras model is an nn.Module too
        from .keras import KerasAdapter

        return KerasAdapter(model)
    module = type(model).__module__.split(".")[0]
    if module == "torch" or _has_torch_base(model):
        from .torch import TorchAdapter

        return TorchAdapter(model, device=device)
    if (
        (isinstance(model, (str, Path)) and str(model).lower().endswith(".onnx"))
        or module in ("onnx", "onnxruntime")
        or type(model).__name__ == "OnnxModel"
    ):
        from .onnx import OnnxAdapter

        return OnnxAdapter(model)
    raise ConvscopeError(
        f"convscope cannot capture from a {type(model).__module__}.{type(model).__name__}; "
        "pass a torch.nn.Module, a keras.Model, or an ONNX model (path, onnx.ModelProto)"
    )


def _has_torch_base(model: Any) -> bool:
    return any(cls.__module__.startswith("torch.nn") for cls in type(model).__mro__)
