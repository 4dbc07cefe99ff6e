"""The seed model zoo, and one loader for every kind of model: build, load, save.

Example:
    >>> import convscope as cs
    >>> model = cs.models.build("mnist_convnet")
    >>> model.input_shape
    (1, 28, 28)
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from .io import MODEL_FILE, ModelMeta, read_meta, save_model
from .loading import load
from .zoo import ZOO, Conv2D, Dense, GlobalAveragePooling2D, ZooEntry, ZooModel, build, list_models

__all__ = [
    "MODEL_FILE",
    "ZOO",
    "Conv2D",
    "Dense",
    "GlobalAveragePooling2D",
    "ModelMeta",
    "ZooEntry",
    "ZooModel",
    "build",
    "list_models",
    "load",
    "read_meta",
    "save_model",
]

# Deprecated names: old name -> (module, attribute, what to use instead). Resolved on
# access (with a DeprecationWarning), so ``summary`` does not make this room import
# ``convscope.capturing``, which ranks above it.
_DEPRECATED = {
    "load_model": ("convscope.models.io", "load_safetensors", "convscope.models.load(path)"),
    "resolve_model": ("convscope.models.loading", "resolve_model", "convscope.models.load(spec)"),
    "summary": ("convscope.capturing", "summary", "convscope.capturing.summary(model)"),
}


def __getattr__(name: str) -> Any:
    if name not in _DEPRECATED:
        raise AttributeError(f"module 'convscope.models' has no attribute {name!r}")
    module, attribute, instead = _DEPRECATED[name]
    warnings.warn(
        f"convscope.models.{name} is deprecated; use {instead}", DeprecationWarning, stacklevel=2
    )
    return getattr(importlib.import_module(module), attribute)
