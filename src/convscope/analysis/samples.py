"""Keep the maps of a few chosen samples during a scan (probe images, the first N).

A report draws the feature maps of a handful of probe images and compares channels on
the first few images of a split; :class:`MapSampler` keeps exactly those rows while the
one data-set pass goes by, so no second forward pass is needed.

Example:
    >>> import numpy as np
    >>> sampler = MapSampler("conv", indices=[3, 0])
    >>> sampler.update({"conv": np.arange(5.0)[:, None]}, start=0)
    >>> sampler.result()["conv"].ravel().tolist()
    [3.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConvscopeError
from ..metrics.accumulator import Batch
from ..validation import as_numpy, check_int

__all__ = ["MapSampler"]


class MapSampler:
    """Keep the maps of the samples at chosen stream positions; ``update``, ``merge``, ``result``.

    Args:
        layers: the layer selection to keep (names, kinds, globs; ``()`` for none).
        indices: positions in the stream to keep, returned in this order.
        first: keep the first ``first`` samples instead.

    Raises:
        ConvscopeError: neither or both of ``indices`` and ``first``, or a negative one.

    Example:
        >>> a, b = MapSampler("d", first=3), MapSampler("d", first=3)
        >>> a.update({"d": np.zeros((2, 1))}, start=0)
        >>> b.update({"d": np.ones((2, 1))}, start=2)
        >>> a.merge(b).result()["d"].ravel().tolist()
        [0.0, 0.0, 1.0]
    """

    needs_output = False

    def __init__(
        self, layers: Any, *, indices: Sequence[int] | None = None, first: int | None = None
    ) -> None:
        if (indices is None) == (first is None):
            raise ConvscopeError("MapSampler takes either indices=[...] or first=N")
        self.layers = layers
        self.indices = (
            None if indices is None else [check_int(i, "index", minimum=0) for i in indices]
        )
        self.first = None if first is None else check_int(first, "first", minimum=0)
        self.rows_: dict[int, dict[str, np.ndarray]] = {}

    def _wanted(self) -> list[int]:
        return self.indices if self.indices is not None else list(range(self.first or 0))

    def feed(self, batch: Batch) -> None:
        """Keep the rows of this scan batch that are wanted."""
        self.update(batch.maps, start=batch.start, count=len(batch))

    def update(self, maps: Mapping[str, Any], start: int = 0, count: int | None = None) -> None:
        """Keep the wanted rows of one batch whose first sample is at position ``start``.

        ``count`` is the batch's size when ``maps`` is empty (no layer wanted).
        """
        arrays = {name: as_numpy(value) for name, value in maps.items()}
        n = len(next(iter(arrays.values()))) if arrays else int(count or 0)
        for position in self._wanted():
            if start <= position < start + n and position not in self.rows_:
                self.rows_[position] = {
                    name: array[position - start].copy() for name, array in arrays.items()
                }

    def merge(self, other: MapSampler) -> MapSampler:
        """Add ``other``'s kept rows (positions in the same stream) and return ``self``.

        Raises:
            ConvscopeError: different wanted samples.
        """
        if not isinstance(other, MapSampler) or other._wanted() != self._wanted():
            raise ConvscopeError("can only merge a MapSampler that wants the same samples")
        for position, row in other.rows_.items():
            self.rows_.setdefault(position, row)
        return self

    def result(self) -> dict[str, np.ndarray]:
        """``{layer: (k, ...) maps}`` of the wanted samples, in the order asked.

        With ``first=N`` on a shorter stream, the samples there were.

        Raises:
            ConvscopeError: an index was never seen (past the end of the data).
        """
        wanted = self._wanted()
        if self.first is not None:
            wanted = [p for p in wanted if p in self.rows_]
        missing = [p for p in wanted if p not in self.rows_]
        if missing:
            seen = max(self.rows_, default=-1) + 1
            raise ConvscopeError(
                f"sample indices {missing} were never seen (at least {seen} samples were); "
                "pick indices inside the data"
            )
        if not wanted:
            return {}
        names = list(self.rows_[wanted[0]])
        return {name: np.stack([self.rows_[p][name] for p in wanted]) for name in names}
