"""The accumulator protocol: what a data-set-wide statistic implements to join a scan.

Every data-set-wide statistic in convscope is an accumulator: ``update`` with one batch
of arrays, ``merge`` another accumulator of the same settings (partial results from
several processes or machines combine exactly), ``result`` for the answer. To be fed by
:func:`convscope.analysis.scan`, which runs the model once per batch for every
accumulator, it also says what it needs from that pass:

* ``layers``: the layer selection whose maps it reads (names, indices, kinds, globs;
  ``()`` for none), resolved by the scan against the model's layers;
* ``needs_output``: whether it reads the model's final output (the logits);
* ``feed(batch)``: take one :class:`Batch` (its maps hold exactly the resolved layers).

Metrics never run a model: a :class:`Batch` is arrays in.

Example:
    >>> import numpy as np
    >>> from convscope.metrics.evaluation import EvaluationAccumulator
    >>> acc = EvaluationAccumulator()
    >>> isinstance(acc, Accumulator)
    True
    >>> acc.feed(Batch(maps={}, labels=np.array([1]), output=np.array([[0.0, 2.0]])))
    >>> acc.result().accuracy
    1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Accumulator", "Batch"]


@dataclass(frozen=True)
class Batch:
    """One batch of a scan, as an accumulator sees it.

    Attributes:
        maps: ``{layer: activations}`` for the layers this accumulator asked for (conv
            maps (N, C, H, W), dense (N, U)); the arrays may be views reused by the next
            batch: copy what you keep.
        labels: (N,) class labels (or one-hot rows), or ``None`` when the data has none.
        output: the model's final output (N, K) when the accumulator asked for it.
        start: the position of the batch's first sample in the stream.
    """

    maps: Mapping[str, np.ndarray] = field(default_factory=dict)
    labels: np.ndarray | None = None
    output: np.ndarray | None = None
    start: int = 0

    def __len__(self) -> int:
        """Samples in the batch.

        Example:
            >>> len(Batch(labels=np.arange(3)))
            3
        """
        for array in (self.output, self.labels, *self.maps.values()):
            if array is not None:
                return int(len(array))
        return 0


@runtime_checkable
class Accumulator(Protocol):
    """A mergeable data-set-wide statistic that a scan can feed."""

    layers: Any
    """The layer selection ``feed`` reads (``()`` for none)."""
    needs_output: bool
    """Whether ``feed`` reads the model's final output."""

    def feed(self, batch: Batch) -> None:
        """Add one batch of a scan."""

    def merge(self, other: Any) -> Any:
        """Add another accumulator of the same settings; return ``self``."""

    def result(self) -> Any:
        """The statistic of everything fed so far."""
