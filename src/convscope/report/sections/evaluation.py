"""Evaluation section: loss, accuracy, per-class accuracy, confusion and example predictions.

Example:
    >>> import numpy as np
    >>> from convscope.metrics.evaluation import EvaluationAccumulator
    >>> acc = EvaluationAccumulator(class_names=["a", "b"], keep_predictions=True)
    >>> acc.update(np.array([[2.0, 0.0], [2.0, 0.0]]), np.array([0, 1]))
    >>> result = compute(acc.result(), np.zeros((2, 1, 4, 4)), np.array([0, 1]), ["a", "b"], "test")
    >>> result.to_json()["evaluation"]["per_class_accuracy"], result.misclassified
    ({'a': 1.0, 'b': 0.0}, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ... import render
from ..._io import json_safe
from .. import html as H

ID, TITLE, STEP = "evaluation", "Evaluation", "evaluation"
METRICS = ("evaluation",)
PER_CLASS = 10
"""Examples per predicted class in the predictions grid (seed 002)."""


class Scores(Protocol):
    """What an evaluation gives: :class:`convscope.train.Evaluation` or the metrics of
    :class:`convscope.metrics.evaluation.EvaluationAccumulator` (with predictions)."""

    loss: float
    accuracy: float
    per_class_accuracy: Mapping[str, float | None]
    confusion: Any
    predictions: Any


@dataclass(frozen=True)
class EvaluationResult:
    """The evaluation of the split, and the examples the predictions grid shows.

    Attributes:
        examples, example_predictions, example_labels: up to :data:`PER_CLASS` images of
            each predicted class, in split order, with their predictions and labels.
    """

    split: str
    class_names: tuple[str, ...]
    loss: float
    accuracy: float
    per_class_accuracy: tuple[float | None, ...]
    confusion: np.ndarray
    count: int
    misclassified: int
    examples: np.ndarray
    example_predictions: np.ndarray
    example_labels: np.ndarray

    def to_json(self) -> dict[str, Any]:
        """``{"evaluation": {loss, accuracy, per_class_accuracy, confusion, count}}``."""
        per_class = dict(zip(self.class_names, self.per_class_accuracy, strict=True))
        return json_safe(
            {
                "evaluation": {
                    "loss": float(self.loss),
                    "accuracy": float(self.accuracy),
                    "per_class_accuracy": per_class,
                    "confusion": self.confusion.tolist(),
                    "count": self.count,
                }
            }
        )


def compute(
    scores: Scores, images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], split: str
) -> EvaluationResult:
    """Collect the numbers and pick the examples of each predicted class.

    Args:
        scores: an evaluation of ``images`` (its predictions are one per image).
        images: the split's images (only the examples are kept).
        labels: the split's labels.
        class_names: the data's class names.
        split: the split's name.
    """
    predictions = np.asarray(scores.predictions)
    labels = np.asarray(labels)
    chosen = np.concatenate(
        [np.flatnonzero(predictions == k)[:PER_CLASS] for k in range(len(class_names))]
        + [np.zeros(0, np.int64)]
    )
    chosen.sort()
    return EvaluationResult(
        split=split,
        class_names=tuple(class_names),
        loss=float(scores.loss),
        accuracy=float(scores.accuracy),
        per_class_accuracy=tuple(scores.per_class_accuracy.get(n) for n in class_names),
        confusion=np.asarray(scores.confusion),
        count=int(len(labels)),
        misclassified=int((predictions != labels).sum()),
        examples=np.asarray(images)[chosen],
        example_predictions=predictions[chosen],
        example_labels=labels[chosen],
    )


def figures(result: EvaluationResult) -> dict[str, Any]:
    """``confusion`` (row-normalised) and ``predictions`` (the grid of seed 002)."""
    return {
        "confusion": render.confusion(result.confusion, list(result.class_names), normalize=True),
        "predictions": render.predictions_grid(
            result.examples,
            result.example_predictions,
            result.example_labels,
            per_class=PER_CLASS,
            class_names=list(result.class_names),
        ),
    }


def _top_confusion(result: EvaluationResult) -> str:
    cm = np.array(result.confusion, dtype=np.int64)
    if cm.size == 0:
        return "no images"
    off = cm.copy()
    np.fill_diagonal(off, 0)
    if off.max() == 0:
        return "no image is misclassified"
    t, p = np.unravel_index(int(np.argmax(off)), off.shape)
    names = result.class_names
    return f"the most frequent confusion is true {names[t]} predicted as {names[p]} ({off[t, p]} images)"


def html(result: EvaluationResult, paths: dict[str, str]) -> str:
    """Key numbers, the per-class table, the confusion matrix and the predictions grid."""
    figs = paths if isinstance(paths, H.Figures) else H.Figures(paths)
    split, cm = result.split, result.confusion
    rows = [
        (name, "–" if acc is None else f"{acc:.3f}", int(cm[k].sum()))
        for k, (name, acc) in enumerate(
            zip(result.class_names, result.per_class_accuracy, strict=True)
        )
    ]
    wrong_shown = int((result.example_predictions != result.example_labels).sum())
    top = _top_confusion(result)
    kpis = [
        (f"{split} accuracy", f"{result.accuracy:.4f}"),
        (f"{split} loss", f"{result.loss:.4f}"),
        ("misclassified", f"{result.misclassified} / {result.count}"),
    ]
    confusion = figs.image(
        "confusion",
        f"Confusion matrix, colour by the fraction of each true class, counts in the cells "
        f"(seed 002); {top}.",
        f"Confusion matrix: accuracy {result.accuracy:.3f}; {top}.",
    )
    predictions = figs.image(
        "predictions",
        f"Up to {PER_CLASS} examples of each predicted class (rows), in split order; "
        "misclassified ones framed in vermillion with their true label (seed 002).",
        f"{wrong_shown} of the {len(result.example_labels)} examples shown are misclassified.",
    )
    return H.render(
        "sections/evaluation.html", kpis=kpis, rows=rows, confusion=confusion,
        predictions=predictions,
    )  # fmt: skip
