"""convscope: look inside convolutional networks.

One currency flows through every verb: ``dict[str, numpy.ndarray]`` keyed by layer name,
conv maps in NCHW float32. Submodules load on first use, so ``import convscope`` does not
import matplotlib, keras or onnxruntime.

Example:
    >>> import numpy as np
    >>> import convscope as cs
    >>> model = cs.models.build("mnist_convnet")
    >>> maps = cs.capture(model, np.random.rand(4, 1, 28, 28), layers=["conv2d_1"])
    >>> S = cs.similarity.pairwise(maps["conv2d_1"], metric="multiply")
    >>> S.shape
    (64, 64)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> (module, attribute or None for the module itself)
_LAZY = {
    "capture": ("convscope.capturing", "capture"),
    "capture_iter": ("convscope.capturing", "capture_iter"),
    "layers": ("convscope.capturing", "layers"),
    "LayerInfo": ("convscope.capturing", "LayerInfo"),
    "similarity": ("convscope.metrics.similarity", None),
    "firing": ("convscope.analysis.firing", None),
    "analysis": ("convscope.analysis", None),
    "metrics": ("convscope.metrics", None),
    "models": ("convscope.models", None),
    "data": ("convscope.data", None),
    "train": ("convscope.train", None),
    "render": ("convscope.render", None),
    "report": ("convscope.report", None),
    "errors": ("convscope.errors", None),
    "prune": ("convscope.prune", None),
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from . import data, errors, metrics, models, render, report, train
    from .analysis import firing
    from .capturing import LayerInfo, capture, capture_iter, layers
    from .metrics import similarity


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'convscope' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
