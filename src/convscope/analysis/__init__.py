"""Analyses that run a model over a data set: one streaming pass feeds every statistic.

* :func:`scan` -- the driver: runs the model once per batch and feeds every accumulator
  (:mod:`convscope.metrics.accumulator`) the layers it asked for.
* :class:`MapSampler` -- keeps the maps of chosen samples during that pass.
* :mod:`convscope.analysis.firing` (``convscope.firing``) -- class firing profiles.
* :mod:`convscope.analysis.stats` -- channel statistics (``channel_stats``).

Example:
    >>> import numpy as np, convscope as cs
    >>> from convscope.metrics.evaluation import EvaluationAccumulator
    >>> x, y = np.zeros((3, 1, 28, 28), np.float32), np.array([0, 1, 2])
    >>> (ev,) = cs.analysis.scan(cs.models.build("mnist_convnet"), (x, y), EvaluationAccumulator())
    >>> ev.confusion.shape
    (10, 10)
"""

from __future__ import annotations

from . import firing, stats
from .samples import MapSampler
from .scan import output_layer, resolve_one, scan

__all__ = ["MapSampler", "firing", "output_layer", "resolve_one", "scan", "stats"]
