"""Evaluate a classifier: loss, accuracy, per-class accuracy, confusion matrix.

The numbers come from :class:`convscope.metrics.evaluation.EvaluationAccumulator`, the
same accumulator the report feeds from its one data-set pass, so ``evaluate`` and the
report agree exactly. A torch model is called directly (any ``forward`` returning
logits); Keras and ONNX models stream through :func:`convscope.analysis.scan`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._batching import batch_slices
from .._io import atomic_write, write_json
from ..adapters import adapter_for
from ..analysis import scan
from ..errors import ConvscopeError, FormatError, ShapeError
from ..metrics.evaluation import EvaluationAccumulator, EvaluationMetrics
from ..runfolder import RunFolder
from ..validation import as_labels
from .inputs import image_tensor, model_device

EVALUATION_FILE = RunFolder.EVALUATION
PREDICTIONS_FILE = RunFolder.PREDICTIONS
_FORMAT = "convscope-evaluation"


@dataclass
class Evaluation:
    """The result of :func:`evaluate`.

    Attributes:
        loss: mean cross-entropy of the logits.
        accuracy: fraction of correct top-1 predictions.
        class_names: one name per class (``"0"``, ``"1"``, ... when none were given).
        per_class_accuracy: class name -> accuracy (``None`` for a class with no samples).
        per_class_count: class name -> number of samples of that class.
        confusion: ``(K, K)`` int64 counts, row = true class, column = predicted class.
        confusion_normalized: ``confusion`` divided by its row sums; rows of classes with
            no samples are 0, not NaN.
        predictions: ``(N,)`` int64 predicted classes.
        probabilities: ``(N, K)`` float32 softmax of the logits.
        labels: ``(N,)`` int64 true classes.
        split, dataset, seed: what was evaluated: the split of which data set, split with
            which seed (written to JSON; a run's own evaluation is its test split, its
            data set and its seed).
    """

    loss: float
    accuracy: float
    class_names: list[str]
    per_class_accuracy: dict[str, float | None]
    per_class_count: dict[str, int]
    confusion: np.ndarray
    confusion_normalized: np.ndarray
    predictions: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray
    split: str | None = None
    dataset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None

    @property
    def num_samples(self) -> int:
        """Number of evaluated samples."""
        return int(self.labels.shape[0])

    @classmethod
    def from_metrics(cls, metrics: EvaluationMetrics, **fields: Any) -> Evaluation:
        """An :class:`Evaluation` from an accumulator's result that kept its predictions.

        Args:
            metrics: :meth:`EvaluationAccumulator.result` with ``keep_predictions=True``.
            **fields: other fields (``split``, ``dataset``, ``extra``).

        Raises:
            ConvscopeError: the accumulator did not keep per-sample predictions.

        Example:
            >>> acc = EvaluationAccumulator(keep_predictions=True)
            >>> acc.update(np.array([[1.0, 0.0]]), np.array([0]))
            >>> Evaluation.from_metrics(acc.result(), split="test").accuracy
            1.0
        """
        if metrics.predictions is None:
            raise ConvscopeError(
                "an Evaluation needs per-sample predictions: "
                "EvaluationAccumulator(keep_predictions=True)"
            )
        return cls(
            loss=metrics.loss,
            accuracy=metrics.accuracy,
            class_names=list(metrics.class_names),
            per_class_accuracy=dict(metrics.per_class_accuracy),
            per_class_count=dict(metrics.per_class_count),
            confusion=metrics.confusion,
            confusion_normalized=metrics.confusion_normalized,
            predictions=metrics.predictions,
            probabilities=metrics.probabilities,
            labels=metrics.labels,
            **fields,
        )

    def to_dict(self) -> dict[str, Any]:
        """The numbers as a JSON-safe dict (what ``evaluation.json`` holds)."""
        return {
            "format": _FORMAT,
            "version": 1,
            "dataset": self.dataset,
            "split": self.split,
            "seed": self.seed,
            "num_samples": self.num_samples,
            "loss": float(self.loss),
            "accuracy": float(self.accuracy),
            "class_names": list(self.class_names),
            "per_class": {
                name: {
                    "accuracy": self.per_class_accuracy[name],
                    "count": int(self.per_class_count[name]),
                }
                for name in self.class_names
            },
            "confusion": self.confusion.astype(np.int64).tolist(),
            "confusion_normalized": [[float(v) for v in row] for row in self.confusion_normalized],
            "extra": dict(self.extra),
        }

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``evaluation.json`` and ``predictions.npz`` into ``folder``, atomically.

        Returns:
            The path of ``evaluation.json``.

        Example:
            >>> ev.save("runs/demo")  # doctest: +SKIP
        """
        folder = Path(folder)
        created = [p for p in (folder, *folder.parents) if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)

        def write_npz(handle: Any) -> None:
            buf = io.BytesIO()  # np.savez seeks; write to memory first
            np.savez(
                buf,
                predictions=self.predictions.astype(np.int64),
                probabilities=self.probabilities.astype(np.float32),
                labels=self.labels.astype(np.int64),
            )
            handle.write(buf.getvalue())

        try:
            atomic_write(folder / PREDICTIONS_FILE, write_npz)
            return write_json(folder / EVALUATION_FILE, self.to_dict())
        except BaseException:
            for path in created:  # a failed save leaves no empty folder behind
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Evaluation:
        """Read an evaluation written by :meth:`save`.

        Raises:
            FormatError: the files are missing or not a convscope evaluation.

        Example:
            >>> Evaluation.load("runs/demo").confusion  # doctest: +SKIP
        """
        folder = Path(folder)
        jpath, npath = folder / EVALUATION_FILE, folder / PREDICTIONS_FILE
        for path in (jpath, npath):
            if not path.exists():
                raise FormatError(f"{path} does not exist; run `convscope evaluate RUN` first")
        try:
            record = json.loads(jpath.read_text(encoding="utf-8"))
            if record.get("format") != _FORMAT:
                raise ValueError("wrong format tag")
            names = list(record["class_names"])
            with np.load(npath, allow_pickle=False) as arrays:
                predictions = arrays["predictions"]
                probabilities = arrays["probabilities"]
                labels = arrays["labels"]
            return cls(
                loss=float(record["loss"]),
                accuracy=float(record["accuracy"]),
                class_names=names,
                per_class_accuracy={n: record["per_class"][n]["accuracy"] for n in names},
                per_class_count={n: int(record["per_class"][n]["count"]) for n in names},
                confusion=np.asarray(record["confusion"], dtype=np.int64),
                confusion_normalized=np.asarray(record["confusion_normalized"], dtype=np.float64),
                predictions=predictions,
                probabilities=probabilities,
                labels=labels,
                split=record.get("split"),
                dataset=record.get("dataset"),
                extra=dict(record.get("extra") or {}),
                seed=None if record.get("seed") is None else int(record["seed"]),
            )
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise FormatError(f"{folder} holds no readable convscope evaluation: {exc}") from None

    def to_text(self, normalized: bool = False) -> str:
        """Loss, accuracy, per-class accuracy and the confusion matrix as plain text."""
        names = [str(n) for n in self.class_names]
        what = f" on {self.dataset}" if self.dataset else ""
        what += f" ({self.split} split" if self.split else ""
        what += (f", seed {self.seed})" if self.seed is not None else ")") if self.split else ""
        lines = [
            f"Evaluated {self.num_samples} samples{what}",
            f"loss {self.loss:.4f}  accuracy {self.accuracy:.4f}",
            "",
            "per-class accuracy:",
        ]
        width = max(len(n) for n in names) if names else 1
        for name in names:
            acc = self.per_class_accuracy[name]
            shown = "   n/a" if acc is None else f"{acc:6.4f}"
            lines.append(f"  {name:<{width}}  {shown}  (n={self.per_class_count[name]})")
        lines += ["", "confusion matrix (rows: true class, columns: predicted class):"]
        matrix = self.confusion_normalized if normalized else self.confusion
        cells = [[f"{v:.2f}" if normalized else str(int(v)) for v in row] for row in matrix]
        col = max([len(n) for n in names] + [len(c) for row in cells for c in row] + [1])
        lines.append(" " * (width + 3) + " ".join(f"{n[:col]:>{col}}" for n in names))
        for name, row in zip(names, cells, strict=True):
            lines.append(f"  {name:<{width}} " + " ".join(f"{c:>{col}}" for c in row))
        return "\n".join(lines)


def _torch_module(model: Any) -> torch.nn.Module | None:
    """The module that runs ``model`` natively (a plain torch model), else None."""
    with adapter_for(model) as adapter:  # a Keras model on the torch backend has none
        return adapter.torch_module


def _torch_logits(
    model: torch.nn.Module, xs: torch.Tensor, batch_size: int, device: Any
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield ``(slice, logits)`` batch by batch, in eval mode, without gradients."""
    n = int(xs.shape[0])
    dev = torch.device(device) if device is not None else model_device(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for sl in batch_slices(n, batch_size):
                try:
                    logits = model(xs[sl].to(dev))
                except ShapeError:
                    raise
                except RuntimeError as exc:
                    raise ShapeError(
                        f"the model cannot take images of shape {tuple(xs.shape[1:])}: {exc}"
                    ) from None
                if logits.ndim != 2 or logits.shape[0] != sl.stop - sl.start:
                    raise ShapeError(
                        f"the model must return logits of shape (N, num_classes); got "
                        f"{tuple(logits.shape)} for a batch of {sl.stop - sl.start}"
                    )
                yield sl, logits.float().cpu()
    finally:
        model.train(was_training)


def evaluate(
    model: Any,
    x: Any,
    y: Any,
    class_names: list[str] | None = None,
    batch_size: int = 512,
    *,
    device: str | torch.device | None = None,
) -> Evaluation:
    """Evaluate a classifier on images ``x`` with labels ``y``.

    A torch model runs in eval mode without gradients (its previous mode is restored)
    and must return logits. Keras and ONNX models stream through
    :func:`convscope.analysis.scan`; their last layer may return logits or softmax
    probabilities. Either way the numbers come from
    :class:`~convscope.metrics.evaluation.EvaluationAccumulator`.

    Args:
        model: a torch module mapping ``(N, C, H, W)`` float32 to ``(N, K)`` logits, or a
            Keras / ONNX model.
        x: ``(N, C, H, W)`` images (numpy array or tensor).
        y: ``(N,)`` integer class indices in ``[0, K)`` (or one-hot rows, see
            :func:`convscope.validation.as_labels`).
        class_names: ``K`` names (default ``"0"`` .. ``"K-1"``).
        batch_size: images per forward pass.
        device: where to run (default: where the model's parameters are).

    Returns:
        An :class:`Evaluation`.

    Raises:
        ShapeError: ``x``/``y`` shapes do not fit, the model does not return ``(N, K)``
            logits, or ``class_names`` does not have ``K`` names.
        ConvscopeError: empty input, or labels outside ``[0, K)``.

    Example:
        >>> import convscope as cs
        >>> model = cs.models.build("mnist_convnet")
        >>> ev = evaluate(model, np.zeros((4, 1, 28, 28), np.float32), [0, 1, 2, 3])
        >>> ev.confusion.shape, ev.num_samples
        ((10, 10), 4)
    """
    xs = image_tensor(x, "x")
    n = int(xs.shape[0])
    if n == 0:
        raise ConvscopeError("evaluate got no samples (x is empty)")
    labels = as_labels(y, n=n, name="y")
    module = _torch_module(model)
    acc = EvaluationAccumulator(
        class_names=class_names,
        scores="logits" if module is not None else "auto",
        keep_predictions=True,
        label_name="y",
    )
    if module is not None:  # called directly: any forward() that returns logits
        for sl, logits in _torch_logits(module, xs, batch_size, device):
            acc.update(logits, labels[sl])
    else:  # the last layer's output, logits or softmax probabilities
        scan(model, (xs.numpy(), labels), acc, batch_size=batch_size, device=device)
    return Evaluation.from_metrics(acc.result())
