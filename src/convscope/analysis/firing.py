"""``convscope.firing``: class firing profiles of a model on a data set.

The arrays-in, arrays-out part (:class:`FiringAccumulator`, :func:`class_distance`,
:func:`nearest`, :func:`cluster_order`...) lives in :mod:`convscope.metrics.firing` and
is re-exported here; this module adds what runs the model: :func:`profile`, one
streaming :func:`convscope.analysis.scan` pass, and :func:`default_layer`.

Example:
    >>> import numpy as np, convscope as cs
    >>> x = np.random.default_rng(0).random((12, 1, 28, 28), dtype=np.float32)
    >>> p = cs.firing.profile(cs.models.build("fashion_gap"), (x, np.arange(12) % 3), "dense")
    >>> p.rates.shape, cs.firing.class_distance(p).shape
    ((3, 32), (3, 3))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..adapters.base import default_firing_layer
from ..capturing import layers
from ..metrics.firing import (
    METRICS,
    REDUCES,
    FiringAccumulator,
    FiringProfile,
    FiringWarning,
    check_reduce,
    check_threshold,
    class_distance,
    cluster_order,
    fired_units,
    nearest,
)
from .scan import resolve_one, scan

__all__ = [
    "METRICS",
    "REDUCES",
    "FiringAccumulator",
    "FiringProfile",
    "FiringWarning",
    "check_reduce",
    "check_threshold",
    "class_distance",
    "cluster_order",
    "default_layer",
    "fired_units",
    "nearest",
    "profile",
]


def default_layer(model: Any) -> str:
    """The layer seed 001 profiles: the one that feeds the output layer.

    The policy is :func:`convscope.adapters.base.default_firing_layer`: dropout and
    activation layers are skipped, so this is ``dense`` for fashion_gap (32 units, as in
    seed 001) and ``flatten`` for mnist_convnet (1,600 units).

    Raises:
        ConvscopeError: the model has no layer before its output.

    Example:
        >>> import convscope as cs
        >>> default_layer(cs.models.build("fashion_gap")), default_layer(cs.models.build("mnist_convnet"))
        ('dense', 'flatten')
    """
    return default_firing_layer(layers(model))


def profile(
    model: Any,
    data: Any,
    layer: str | int,
    threshold: float = 0.0,
    reduce: str = "any",
    batch_size: int = 256,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
) -> FiringProfile:
    """Profile which units of one layer fire for which class, streaming over ``data``.

    Args:
        model: a torch module, Keras or ONNX model (anything :func:`convscope.capture`
            takes).
        data: an ``(images, labels)`` pair or an iterable of ``(images, labels)``
            batches (a DataLoader).
        layer: one layer, by name or index.
        threshold: a unit fires when its activation is above this.
        reduce: for conv layers, ``"any"`` (any cell above threshold) or ``"mean"``
            (mean of the map above threshold).
        batch_size: images per forward pass (memory bound).
        num_classes: K; default ``len(class_names)``, else the largest label + 1.
        class_names: one name per class.

    Returns:
        A :class:`FiringProfile` over every sample of every class.

    Raises:
        UnknownNameError: unknown layer (the message lists the layers).
        ConvscopeError: several layers selected, data without labels, labels out of
            range, a threshold that is not a finite number.

    Example:
        >>> import numpy as np, convscope as cs
        >>> model = cs.models.build("fashion_gap")
        >>> x = np.random.default_rng(0).random((20, 1, 28, 28), dtype=np.float32)
        >>> p = profile(model, (x, np.arange(20) % 10), "dense")
        >>> p.rates.shape, p.counts.tolist()
        ((10, 32), [2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    """
    threshold = check_threshold(threshold)
    check_reduce(reduce)
    name = resolve_one(model, layer, "profile")
    acc = FiringAccumulator(num_classes, threshold, reduce, layer=name, class_names=class_names)
    (result,) = scan(model, data, acc, batch_size=batch_size)
    return result
