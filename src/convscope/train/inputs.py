"""What ``fit`` checks before it trains: the splits, the labels, and that the model fits.

Every check runs before the first step, so a bad input fails in a second, not after an
epoch, and the message names both sides (the model's input shape and the data's).

Example:
    >>> import numpy as np
    >>> split = TrainingData.from_data(type("D", (), {
    ...     "x_train": np.zeros((4, 1, 5, 5), "f4"), "y_train": np.array([0, 1, 0, 1])})())
    >>> split.n_train, split.has_val
    (4, False)
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ConvscopeError, ShapeError
from ..validation import as_labels, as_numpy

__all__ = [
    "TrainingData",
    "check_model_fits",
    "class_names_for",
    "image_tensor",
    "label_tensor",
    "model_device",
]

logger = logging.getLogger("convscope.train")


def image_tensor(x: Any, name: str) -> torch.Tensor:
    """Images as a float32 CPU tensor of shape (N, C, H, W).

    Raises:
        ShapeError: not 4-D (the shape is named).

    Example:
        >>> image_tensor(np.zeros((2, 1, 3, 3)), "x_train").dtype
        torch.float32
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    else:
        t = torch.from_numpy(np.ascontiguousarray(as_numpy(x)))
    if t.ndim != 4:
        raise ShapeError(f"{name} must be images of shape (N, C, H, W); got {tuple(t.shape)}")
    return t.float() if t.dtype != torch.float32 else t


def label_tensor(y: Any, n: int, name: str) -> torch.Tensor:
    """Class indices for ``n`` images as an int64 tensor (:func:`convscope.validation.as_labels`).

    convscope's one one-hot policy: one-hot rows (Keras' ``to_categorical``, as the seeds
    use) become their indices; any other 2-D array (scores) is refused with the fix.

    Raises:
        ShapeError: 2-D labels that are not one-hot, or not ``n`` of them.
        ConvscopeError: not integer class indices.

    Example:
        >>> label_tensor(np.array([0.0, 2.0]), 2, "y_train")
        tensor([0, 2])
    """
    return torch.from_numpy(as_labels(y, n=n, name=name))


def check_label_range(y: torch.Tensor, num_classes: int, name: str) -> None:
    """Every label must be a class of the model; the fix names the class count needed.

    Example:
        >>> check_label_range(torch.tensor([0, 3]), 3, "y_train")
        Traceback (most recent call last):
        ...
        convscope.errors.ConvscopeError: y_train holds class indices from 0 to 3, but the model has 3 classes (valid: 0..2). Build the model with num_classes=4 or fix the labels.
    """
    if y.numel() == 0:
        return
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= num_classes:
        raise ConvscopeError(
            f"{name} holds class indices from {low} to {high}, but the model has "
            f"{num_classes} classes (valid: 0..{num_classes - 1}). Build the model with "
            f"num_classes={max(high + 1, num_classes)} or fix the labels."
        )


@dataclass
class TrainingData:
    """The training and (optional) validation splits as CPU tensors."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    @property
    def n_train(self) -> int:
        """Number of training images."""
        return int(self.x_train.shape[0])

    @property
    def has_val(self) -> bool:
        """Whether there is a validation split."""
        return self.x_val is not None

    @classmethod
    def from_data(cls, data: Any) -> TrainingData:
        """Read and check ``data.x_train``/``y_train`` and, if any, ``x_val``/``y_val``.

        Raises:
            ConvscopeError: no training split, or an empty one.
            ShapeError: images or labels of the wrong shape.
        """
        x_raw, y_raw = getattr(data, "x_train", None), getattr(data, "y_train", None)
        if x_raw is None or y_raw is None:
            raise ConvscopeError(
                f"data must have x_train and y_train (a convscope.data.Dataset); got "
                f"{type(data).__name__}"
            )
        x_train = image_tensor(x_raw, "x_train")
        if x_train.shape[0] == 0:
            raise ConvscopeError("the training split is empty (x_train has no images)")
        split = cls(x_train, label_tensor(y_raw, int(x_train.shape[0]), "y_train"))
        x_raw, y_raw = getattr(data, "x_val", None), getattr(data, "y_val", None)
        if x_raw is None or y_raw is None or len(x_raw) == 0:
            logger.warning("no validation split: best model and early stopping follow 'loss'")
            return split
        split.x_val = image_tensor(x_raw, "x_val")
        if tuple(split.x_val.shape[1:]) != tuple(x_train.shape[1:]):
            raise ShapeError(
                f"x_val images have shape {tuple(split.x_val.shape[1:])} but x_train images "
                f"have {tuple(x_train.shape[1:])}"
            )
        split.y_val = label_tensor(y_raw, int(split.x_val.shape[0]), "y_val")
        return split

    def check_labels(self, num_classes: int) -> None:
        """Every label of both splits must be a class of the model."""
        check_label_range(self.y_train, num_classes, "y_train")
        if self.y_val is not None:
            check_label_range(self.y_val, num_classes, "y_val")

    def description(self, name: str | None) -> dict[str, Any]:
        """Name, sizes, image shape and a fingerprint: what a resume must match."""
        digest = hashlib.sha1()
        digest.update(str(tuple(self.x_train.shape)).encode())
        digest.update(np.ascontiguousarray(self.y_train.numpy()).tobytes())
        digest.update(np.ascontiguousarray(self.x_train[:64].numpy()).tobytes())
        return {
            "name": name,
            "n_train": self.n_train,
            "n_val": int(self.x_val.shape[0]) if self.x_val is not None else 0,
            "input_shape": list(self.x_train.shape[1:]),
            "fingerprint": digest.hexdigest()[:16],
        }


def model_device(model: torch.nn.Module) -> torch.device:
    """Where the model's parameters (else buffers) are; CPU for a module without any.

    Example:
        >>> model_device(torch.nn.Linear(1, 1)).type
        'cpu'
    """
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def check_model_fits(model: torch.nn.Module, x: torch.Tensor, device: torch.device) -> int:
    """Fail before training when the images do not fit the model; return its class count.

    Raises:
        ShapeError: the model's declared input shape differs from the images', the model
            cannot run them, or it does not return ``(N, num_classes)`` logits.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> check_model_fits(model, torch.zeros(2, 1, 2, 2), torch.device("cpu"))
        3
    """
    shape = tuple(int(s) for s in x.shape[1:])
    name = getattr(model, "arch", None) or type(model).__name__
    expected = getattr(model, "input_shape", None)
    if expected is not None and tuple(int(s) for s in expected) != shape:
        raise ShapeError(
            f"model {name} takes images of shape {tuple(expected)} (C, H, W), but the data's "
            f"images have shape {shape}. Pick a model built for {shape} "
            f"(e.g. convscope.models.build(..., input_shape={shape})) or other data."
        )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:2].to(device))
    except ShapeError:
        raise
    except RuntimeError as exc:
        raise ShapeError(
            f"model {name} cannot take the data's images of shape {shape} (C, H, W): {exc}"
        ) from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShapeError(f"model {name} must return logits of shape (N, num_classes); got {got}")
    k = int(out.shape[1])
    declared = getattr(model, "num_classes", None)
    if declared is not None and int(declared) != k:
        raise ShapeError(f"model {name} declares {declared} classes but returns {k} logits")
    return k


def class_names_for(names: Any, data: Any, num_classes: int) -> list[str]:
    """The class names to store: ``names``, else ``data.class_names``, else ``"0"``, ``"1"``...

    Raises:
        ShapeError: not one name per model output.

    Example:
        >>> class_names_for(None, None, 2)
        ['0', '1']
    """
    chosen = names if names is not None else getattr(data, "class_names", None)
    if chosen is not None and len(chosen):
        chosen = [str(c) for c in chosen]
    else:
        chosen = [str(i) for i in range(num_classes)]
    if len(chosen) != num_classes:
        raise ShapeError(f"got {len(chosen)} class names for a model with {num_classes} outputs")
    return chosen
