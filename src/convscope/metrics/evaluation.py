"""Classifier evaluation as an accumulator: loss, accuracy, per-class accuracy, confusion.

:class:`EvaluationAccumulator` takes the model's scores (logits, or softmax
probabilities) and the true labels one batch at a time. The confusion matrix is integer
counts and the loss is kept as an exact sum of the per-sample cross-entropies (the
partials of :func:`math.fsum`), so accumulators fed parts of a data set merge into
exactly, bit for bit, the accumulator of the whole, in any order.

Example:
    >>> import numpy as np
    >>> acc = EvaluationAccumulator(class_names=["a", "b"])
    >>> acc.update(np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), np.array([0, 1, 1]))
    >>> result = acc.result()
    >>> result.accuracy, result.confusion.tolist(), result.per_class_accuracy
    (0.6666666666666666, [[1, 0], [1, 1]], {'a': 1.0, 'b': 0.5})
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConvscopeError, ShapeError, UnknownNameError
from ..validation import as_labels, as_numpy, check_int
from .accumulator import Batch

__all__ = ["SCORES", "EvaluationAccumulator", "EvaluationMetrics"]

SCORES = ("auto", "logits", "probabilities")
"""What the scores fed to :class:`EvaluationAccumulator` are (``auto``: decided on the first
batch; rows that are non-negative and sum to 1 are probabilities)."""


@dataclass(frozen=True)
class EvaluationMetrics:
    """What :meth:`EvaluationAccumulator.result` returns.

    Attributes:
        loss: mean cross-entropy.
        accuracy: fraction of correct top-1 predictions.
        class_names: one name per class.
        per_class_accuracy: class name -> accuracy (``None`` for a class with no samples).
        per_class_count: class name -> samples of that class.
        confusion: (K, K) int64 counts, row = true class, column = predicted class.
        confusion_normalized: ``confusion`` divided by its row sums (0 for empty rows).
        num_samples: samples seen.
        predictions, probabilities, labels: per sample, in the order fed ((N,) int64,
            (N, K) float32, (N,) int64), when the accumulator keeps them; else ``None``.
    """

    loss: float
    accuracy: float
    class_names: list[str]
    per_class_accuracy: dict[str, float | None]
    per_class_count: dict[str, int]
    confusion: np.ndarray
    confusion_normalized: np.ndarray
    num_samples: int
    predictions: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    labels: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        """The numbers as a JSON-safe dict (no per-sample arrays, NaN as ``None``).

        Example:
            >>> acc = EvaluationAccumulator()
            >>> acc.update(np.array([[0.0, 1.0]]), np.array([1]))
            >>> acc.result().to_json()["confusion"]
            [[0, 0], [0, 1]]
        """
        return {
            "loss": self.loss if math.isfinite(self.loss) else None,
            "accuracy": self.accuracy,
            "class_names": list(self.class_names),
            "per_class_accuracy": dict(self.per_class_accuracy),
            "per_class_count": dict(self.per_class_count),
            "confusion": self.confusion.tolist(),
            "num_samples": self.num_samples,
        }


class _ExactSum:
    """A float sum that is exact until read: Shewchuk's partials, as :func:`math.fsum`.

    Adding values in any order and merging partial sums gives the same partials' total,
    so the rounded result does not depend on how the data was split.
    """

    def __init__(self) -> None:
        self.partials: list[float] = []
        self.special = 0.0  # inf / nan, which partials cannot hold

    def add(self, values: np.ndarray) -> None:
        partials = self.partials
        for x in np.asarray(values, dtype=np.float64).ravel().tolist():
            if not math.isfinite(x):
                self.special += x
                continue
            i = 0
            for y in partials:
                if abs(x) < abs(y):
                    x, y = y, x
                hi = x + y
                lo = y - (hi - x)
                if lo:
                    partials[i] = lo
                    i += 1
                x = hi
            partials[i:] = [x]

    def merge(self, other: _ExactSum) -> None:
        self.add(np.asarray(other.partials))
        self.special += other.special

    def value(self) -> float:
        return self.special if self.special else math.fsum(self.partials)


def _logsumexp(scores: np.ndarray) -> np.ndarray:
    peak = scores.max(axis=1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    return (np.log(np.exp(scores - peak).sum(axis=1, keepdims=True)) + peak)[:, 0]


def _looks_like_probabilities(scores: np.ndarray) -> bool:
    return bool((scores >= 0).all() and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4))


class EvaluationAccumulator:
    """Streaming classifier evaluation; ``update(scores, labels)``, ``merge``, ``result``.

    Memory is the (K, K) confusion matrix and a few floats, plus the per-sample
    predictions when ``keep_predictions`` is set.

    Args:
        num_classes: K; default: the width of the first scores (``len(class_names)``
            must match it).
        class_names: one unique name per class (default ``"0"``, ``"1"``, ...).
        scores: ``"logits"``, ``"probabilities"`` (softmax rows: their log is used as
            logits) or ``"auto"`` (decided on the first batch).
        keep_predictions: keep per-sample predictions, probabilities and labels.
        label_name: how error messages call the labels (``y``...).

    Raises:
        ConvscopeError: bad ``num_classes``, repeated class names.
        UnknownNameError: unknown ``scores``.

    Example:
        >>> a, b = EvaluationAccumulator(), EvaluationAccumulator()
        >>> a.update(np.array([[1.0, 0.0]]), np.array([0]))
        >>> b.update(np.array([[1.0, 0.0]]), np.array([1]))
        >>> a.merge(b).result().confusion.tolist()
        [[1, 0], [1, 0]]
    """

    layers: Any = ()
    needs_output = True

    def __init__(
        self,
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        *,
        scores: str = "auto",
        keep_predictions: bool = False,
        label_name: str = "labels",
    ) -> None:
        if scores not in SCORES:
            raise UnknownNameError("scores", [str(scores)], SCORES)
        self.num_classes = (
            None if num_classes is None else check_int(num_classes, "num_classes", minimum=1)
        )
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        if self.class_names is not None and len(set(self.class_names)) != len(self.class_names):
            raise ConvscopeError(f"class names must be unique; got {self.class_names}")
        self.scores = scores
        self.keep_predictions = bool(keep_predictions)
        self.label_name = label_name
        self.scores_: str | None = None if scores == "auto" else scores
        self.k_: int | None = None
        self.confusion_: np.ndarray | None = None
        self.loss_ = _ExactSum()
        self.kept_: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    # -- feeding ---------------------------------------------------------------------
    def feed(self, batch: Batch) -> None:
        """Add one batch of a scan (its ``output`` and ``labels``).

        Raises:
            ConvscopeError: the data has no labels.
        """
        if batch.labels is None:
            raise ConvscopeError(
                "evaluation needs class labels; pass (images, labels) or a data set with labels"
            )
        self.update(batch.output, batch.labels)

    def update(self, scores: Any, labels: Any) -> None:
        """Add one batch: scores (N, K) and labels (N,) (class indices or one-hot rows).

        Raises:
            ShapeError: scores not (N, K), K not the earlier K or not the class count,
                labels not one per row.
            ConvscopeError: labels outside ``0..K-1``.
        """
        values = as_numpy(scores).astype(np.float64)
        if values.ndim != 2:
            raise ShapeError(
                f"the model must return scores of shape (N, num_classes); got {values.shape}"
            )
        n, k = values.shape
        self._set_classes(k)
        y = as_labels(labels, num_classes=k, name=self.label_name)
        if len(y) != n:
            raise ShapeError(
                f"{n} rows of scores but {len(y)} {self.label_name}; pass one per image"
            )
        if n == 0:
            return
        if self.scores_ is None:
            self.scores_ = "probabilities" if _looks_like_probabilities(values) else "logits"
        if self.scores_ == "probabilities":
            values = np.log(np.clip(values, 1e-12, None))
        log_z = _logsumexp(values)
        self.loss_.add(log_z - values[np.arange(n), y])
        predictions = values.argmax(axis=1).astype(np.int64)
        self.confusion_ += np.bincount(y * k + predictions, minlength=k * k).reshape(k, k)
        if self.keep_predictions:
            probabilities = np.exp(values - log_z[:, None]).astype(np.float32)
            self.kept_.append((predictions, probabilities, y.copy()))

    def _set_classes(self, k: int) -> None:
        if self.k_ is None:
            expected = self.num_classes or (len(self.class_names) if self.class_names else None)
            if expected is not None and expected != k:
                what = (
                    f"{len(self.class_names)} class names"
                    if self.class_names is not None
                    else f"num_classes={self.num_classes}"
                )
                raise ShapeError(f"got {what} for a model with {k} outputs")
            self.k_ = k
            self.confusion_ = np.zeros((k, k), np.int64)
        elif k != self.k_:
            raise ShapeError(f"scores with {k} columns do not fit the earlier batches ({self.k_})")

    def merge(self, other: EvaluationAccumulator) -> EvaluationAccumulator:
        """Add ``other``'s counts and loss into this accumulator and return ``self``.

        Per-sample predictions, when kept, are ``self``'s then ``other``'s.

        Raises:
            ConvscopeError: different classes, score kinds or ``keep_predictions``.
        """
        if not isinstance(other, EvaluationAccumulator):
            raise ConvscopeError(
                f"can only merge an EvaluationAccumulator, got {type(other).__name__}"
            )
        mismatch = []
        if self.k_ is not None and other.k_ is not None and self.k_ != other.k_:
            mismatch.append(f"classes {self.k_} vs {other.k_}")
        if self.class_names and other.class_names and self.class_names != other.class_names:
            mismatch.append(f"class names {self.class_names} vs {other.class_names}")
        if self.scores_ and other.scores_ and self.scores_ != other.scores_:
            mismatch.append(f"scores {self.scores_!r} vs {other.scores_!r}")
        if self.keep_predictions != other.keep_predictions:
            mismatch.append("keep_predictions differs")
        if mismatch:
            raise ConvscopeError(
                "cannot merge evaluation accumulators with different settings: "
                + "; ".join(mismatch)
                + ". Build both with the same classes and options."
            )
        if other.k_ is not None:
            self._set_classes(other.k_)
            self.confusion_ += other.confusion_
        self.scores_ = self.scores_ or other.scores_
        self.class_names = self.class_names or other.class_names
        self.loss_.merge(other.loss_)
        self.kept_.extend(other.kept_)
        return self

    # -- reading ---------------------------------------------------------------------
    def result(self) -> EvaluationMetrics:
        """The :class:`EvaluationMetrics` of everything fed so far.

        Raises:
            ConvscopeError: no sample was fed.
        """
        if self.confusion_ is None or not self.confusion_.sum():
            raise ConvscopeError("no samples evaluated: call update() with at least one batch")
        confusion = self.confusion_.copy()
        k = confusion.shape[0]
        names = self.class_names or [str(i) for i in range(k)]
        rows = confusion.sum(axis=1)
        normalized = np.zeros((k, k), dtype=np.float64)
        has = rows > 0
        normalized[has] = confusion[has] / rows[has, None]
        diag = np.diag(confusion)
        n = int(rows.sum())
        kept = {}
        if self.keep_predictions:
            parts = list(zip(*self.kept_, strict=True))
            kept = {
                name: np.concatenate(arrays)
                for name, arrays in zip(
                    ("predictions", "probabilities", "labels"), parts, strict=True
                )
            }
        return EvaluationMetrics(
            loss=self.loss_.value() / n,
            accuracy=float(diag.sum() / n),
            class_names=list(names),
            per_class_accuracy={
                name: (float(diag[i] / rows[i]) if rows[i] else None)
                for i, name in enumerate(names)
            },
            per_class_count={name: int(rows[i]) for i, name in enumerate(names)},
            confusion=confusion,
            confusion_normalized=normalized,
            num_samples=n,
            **kept,
        )
