"""Class firing profiles: which units fire for which class, and which classes fire alike.

Seed 001 binarises the penultimate dense layer (``> 0``), sums over the images of each
class, divides by a hard-coded 1000 and compares classes by the mean absolute difference
of their firing rates. This module does the same, but

* divides by the true number of samples of each class (the seed is wrong on any class
  that does not have exactly 1000 test images),
* reports a class with no samples (rate 0, count 0, and a warning) instead of dividing
  by zero,
* is an accumulator fed one batch at a time (by :func:`convscope.analysis.scan`, which
  runs the model), so memory is bounded by ``classes x units`` whatever the size of the
  data set, and profiles built on parts of a data set merge into exactly the profile of
  the whole (fire counts and sample counts are integers).

Arrays in, arrays out: this module never runs a model. The model-running wrappers
(``profile``, ``default_layer``) live in :mod:`convscope.analysis.firing`, which is
``convscope.firing``.

Example:
    >>> import numpy as np
    >>> acc = FiringAccumulator(num_classes=2)
    >>> acc.update(np.array([[1.0, 0.0], [2.0, 3.0], [0.0, 0.5]]), np.array([0, 0, 1]))
    >>> acc.result().rates
    array([[1. , 0.5],
           [0. , 1. ]])
"""

from __future__ import annotations

import importlib
import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._cluster import cluster_order
from ..errors import ConvscopeError, ShapeError, UnknownNameError
from ..validation import as_labels, as_numpy
from .accumulator import Batch
from .classes import METRICS, FiringProfile, class_distance, nearest

__all__ = [
    "FiringAccumulator",
    "FiringProfile",
    "FiringWarning",
    "METRICS",
    "REDUCES",
    "check_reduce",
    "check_threshold",
    "class_distance",
    "cluster_order",
    "fired_units",
    "nearest",
]

# names that moved to convscope.analysis.firing (they run a model); kept here as
# deprecated aliases, imported on first use
_MOVED = {"profile": "convscope.analysis.firing", "default_layer": "convscope.analysis.firing"}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"convscope.metrics.firing.{name} moved to convscope.firing.{name} "
        f"({_MOVED[name]}); import it from there",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(_MOVED[name]), name)


REDUCES = ("any", "mean")
"""How a conv channel's (H, W) map becomes one fire/no-fire per sample."""


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


def check_reduce(reduce: str) -> str:
    """Return ``reduce`` if it is one of :data:`REDUCES`, else raise.

    Example:
        >>> check_reduce("mean")
        'mean'
    """
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
        layer: name of the layer, carried into the result; the layer a scan feeds.
        class_names: one name per class; fixes ``num_classes`` when that is ``None``.

    Raises:
        ConvscopeError: bad threshold, labels out of range or not integers (labels go
            through :func:`convscope.validation.as_labels`: one-hot rows are accepted).
        UnknownNameError: unknown ``reduce``.

    Example:
        >>> a, b = FiringAccumulator(2), FiringAccumulator(2)
        >>> a.update(np.array([[1.0], [0.0]]), np.array([0, 1]))
        >>> b.update(np.array([[1.0]]), np.array([1]))
        >>> a.merge(b).result().fires.tolist()
        [[1], [1]]
    """

    needs_output = False

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
        self.reduce = check_reduce(reduce)
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
    @property
    def layers(self) -> tuple[str, ...]:
        """The one layer a scan feeds this accumulator (its ``layer``).

        Raises:
            ConvscopeError: the accumulator was built without a layer.
        """
        if not self.layer:
            raise ConvscopeError(
                "a FiringAccumulator fed by a scan needs a layer: FiringAccumulator(..., layer=NAME)"
            )
        return (self.layer,)

    def feed(self, batch: Batch) -> None:
        """Add one batch of a scan: the maps of :attr:`layers` and the labels.

        Raises:
            ConvscopeError: the batch has no labels, or not exactly one layer.
        """
        if len(batch.maps) != 1:
            raise ConvscopeError(
                f"a firing accumulator profiles one layer; the batch has {len(batch.maps)}"
            )
        if batch.labels is None:
            raise ConvscopeError(
                "the data has no labels; firing profiles need them: pass (images, labels)"
            )
        (activations,) = batch.maps.values()
        self.update(activations, batch.labels)

    def update(self, activations: Any, labels: Any) -> None:
        """Add one batch: activations (N, U) or (N, C, H, W) and integer labels (N,).

        Raises:
            ConvscopeError: labels missing, not integers, or out of range.
            ShapeError: the batch's unit shape differs from earlier batches.
        """
        acts = as_numpy(activations)
        if labels is None:
            raise ConvscopeError(
                "firing profiles need class labels; pass (images, labels) batches or a "
                "data set with labels"
            )
        labels = as_labels(labels, num_classes=self.num_classes)
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
