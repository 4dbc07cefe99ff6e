"""Data-set-wide channel statistics of a model: one streaming pass into ``ChannelStats``.

Example:
    >>> import numpy as np, convscope as cs
    >>> x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    >>> stats = channel_stats(cs.models.build("mnist_convnet"), x, similarity_samples=0)
    >>> [s.num_samples for s in stats.values()]
    [4, 4]
"""

from __future__ import annotations

from typing import Any

from ..metrics.stats import ChannelStats, LayerStats
from .scan import scan

__all__ = ["ChannelStats", "LayerStats", "channel_stats"]


def channel_stats(
    model: Any,
    data: Any,
    layers: Any = "conv",
    threshold: float = 0.0,
    batch_size: int = 256,
    similarity_samples: int | None = 256,
) -> dict[str, LayerStats]:
    """Channel statistics of every selected layer in one streaming pass over ``data``.

    Args:
        model: a torch module, Keras or ONNX model.
        data: images, an ``(images, labels)`` pair or an iterable of batches (labels are
            not needed).
        layers: a layer selection (names, indices, kinds, globs); default every conv layer.
        threshold: a channel fires on an image when any cell is above this.
        batch_size: images per forward pass (memory bound).
        similarity_samples: images per layer the mean channel similarity is averaged
            over (the first ones; ``None`` for all, 0 to skip).

    Returns:
        ``{layer: LayerStats}``.

    Raises:
        UnknownNameError: unknown layer.
        ConvscopeError: empty data, bad threshold.

    Example:
        >>> import numpy as np, convscope as cs
        >>> x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
        >>> stats = channel_stats(cs.models.build("mnist_convnet"), x, similarity_samples=0)
        >>> sorted(stats), stats["conv2d"].mean.shape
        (['conv2d', 'conv2d_1'], (32,))
    """
    acc = ChannelStats(threshold=threshold, similarity_samples=similarity_samples, layers=layers)
    (result,) = scan(model, data, acc, batch_size=batch_size)
    return result
