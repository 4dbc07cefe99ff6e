"""Pruning: put channel redundancy to use. Rank a layer's channels, then remove them.

* :func:`rank_channels` -- the order to remove a layer's channels in, by ``redundancy``
  (most similar to another channel), ``weight_norm``, ``fpgm`` or ``random``.
* :func:`prune` -- a genuinely narrower zoo model without those channels, which saves,
  loads and goes through every verb like any zoo model (``convscope prune`` on the
  command line).

Example:
    >>> import numpy as np, convscope as cs
    >>> from convscope import prune as cp
    >>> model = cs.models.build("mnist_convnet")
    >>> x = np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32)
    >>> ranking = cp.rank_channels(model, x, "conv2d_1", by="redundancy")
    >>> small = cp.prune(model, "conv2d_1", ranking.select(fraction=0.5))
    >>> small.widths
    {'conv2d': 32, 'conv2d_1': 32}
"""

from __future__ import annotations

from .rank import CRITERIA, ChannelRanking, rank_channels, redundancy_order
from .surgery import check_prunable, consumer_of, parameter_count, prune

__all__ = [
    "CRITERIA",
    "ChannelRanking",
    "check_prunable",
    "consumer_of",
    "parameter_count",
    "prune",
    "rank_channels",
    "redundancy_order",
]
