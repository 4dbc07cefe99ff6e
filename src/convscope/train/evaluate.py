"""Evaluate a classifier: loss, accuracy, per-class accuracy, confusion matrix."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._batching import batch_slices
from .._io import atomic_write, write_json
from ..errors import ConvscopeError, FormatError, ShapeError

EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "predictions.npz"
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
        split, dataset: optional labels of what was evaluated (written to JSON).
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

    @property
    def num_samples(self) -> int:
        """Number of evaluated samples."""
        return int(self.labels.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """The numbers as a JSON-safe dict (what ``evaluation.json`` holds)."""
        return {
            "format": _FORMAT,
            "version": 1,
            "dataset": self.dataset,
            "split": self.split,
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

        atomic_write(folder / PREDICTIONS_FILE, write_npz)
        return write_json(folder / EVALUATION_FILE, self.to_dict())

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
            )
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise FormatError(f"{folder} holds no readable convscope evaluation: {exc}") from None

    def to_text(self, normalized: bool = False) -> str:
        """Loss, accuracy, per-class accuracy and the confusion matrix as plain text."""
        names = [str(n) for n in self.class_names]
        what = f" on {self.dataset}" if self.dataset else ""
        what += f" ({self.split})" if self.split else ""
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


def _as_images(x: Any, what: str) -> torch.Tensor:
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.ndim != 4:
        raise ShapeError(f"{what} must be images of shape (N, C, H, W); got {tuple(t.shape)}")
    return t.float() if t.dtype != torch.float32 else t


def _as_labels(y: Any, n: int, what: str) -> torch.Tensor:
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if arr.ndim == 2 and arr.shape[0] == n:
        raise ShapeError(
            f"{what} has shape {arr.shape}: one-hot labels? Pass class indices, e.g. y.argmax(1)"
        )
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ShapeError(f"{what} must have shape ({n},) to match the images; got {arr.shape}")
    if n and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise ConvscopeError(f"{what} must hold integer class indices; got dtype {arr.dtype}")
    return torch.from_numpy(arr.astype(np.int64, copy=False))


def _check_label_range(y: torch.Tensor, k: int, what: str) -> None:
    if y.numel() == 0:
        return
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= k:
        raise ConvscopeError(
            f"{what} holds class indices from {lo} to {hi}, but the model has {k} classes "
            f"(valid: 0..{k - 1}). Build the model with num_classes={max(hi + 1, k)} or fix "
            "the labels."
        )


def _model_device(model: torch.nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _is_plain_torch(model: Any) -> bool:
    from ..adapters import adapter_for

    if not isinstance(model, torch.nn.Module):
        return False
    adapter = adapter_for(model)  # a Keras model on the torch backend is an nn.Module too
    adapter.close()
    return adapter.backend == "torch"


def _torch_logits(
    model: torch.nn.Module, xs: torch.Tensor, batch_size: int, device: Any
) -> torch.Tensor:
    n = int(xs.shape[0])
    dev = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    chunks: list[torch.Tensor] = []
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
                chunks.append(logits.float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks)


def _backend_logits(model: Any, xs: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Keras and ONNX models: the last layer's output, as logits.

    A last layer that outputs probabilities (a softmax: non-negative rows summing to 1)
    is turned into log-probabilities, so the loss is the same cross-entropy.
    """
    from ..capturing import capture

    out = capture(model, xs.numpy(), layers=-1, batch_size=batch_size)
    scores = np.asarray(next(iter(out.values())), dtype=np.float64)
    if scores.ndim != 2:
        raise ShapeError(f"the model's last layer must output (N, num_classes); got {scores.shape}")
    if (scores >= 0).all() and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4):
        scores = np.log(np.clip(scores, 1e-12, None))
    return torch.from_numpy(scores.astype(np.float32))


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
    and must return logits. Keras and ONNX models are run through their capture adapter;
    their last layer may return logits or softmax probabilities.

    Args:
        model: a torch module mapping ``(N, C, H, W)`` float32 to ``(N, K)`` logits, or a
            Keras / ONNX model.
        x: ``(N, C, H, W)`` images (numpy array or tensor).
        y: ``(N,)`` integer class indices in ``[0, K)``.
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
        >>> import convscope as cs  # doctest: +SKIP
        >>> ev = cs.train.evaluate(model, data.x_test, data.y_test, data.class_names)  # doctest: +SKIP
        >>> print(ev.accuracy, ev.confusion.shape)  # doctest: +SKIP
    """
    xs = _as_images(x, "x")
    n = int(xs.shape[0])
    if n == 0:
        raise ConvscopeError("evaluate got no samples (x is empty)")
    ys = _as_labels(y, n, "y")
    if _is_plain_torch(model):
        logits = _torch_logits(model, xs, batch_size, device)
    else:
        logits = _backend_logits(model, xs, batch_size)
    k = int(logits.shape[1])
    _check_label_range(ys, k, "y")
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ShapeError(f"got {len(names)} class names for a model with {k} outputs")
    if len(set(names)) != len(names):
        raise ConvscopeError(f"class names must be unique; got {names}")

    loss = float(F.cross_entropy(logits.double(), ys, reduction="mean"))
    probabilities = torch.softmax(logits, dim=1).numpy().astype(np.float32)
    predictions = logits.argmax(dim=1).numpy().astype(np.int64)
    labels = ys.numpy()
    confusion = np.bincount(labels * k + predictions, minlength=k * k).reshape(k, k)
    confusion = confusion.astype(np.int64)
    rows = confusion.sum(axis=1)
    normalized = np.zeros((k, k), dtype=np.float64)
    has = rows > 0
    normalized[has] = confusion[has] / rows[has, None]
    diag = np.diag(confusion)
    per_class = {
        name: (float(diag[i] / rows[i]) if rows[i] else None) for i, name in enumerate(names)
    }
    counts = {name: int(rows[i]) for i, name in enumerate(names)}
    return Evaluation(
        loss=loss,
        accuracy=float(diag.sum() / n),
        class_names=names,
        per_class_accuracy=per_class,
        per_class_count=counts,
        confusion=confusion,
        confusion_normalized=normalized,
        predictions=predictions,
        probabilities=probabilities,
        labels=labels,
    )
