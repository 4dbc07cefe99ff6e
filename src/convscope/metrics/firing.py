"""Class firing profiles: which units fire for which class, and which classes fire alike.

Seed 001 binarises the penultimate dense layer (``> 0``), sums over the images of each
class, divides by a hard-coded 1000 and compares classes by the mean absolute difference
of their firing rates. This module does the same, but

* divides by the true number of samples of each class (the seed is wrong on any class
  that does not have exactly 1000 test images),
* reports a class with no samples (rate 0, count 0, and a warning) instead of dividing
  by zero,
* streams through :func:`convscope.capturing.capture_iter`, so memory is bounded by
  ``classes x units`` whatever the size of the data set, and
* is an accumulator: profiles built on parts of a data set merge into exactly the
  profile of the whole (fire counts and sample counts are integers).

Example:
    >>> import numpy as np
    >>> acc = FiringAccumulator(num_classes=2)
    >>> acc.update(np.array([[1.0, 0.0], [2.0, 3.0], [0.0, 0.5]]), np.array([0, 0, 1]))
    >>> acc.result().rates
    array([[1. , 0.5],
           [0. , 1. ]])
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConvscopeError, ShapeError, UnknownNameError

__all__ = [
    "FiringAccumulator",
    "FiringProfile",
    "FiringWarning",
    "METRICS",
    "REDUCES",
    "class_distance",
    "cluster_order",
    "nearest",
    "profile",
]

REDUCES = ("any", "mean")
"""How a conv channel's (H, W) map becomes one fire/no-fire per sample."""

METRICS = ("l1", "cosine", "correlation")
"""Distances between the firing-rate rows of two classes."""


class FiringWarning(UserWarning):
    """Something about a firing profile the caller should know (empty class, negative units)."""


def check_threshold(threshold: Any) -> float:
    """Return ``threshold`` as a float, or raise if it is not a finite real number.

    Example:
        >>> check_threshold(0)
        0.0
    """
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not math.isfinite(float(threshold))
    ):
        raise ConvscopeError(
            f"threshold must be a finite number (a unit fires when its activation is above "
            f"it), got {threshold!r}"
        )
    return float(threshold)


def default_layer(model: Any) -> str:
    """The layer seed 001 profiles: the one that feeds the output layer.

    Dropout and activation layers are skipped (they repeat their input), so this is
    ``dense`` for fashion_gap (32 units, as in seed 001) and ``flatten`` for
    mnist_convnet (1,600 units). A conv map almost always has some cell above 0, so
    whole-map layers would make every rate 1; dense or flattened units fire sparsely.

    Raises:
        ConvscopeError: the model has no layer before its output.

    Example:
        >>> import convscope as cs
        >>> default_layer(cs.models.build("fashion_gap")), default_layer(cs.models.build("mnist_convnet"))
        ('dense', 'flatten')
    """
    from ..capturing import layers

    leaves = [i for i in layers(model) if i.kind != "block"]
    before = [i for i in leaves[:-1] if i.kind not in ("dropout", "activation")]
    if not before:
        raise ConvscopeError("the model has no layer before its output to profile; name a layer")
    return before[-1].name


def _check_reduce(reduce: str) -> str:
    if reduce not in REDUCES:
        raise UnknownNameError("reduce", [str(reduce)], REDUCES)
    return reduce


def fired_units(activations: np.ndarray, threshold: float = 0.0, reduce: str = "any") -> np.ndarray:
    """Turn one batch of activations into a boolean (N, units) "fired" matrix.

    Dense outputs (N, U): a unit fires when its value is above ``threshold``. Conv maps
    (N, C, H, W) (or any N, C, ... layout): ``reduce="any"`` fires a channel when any cell
    is above ``threshold``; ``reduce="mean"`` when the mean over its cells is.

    Example:
        >>> maps = np.array([[[[0.0, 3.0]], [[0.0, 0.0]]]])  # (1, 2, 1, 2)
        >>> fired_units(maps, 1.0, "any"), fired_units(maps, 1.0, "mean")
        (array([[ True, False]]), array([[ True, False]]))
    """
    acts = np.asarray(activations)
    if acts.ndim == 1:
        acts = acts[:, None]
    if acts.ndim == 2:
        return acts > threshold
    spatial = tuple(range(2, acts.ndim))
    if reduce == "any":
        return (acts > threshold).any(axis=spatial)
    return acts.mean(axis=spatial, dtype=np.float64) > threshold


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
            from .._io import write_text

            write_text(path, text)
        return text


class FiringAccumulator:
    """Streaming class x unit fire counts; ``update`` per batch, ``merge``, ``result``.

    Memory is ``classes x units`` integers, whatever the number of samples. Counts are
    int64, so two accumulators fed two halves of a data set merge into exactly the
    accumulator of the whole.

    Args:
        num_classes: K, or ``None`` to grow with the largest label seen (a class above
            the largest label can then not be reported as empty).
        threshold: a unit fires when its activation is above this (finite number).
        reduce: ``"any"`` or ``"mean"``, for conv maps (see :func:`fired_units`).
        layer: name of the layer, carried into the result.
        class_names: one name per class; fixes ``num_classes`` when that is ``None``.

    Raises:
        ConvscopeError: bad threshold, labels out of range or not integers.
        UnknownNameError: unknown ``reduce``.

    Example:
        >>> a, b = FiringAccumulator(2), FiringAccumulator(2)
        >>> a.update(np.array([[1.0], [0.0]]), np.array([0, 1]))
        >>> b.update(np.array([[1.0]]), np.array([1]))
        >>> a.merge(b).result().fires.tolist()
        [[1], [1]]
    """

    def __init__(
        self,
        num_classes: int | None = None,
        threshold: float = 0.0,
        reduce: str = "any",
        *,
        layer: str | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.threshold = check_threshold(threshold)
        self.reduce = _check_reduce(reduce)
        self.layer = layer
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        if num_classes is None and self.class_names is not None:
            num_classes = len(self.class_names)
        if num_classes is not None:
            if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
                raise ConvscopeError(f"num_classes must be an integer, got {num_classes!r}")
            if num_classes < 1:
                raise ConvscopeError(f"num_classes must be at least 1, got {num_classes}")
            num_classes = int(num_classes)
            if self.class_names is not None and len(self.class_names) != num_classes:
                raise ConvscopeError(
                    f"{len(self.class_names)} class names for num_classes={num_classes}; "
                    "give one name per class"
                )
        self.num_classes = num_classes
        k = num_classes or 0
        self.counts_ = np.zeros(k, dtype=np.int64)
        self.fires_: np.ndarray | None = None  # (K, U) once the unit count is known
        self.unit_shape_: tuple[int, ...] | None = None
        self.saw_negative_ = False
        self._warned_negative = False

    # -- feeding ---------------------------------------------------------------------
    def update(self, activations: Any, labels: Any) -> None:
        """Add one batch: activations (N, U) or (N, C, H, W) and integer labels (N,).

        Raises:
            ConvscopeError: labels missing, not integers, or out of range.
            ShapeError: the batch's unit shape differs from earlier batches.
        """
        acts = _to_numpy(activations)
        if labels is None:
            raise ConvscopeError(
                "firing profiles need class labels; pass (images, labels) batches or a "
                "data set with labels"
            )
        labels = _check_labels(_to_numpy(labels), self.num_classes)
        if acts.ndim == 0 or acts.shape[0] != labels.shape[0]:
            raise ShapeError(
                f"{acts.shape[0] if acts.ndim else 0} activations but {labels.shape[0]} "
                f"labels (activations shape {acts.shape}); pass one label per sample"
            )
        unit_shape = tuple(acts.shape[1:]) or (1,)
        if self.unit_shape_ is None:
            self.unit_shape_ = unit_shape
        elif unit_shape != self.unit_shape_:
            raise ShapeError(
                f"activations of shape (N, {', '.join(map(str, unit_shape))}) do not fit the "
                f"earlier batches (N, {', '.join(map(str, self.unit_shape_))}); feed one layer "
                "per accumulator"
            )
        if acts.size and not self.saw_negative_ and bool((acts < 0).any()):
            self.saw_negative_ = True
            self._warn_negative()
        fired = fired_units(acts, self.threshold, self.reduce)
        if len(labels):
            self._grow(int(labels.max()) + 1)
        if self.fires_ is None:
            self.fires_ = np.zeros((len(self.counts_), fired.shape[1]), dtype=np.int64)
        self.counts_ += np.bincount(labels, minlength=len(self.counts_)).astype(np.int64)
        for k in np.unique(labels):
            self.fires_[k] += fired[labels == k].sum(axis=0, dtype=np.int64)

    def _grow(self, k: int) -> None:
        if k <= len(self.counts_):
            return
        self.counts_ = np.concatenate([self.counts_, np.zeros(k - len(self.counts_), np.int64)])
        if self.fires_ is not None:
            pad = np.zeros((k - self.fires_.shape[0], self.fires_.shape[1]), np.int64)
            self.fires_ = np.concatenate([self.fires_, pad])

    def _warn_negative(self) -> None:
        if self._warned_negative:
            return
        self._warned_negative = True
        where = f"layer {self.layer!r}" if self.layer else "these activations"
        warnings.warn(
            f"{where} has negative values, so it has no non-negative activation (ReLU); "
            f"'fires' then only means 'above threshold={self.threshold:g}'",
            FiringWarning,
            stacklevel=3,
        )

    def merge(self, other: FiringAccumulator) -> FiringAccumulator:
        """Add ``other``'s counts into this accumulator and return ``self``.

        Raises:
            ConvscopeError: different threshold, reduce, class count or unit shape.
        """
        if not isinstance(other, FiringAccumulator):
            raise ConvscopeError(f"can only merge a FiringAccumulator, got {type(other).__name__}")
        mismatch = []
        if other.threshold != self.threshold:
            mismatch.append(f"threshold {self.threshold} vs {other.threshold}")
        if other.reduce != self.reduce:
            mismatch.append(f"reduce {self.reduce!r} vs {other.reduce!r}")
        if (
            self.num_classes is not None
            and other.num_classes is not None
            and self.num_classes != other.num_classes
        ):
            mismatch.append(f"num_classes {self.num_classes} vs {other.num_classes}")
        if (
            self.unit_shape_ is not None
            and other.unit_shape_ is not None
            and self.unit_shape_ != other.unit_shape_
        ):
            mismatch.append(f"unit shape {self.unit_shape_} vs {other.unit_shape_}")
        if self.layer and other.layer and self.layer != other.layer:
            mismatch.append(f"layer {self.layer!r} vs {other.layer!r}")
        if mismatch:
            raise ConvscopeError(
                "cannot merge firing accumulators with different settings: "
                + "; ".join(mismatch)
                + ". Build both with the same layer, threshold, reduce and num_classes."
            )
        if other.num_classes is not None and self.num_classes is None:
            if len(self.counts_) > other.num_classes:
                raise ConvscopeError(
                    f"labels up to {len(self.counts_) - 1} seen, but the other accumulator "
                    f"has num_classes={other.num_classes}"
                )
            self.num_classes = other.num_classes
        if self.num_classes is not None and len(other.counts_) > self.num_classes:
            raise ConvscopeError(
                f"the other accumulator saw labels up to {len(other.counts_) - 1}, "
                f"but num_classes={self.num_classes}"
            )
        self._grow(max(len(other.counts_), self.num_classes or 0))
        self.counts_[: len(other.counts_)] += other.counts_
        if other.fires_ is not None:
            if self.fires_ is None:
                self.fires_ = np.zeros((len(self.counts_), other.fires_.shape[1]), np.int64)
            self.fires_[: other.fires_.shape[0]] += other.fires_
        self.unit_shape_ = self.unit_shape_ or other.unit_shape_
        self.layer = self.layer or other.layer
        self.class_names = self.class_names or other.class_names
        if other.saw_negative_ and not self.saw_negative_:
            self.saw_negative_ = True
            self._warn_negative()
        return self

    # -- reading ---------------------------------------------------------------------
    def result(self) -> FiringProfile:
        """Return the :class:`FiringProfile` of everything seen so far.

        A class with no samples gets rate 0 and count 0, and a :class:`FiringWarning`
        names it.

        Raises:
            ConvscopeError: nothing was fed yet.
        """
        if self.fires_ is None:
            raise ConvscopeError("no activations seen: call update() with at least one batch")
        counts = self.counts_.copy()
        fires = self.fires_.copy()
        names = self.class_names or [str(k) for k in range(len(counts))]
        rates = np.zeros(fires.shape, dtype=np.float64)
        seen = counts > 0
        rates[seen] = fires[seen] / counts[seen, None]
        empty = [names[k] for k in np.flatnonzero(~seen)]
        if empty:
            warnings.warn(
                f"no samples of class{'es' if len(empty) > 1 else ''} "
                f"{', '.join(repr(e) for e in empty)}: their firing rates are reported as 0 "
                "with count 0",
                FiringWarning,
                stacklevel=2,
            )
        return FiringProfile(
            rates=rates,
            counts=counts,
            fires=fires,
            layer=self.layer,
            threshold=self.threshold,
            reduce=self.reduce,
            class_names=list(names),
        )


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _check_labels(labels: np.ndarray, num_classes: int | None) -> np.ndarray:
    if labels.ndim != 1:
        raise ShapeError(
            f"labels must be one class index per sample, shape (N,); got {labels.shape} "
            "(one-hot labels? pass labels.argmax(1))"
        )
    if labels.dtype.kind in "iu":
        out = labels.astype(np.int64, copy=False)
    elif labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels % 1 == 0):
        out = labels.astype(np.int64)
    elif labels.dtype.kind == "b":
        out = labels.astype(np.int64)
    else:
        raise ConvscopeError(
            f"labels must be integer class indices, got dtype {labels.dtype}"
            + (" with non-integer values" if labels.dtype.kind == "f" else "")
        )
    if len(out):
        low, high = int(out.min()), int(out.max())
        if low < 0 or (num_classes is not None and high >= num_classes):
            bound = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
            bad = low if low < 0 else high
            raise ConvscopeError(
                f"label {bad} is out of range: labels must be class indices {bound}; "
                "pass num_classes (or class_names) that covers every label"
            )
    return out


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
    from ..adapters import resolve_layers
    from ..capturing import capture_iter, layers

    threshold = check_threshold(threshold)
    _check_reduce(reduce)
    names = resolve_layers(layer, layers(model))
    if len(names) != 1:
        raise ConvscopeError(
            f"profile takes one layer; {layer!r} selects {len(names)}: {', '.join(names)}. "
            "Name one of them."
        )
    name = names[0]
    acc = FiringAccumulator(num_classes, threshold, reduce, layer=name, class_names=class_names)
    for maps, labels in capture_iter(model, data, [name], batch_size=batch_size):
        if labels is None:
            raise ConvscopeError(
                "the data has no labels; firing profiles need them: pass (images, labels)"
            )
        acc.update(maps[name], labels)
    if acc.fires_ is None:
        raise ConvscopeError("the data is empty: no images to profile")
    return acc.result()


# -- comparing classes -----------------------------------------------------------------
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


def nearest(
    profile_or_distance: FiringProfile | np.ndarray, k: int | None = None
) -> list[list[tuple[int, float]]]:
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


def cluster_order(
    distance: np.ndarray, method: str = "average", optimal_ordering: bool | None = None
) -> list[int]:
    """Order items (classes, channels) by hierarchical clustering, alike ones adjacent.

    Args:
        distance: a (K, K) distance matrix (made symmetric, diagonal set to 0).
        method: scipy linkage method (default average linkage).
        optimal_ordering: reorder leaves so neighbours are most alike (default: K <= 256).

    Returns:
        The class indices in dendrogram leaf order.

    Example:
        >>> d = np.array([[0, 9, 1, 9], [9, 0, 9, 1], [1, 9, 0, 9], [9, 1, 9, 0.0]])
        >>> cluster_order(d)  # 0 beside 2 and 1 beside 3
        [0, 2, 3, 1]
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    dist = np.asarray(distance, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ShapeError(f"a distance matrix must be square (K, K), got shape {dist.shape}")
    if not np.all(np.isfinite(dist)):
        raise ConvscopeError("the distance matrix has NaN or infinite entries")
    n = dist.shape[0]
    if n <= 2:
        return list(range(n))
    dist = np.maximum((dist + dist.T) / 2.0, 0.0)
    np.fill_diagonal(dist, 0.0)
    if optimal_ordering is None:  # neighbours most alike; costly beyond a few hundred
        optimal_ordering = n <= 256
    tree = linkage(squareform(dist, checks=False), method=method, optimal_ordering=optimal_ordering)
    return [int(i) for i in leaves_list(tree)]
