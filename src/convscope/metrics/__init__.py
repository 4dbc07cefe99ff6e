"""Metrics computed on captured activations: arrays in, arrays out, no matplotlib.

Submodules load on first use:

* :mod:`convscope.metrics.similarity` -- channel-pair similarity (``multiply``, ``cosine``,
  ``pearson``), the mean pair similarity seed 000 logs, extreme pairs, redundancy groups and
  linear CKA between layers.
* :mod:`convscope.metrics.firing` -- class firing profiles (with
  :mod:`convscope.metrics.classes`: the profile record and class distances).
* :mod:`convscope.metrics.stats` -- channel statistics.
* :mod:`convscope.metrics.evaluation` -- classifier loss, accuracy, per-class accuracy,
  confusion matrix.
* :mod:`convscope.metrics.accumulator` -- the protocol every data-set-wide statistic
  follows (``feed``/``update``, ``merge``, ``result``), so one
  :func:`convscope.analysis.scan` feeds them all from one pass over the data.

Metrics never run a model: the wrappers that do live in :mod:`convscope.analysis`.

Example:
    >>> import numpy as np
    >>> from convscope import metrics
    >>> maps = np.random.default_rng(0).random((4, 5, 5)).astype(np.float32)
    >>> metrics.similarity.pairwise(maps, "cosine").shape
    (4, 4)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_SUBMODULES = ("accumulator", "classes", "evaluation", "firing", "similarity", "stats", "topk")

__all__ = list(_SUBMODULES)

if TYPE_CHECKING:  # pragma: no cover
    from . import accumulator as accumulator
    from . import classes as classes
    from . import evaluation as evaluation
    from . import firing as firing
    from . import similarity as similarity
    from . import stats as stats
    from . import topk as topk


def __getattr__(name: str) -> Any:
    if name not in _SUBMODULES:
        raise AttributeError(f"module 'convscope.metrics' has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{name}")
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
