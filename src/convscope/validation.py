"""Input checks shared by every room, scikit-learn style: one policy, one message each.

Every public function that takes a count, a number, an array or labels checks it here,
so the same mistake gets the same message wherever it is made, and the message names
the fix.

* :func:`check_int` / :func:`check_real`: whole numbers and finite reals with bounds
  (``True`` is not a number here).
* :func:`as_numpy`: a numpy array from a numpy array, a torch tensor (detached, moved to
  the CPU) or anything ``np.asarray`` takes.
* :func:`as_labels`: class indices, with **one one-hot policy**: an (N, K) array whose
  rows each hold exactly one 1 and zeros (Keras' ``to_categorical``, as in the seeds) is
  turned into indices; any other 2-D array (scores, probabilities) is refused with the
  ``argmax`` fix, since guessing there would hide a bug.

Example:
    >>> as_labels(np.array([[0, 1], [1, 0]]))
    array([1, 0])
    >>> check_int(3, "epochs", minimum=1)
    3
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .errors import ConvscopeError, ShapeError

__all__ = ["as_labels", "as_numpy", "check_int", "check_real"]


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` as an ``int``, or raise naming ``name`` and the valid range.

    Raises:
        ConvscopeError: not a whole number (bools are refused), or out of range.

    Example:
        >>> check_int(np.int64(4), "k", minimum=0)
        4
        >>> check_int(0, "batch_size", minimum=1)
        Traceback (most recent call last):
        ...
        convscope.errors.ConvscopeError: batch_size must be a whole number >= 1, got 0
    """
    ok = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    if ok:
        value = int(value)
        ok = (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        raise ConvscopeError(
            f"{name} must be a whole number{_bounds(minimum, maximum)}, got {value!r}"
        )
    return value


def check_real(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """Return ``value`` as a finite ``float``, or raise naming ``name`` and the valid range.

    Raises:
        ConvscopeError: not a finite real number (bools are refused), or out of range.

    Example:
        >>> check_real(0.5, "fraction", minimum=0, maximum=1)
        0.5
        >>> check_real(0, "lr", minimum=0, exclusive_minimum=True)
        Traceback (most recent call last):
        ...
        convscope.errors.ConvscopeError: lr must be a finite number > 0, got 0
    """
    ok = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and math.isfinite(float(value))
    )
    if ok:
        number = float(value)
        if minimum is not None:
            ok = number > minimum if exclusive_minimum else number >= minimum
        if ok and maximum is not None:
            ok = number <= maximum
    if not ok:
        low = "> " if exclusive_minimum else ">= "
        raise ConvscopeError(
            f"{name} must be a finite number{_bounds(minimum, maximum, low)}, got {value!r}"
        )
    return float(value)


def _bounds(minimum: Any, maximum: Any, low: str = ">= ") -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]" if low == ">= " else f" in ({minimum}, {maximum}]"
    if minimum is not None:
        return f" {low}{minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def as_numpy(value: Any, *, dtype: Any = None) -> np.ndarray:
    """A numpy array from an array, a torch tensor (any device, with or without grad) or a list.

    bfloat16 tensors, which numpy cannot hold, come back as float32.

    Example:
        >>> import torch
        >>> as_numpy(torch.ones(2, requires_grad=True))
        array([1., 1.], dtype=float32)
    """
    if hasattr(value, "detach") and hasattr(
        value, "cpu"
    ):  # a torch tensor, without importing torch
        tensor = value.detach()
        if str(tensor.dtype) == "torch.bfloat16":
            tensor = tensor.float()
        value = tensor.cpu().numpy()
    array = np.asarray(value)
    return array if dtype is None else array.astype(dtype, copy=False)


def as_labels(
    labels: Any,
    *,
    n: int | None = None,
    num_classes: int | None = None,
    name: str = "labels",
) -> np.ndarray:
    """Class indices as a 1-D int64 array, with the one one-hot policy of convscope.

    Args:
        labels: (N,) integer (or integral float, or bool) class indices, or (N, K)
            one-hot rows (each exactly one 1, the rest 0), which become their argmax.
        n: the number of images the labels must match, if known.
        num_classes: when given, every index must be in ``0..num_classes-1``.
        name: how the error messages call the labels (``y_test``...).

    Raises:
        ShapeError: not 1-D (a 2-D array that is not one-hot: scores?), or not ``n`` long.
        ConvscopeError: not integers, or out of range.

    Example:
        >>> as_labels([0.0, 2.0, 1.0], num_classes=3)
        array([0, 2, 1])
        >>> as_labels(np.array([[0.2, 0.8]]))
        Traceback (most recent call last):
        ...
        convscope.errors.ShapeError: labels has shape (1, 2) but is not one-hot (each row one 1, the rest 0): scores or probabilities? Pass class indices, e.g. labels.argmax(1)
    """
    array = as_numpy(labels)
    if array.ndim == 2 and array.shape[1] >= 1:
        if array.size and _is_one_hot(array):
            array = array.argmax(axis=1)
        elif array.shape[1] == 1:
            array = array.reshape(-1)  # (N, 1) column of indices, as CIFAR-10's y
        else:
            raise ShapeError(
                f"{name} has shape {array.shape} but is not one-hot (each row one 1, the rest "
                f"0): scores or probabilities? Pass class indices, e.g. {name}.argmax(1)"
            )
    if array.ndim != 1:
        raise ShapeError(f"{name} must be one class index per image, shape (N,); got {array.shape}")
    if n is not None and len(array) != n:
        raise ShapeError(f"{name} must have shape ({n},) to match the images; got ({len(array)},)")
    kind = array.dtype.kind
    if kind in "iub" or not array.size:
        out = array.astype(np.int64, copy=False)
    elif kind == "f" and np.all(np.isfinite(array)) and np.all(array % 1 == 0):
        out = array.astype(np.int64)
    else:
        extra = " with non-integer values" if kind == "f" else ""
        raise ConvscopeError(
            f"{name} must hold integer class indices, got dtype {array.dtype}{extra}"
        )
    if out.size:
        low, high = int(out.min()), int(out.max())
        if low < 0 or (num_classes is not None and high >= num_classes):
            valid = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
            raise ConvscopeError(
                f"{name} holds class indices from {low} to {high}, but valid indices are "
                f"{valid}; pass num_classes (or class names) that covers every label, or fix "
                "the labels"
            )
    return out


def _is_one_hot(array: np.ndarray) -> bool:
    if array.shape[1] < 2:
        return False
    if array.dtype.kind not in "iubf":
        return False
    ones = array == 1
    return bool(np.all(ones | (array == 0)) and np.all(ones.sum(axis=1) == 1))
