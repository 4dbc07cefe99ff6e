"""Class firing profiles as results: the :class:`FiringProfile` record, and how classes
compare by their firing rates (distances between rows, nearest classes).

Arrays in, arrays out. Re-exported by :mod:`convscope.metrics.firing` (whose
``FiringAccumulator`` builds the profiles) and ``convscope.firing``.

Example:
    >>> nearest(class_distance(np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])), k=1)
    [[(1, 0.5)], [(0, 0.5)], [(1, 0.5)]]
"""

from __future__ import annotations

import csv
import io
import numbers
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._io import write_text
from ..errors import ConvscopeError, ShapeError, UnknownNameError

__all__ = ["METRICS", "FiringProfile", "class_distance", "nearest"]

METRICS = ("l1", "cosine", "correlation")
"""Distances between the firing-rate rows of two classes."""


@dataclass
class FiringProfile:
    """The result of a firing profile: a class x unit matrix of firing rates.

    Attributes:
        rates: (K, U) float64, the fraction of each class's samples on which a unit fired
            (0 for a class with no samples).
        counts: (K,) int64, samples seen per class.
        fires: (K, U) int64, samples per class on which each unit fired.
        layer: the layer profiled (``None`` when built from raw activations).
        threshold: a unit fires when its activation is above this.
        reduce: how conv channels were reduced (``"any"`` or ``"mean"``).
        class_names: one name per class (default ``"0"``, ``"1"``, ...).
    """

    rates: np.ndarray
    counts: np.ndarray
    fires: np.ndarray
    layer: str | None = None
    threshold: float = 0.0
    reduce: str = "any"
    class_names: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        """K, the number of classes (rows)."""
        return int(self.rates.shape[0])

    @property
    def num_units(self) -> int:
        """U, the number of units or channels (columns)."""
        return int(self.rates.shape[1])

    @property
    def empty_classes(self) -> list[int]:
        """Indices of the classes that had no samples."""
        return [int(k) for k in np.flatnonzero(self.counts == 0)]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (lists, no NaN).

        Example:
            >>> from convscope.metrics.firing import FiringAccumulator
            >>> acc = FiringAccumulator(1)
            >>> acc.update(np.array([[1.0]]), np.array([0]))
            >>> acc.result().to_dict()["rates"]
            [[1.0]]
        """
        return {
            "layer": self.layer,
            "threshold": self.threshold,
            "reduce": self.reduce,
            "class_names": list(self.class_names),
            "counts": self.counts.tolist(),
            "fires": self.fires.tolist(),
            "rates": self.rates.tolist(),
        }

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """Return the profile as CSV (one row per class: name, count, one rate per unit).

        Written atomically to ``path`` when given.

        Example:
            >>> from convscope.metrics.firing import FiringAccumulator
            >>> acc = FiringAccumulator(1)
            >>> acc.update(np.array([[1.0, 0.0]]), np.array([0]))
            >>> print(acc.result().to_csv().strip())
            class,count,unit_0,unit_1
            0,1,1.0,0.0
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["class", "count", *(f"unit_{u}" for u in range(self.num_units))])
        for k in range(self.num_classes):
            writer.writerow(
                [self.class_names[k], int(self.counts[k]), *(repr(float(r)) for r in self.rates[k])]
            )
        text = buffer.getvalue()
        if path is not None:
            write_text(path, text)
        return text


def _rates_of(profile_or_rates: FiringProfile | np.ndarray) -> np.ndarray:
    if isinstance(profile_or_rates, FiringProfile):
        return profile_or_rates.rates
    rates = np.asarray(profile_or_rates, dtype=np.float64)
    if rates.ndim != 2:
        raise ShapeError(f"firing rates must be a (classes, units) matrix, got shape {rates.shape}")
    return rates


def class_distance(profile: FiringProfile | np.ndarray, metric: str = "l1") -> np.ndarray:
    """Distance between the firing-rate rows of every pair of classes: (K, K).

    Args:
        profile: a :class:`FiringProfile` or a (K, U) rate matrix.
        metric: ``"l1"`` (seed 001: mean absolute difference, ``sum|a-b| / U``),
            ``"cosine"`` (1 - cosine similarity; an all-zero row is at distance 1 from
            any other row and 0 from another all-zero row) or ``"correlation"``
            (1 - Pearson r; a constant row correlates 0 with any other row, so its
            distance is 1, except 0 to an identical row).

    Returns:
        A symmetric (K, K) float64 matrix, zero diagonal, no NaN.

    Example:
        >>> class_distance(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        array([[0. , 1. , 0.5],
               [1. , 0. , 0.5],
               [0.5, 0.5, 0. ]])
    """
    rates = _rates_of(profile)
    if metric not in METRICS:
        raise UnknownNameError("metric", [str(metric)], METRICS)
    k, units = rates.shape
    if units == 0:
        raise ShapeError("firing rates have no units; profile a layer with at least one unit")
    if metric == "l1":
        dist = np.abs(rates[:, None, :] - rates[None, :, :]).sum(axis=-1) / units
    else:
        rows = rates - rates.mean(axis=1, keepdims=True) if metric == "correlation" else rates
        norms = np.sqrt((rows * rows).sum(axis=1))
        zero = norms <= 1e-12 * max(1.0, float(np.abs(rates).max(initial=0.0)))
        safe = np.where(zero, 1.0, norms)
        unit_rows = rows / safe[:, None]
        sim = unit_rows @ unit_rows.T
        sim[zero, :] = 0.0
        sim[:, zero] = 0.0
        dist = 1.0 - np.clip(sim, -1.0, 1.0)
        same = (rates[:, None, :] == rates[None, :, :]).all(axis=-1)
        dist[same] = 0.0
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    return np.maximum(dist, 0.0)


def nearest(profile_or_distance: Any, k: int | None = None) -> list[list[tuple[int, float]]]:
    """Rank, for each class, the other classes from most to least alike.

    Args:
        profile_or_distance: a :class:`FiringProfile` (compared with ``"l1"``) or a
            (K, K) distance matrix from :func:`class_distance`.
        k: keep the ``k`` nearest of each row (default: all K - 1).

    Returns:
        One row per class: ``[(other_class, distance), ...]`` by ascending distance,
        ties broken by class index.

    Example:
        >>> nearest(np.array([[0.0, 0.2, 0.1], [0.2, 0.0, 0.2], [0.1, 0.2, 0.0]]))
        [[(2, 0.1), (1, 0.2)], [(0, 0.2), (2, 0.2)], [(0, 0.1), (1, 0.2)]]
    """
    if isinstance(profile_or_distance, FiringProfile):
        dist = class_distance(profile_or_distance)
    else:
        dist = np.asarray(profile_or_distance, dtype=np.float64)
        if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
            raise ShapeError(f"a distance matrix must be square (K, K), got shape {dist.shape}")
    n = dist.shape[0]
    if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0):
        raise ConvscopeError(f"k must be a non-negative integer or None, got {k!r}")
    rows = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        order = sorted(others, key=lambda j: (dist[i, j], j))
        if k is not None:
            order = order[: int(k)]
        rows.append([(int(j), float(dist[i, j])) for j in order])
    return rows
