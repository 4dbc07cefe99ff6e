"""Non-finite activations (NaN, Inf): counted in the one pass, flagged, never fatal.

A model whose weights or inputs hold NaN or Inf gives layers whose statistics cannot be
computed; a NaN is also below every threshold, so without a flag it would quietly count
as "not firing". :class:`NonFiniteCounter` joins a :func:`convscope.analysis.scan` and
counts, per layer, the non-finite values and the images holding any; the report names
the affected layers at the top of the page (:func:`banner`) and the CLI verbs name them
in their warnings and errors.

Example:
    >>> import numpy as np
    >>> from convscope.metrics.accumulator import Batch
    >>> counter = NonFiniteCounter(["conv"])
    >>> counter.feed(Batch(maps={"conv": np.array([[1.0, np.nan], [np.inf, 2.0], [0, 0]])}))
    >>> counter.result()
    {'conv': {'values': 2, 'images': 2, 'of': 3}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..metrics.accumulator import Batch

__all__ = ["NonFiniteCounter", "banner", "describe"]


class NonFiniteCounter:
    """Count NaN/Inf activations per layer over a scan; ``update``, ``merge``, ``result``.

    Args:
        layers: the layer selection the scan feeds (names, indices, kinds, globs).
        output: also count the model's output (under the key ``"output"``).
    """

    def __init__(self, layers: Any, *, output: bool = False) -> None:
        self.layers = layers
        self.needs_output = bool(output)
        self.counts: dict[str, list[int]] = {}

    def feed(self, batch: Batch) -> None:
        """Add one batch of a scan."""
        maps = dict(batch.maps)
        if self.needs_output and batch.output is not None:
            maps["output"] = batch.output
        self.update(maps)

    def update(self, maps: Mapping[str, Any]) -> None:
        """Add ``{layer: activations}`` with a leading batch axis."""
        for name, value in maps.items():
            acts = np.asarray(value)
            n = int(acts.shape[0]) if acts.ndim else 1
            finite = np.isfinite(acts).reshape(n, -1)
            counts = self.counts.setdefault(name, [0, 0, 0])
            counts[2] += n
            if not finite.all():
                counts[0] += int(finite.size - finite.sum())
                counts[1] += int(n - finite.all(axis=1).sum())

    def merge(self, other: NonFiniteCounter) -> NonFiniteCounter:
        """Add another counter's counts; returns ``self``."""
        for name, theirs in other.counts.items():
            mine = self.counts.setdefault(name, [0, 0, 0])
            for k in range(3):
                mine[k] += theirs[k]
        return self

    def result(self) -> dict[str, dict[str, int]]:
        """``{layer: {"values", "images", "of"}}`` for the layers with any NaN/Inf."""
        return {
            name: {"values": c[0], "images": c[1], "of": c[2]}
            for name, c in self.counts.items()
            if c[0]
        }


def describe(layer: str, counts: Mapping[str, int]) -> str:
    """One phrase for one affected layer.

    Example:
        >>> describe("dense", {"values": 12, "images": 3, "of": 10})
        'dense: 12 NaN/Inf values in 3 of 10 images'
    """
    return (
        f"{layer}: {counts['values']} NaN/Inf values in {counts['images']} of {counts['of']} images"
    )


def banner(found: Mapping[str, Mapping[str, int]]) -> str | None:
    """The report's banner for the affected layers, or None when every value is finite.

    Example:
        >>> banner({}) is None
        True
        >>> banner({"conv": {"values": 4, "images": 1, "of": 2}})[:41]
        'Non-finite activations (NaN/Inf) in conv:'
    """
    if not found:
        return None
    layers = "; ".join(describe(name, counts) for name, counts in found.items())
    return (
        f"Non-finite activations (NaN/Inf) in {', '.join(found)}: {layers}. The model's "
        "weights or inputs hold NaN or Inf: what cannot be computed for these layers is "
        "marked not computable, and their firing rates are not meaningful (a NaN is below "
        "every threshold, so it counts as not firing)."
    )
