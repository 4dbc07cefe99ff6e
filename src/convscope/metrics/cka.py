"""Linear centred kernel alignment (CKA) between two layers' activations."""

from __future__ import annotations

import math

import numpy as np
import torch

from .._threads import small_ops_on_one_thread
from ..errors import ShapeError
from ._sim_input import ArrayLike, Device, check_finite, to_tensor, what

__all__ = ["cka"]


def _flat_samples(x: ArrayLike, layer: str | None, device: Device) -> torch.Tensor:
    t = to_tensor(x, layer, device)
    if t.ndim < 2:
        raise ShapeError(
            f"{what(layer)} has shape {tuple(t.shape)}; cka needs activations with a leading "
            "sample axis, (N, features...)"
        )
    check_finite(t, layer)
    return t.reshape(t.shape[0], math.prod(t.shape[1:])).double()  # N = 0 safe


@small_ops_on_one_thread
def cka(
    a: ArrayLike,
    b: ArrayLike,
    *,
    layer_a: str | None = None,
    layer_b: str | None = None,
    device: Device = None,
) -> float:
    """Linear centred kernel alignment between two layers' activations on the same images.

    Each input is ``(N, ...)`` and is flattened per sample to ``(N, features)``. Columns are
    centred; constant features therefore contribute nothing. Uses the feature-space formula
    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` or the equivalent Gram (N x N) one,
    whichever is cheaper for the shapes. Invariant to isotropic scaling and orthogonal
    transforms of either side.

    Args:
        a, b: activations of two layers over the same N samples.
        layer_a, layer_b: names used in error messages.
        device: see :func:`pairwise`.

    Returns:
        a float in ``[0, 1]``; ``0.0`` when either side is entirely constant.

    Raises:
        ShapeError: the sample counts differ, there are no samples (``N = 0``) or no features
            (both shapes named), or an input is 1-D.
        ConvscopeError: NaN or Inf values.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(20, 5))
        >>> round(cka(x, 3 * x), 6)
        1.0
    """
    name_a, name_b = layer_a or "a", layer_b or "b"
    x = _flat_samples(a, name_a, device)
    y = _flat_samples(b, name_b, device)
    shape_a = tuple(a.shape) if isinstance(a, torch.Tensor) else np.shape(a)
    shape_b = tuple(b.shape) if isinstance(b, torch.Tensor) else np.shape(b)
    if x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"cka needs the same samples on both sides: {name_a} has shape {shape_a} "
            f"({x.shape[0]} samples), {name_b} has shape {shape_b} ({y.shape[0]} samples)"
        )
    if x.shape[0] < 1 or x.shape[1] < 1 or y.shape[1] < 1:
        raise ShapeError(
            f"cka needs N >= 1 samples and at least one feature on each side: {name_a} has "
            f"shape {shape_a}, {name_b} has shape {shape_b}"
        )
    if y.device != x.device:
        y = y.to(x.device)
    n, p = x.shape
    q = y.shape[1]
    x = x - x.mean(dim=0, keepdim=True)
    y = y - y.mean(dim=0, keepdim=True)
    # constant columns: centring leaves rounding noise; zero them exactly
    x[:, (x.amax(dim=0) - x.amin(dim=0)) == 0] = 0.0
    y[:, (y.amax(dim=0) - y.amin(dim=0)) == 0] = 0.0
    feature_cost = n * (p * q + p * p + q * q)
    gram_cost = n * n * (p + q) + 3 * n * n
    if feature_cost <= gram_cost:
        cross = torch.linalg.matrix_norm(y.T @ x) ** 2
        nx = torch.linalg.matrix_norm(x.T @ x)
        ny = torch.linalg.matrix_norm(y.T @ y)
    else:
        k = x @ x.T
        l_ = y @ y.T
        cross = (k * l_).sum()
        nx = torch.linalg.matrix_norm(k)
        ny = torch.linalg.matrix_norm(l_)
    denom = float(nx) * float(ny)
    if denom <= 0.0 or not math.isfinite(denom):
        return 0.0
    return float(min(1.0, max(0.0, float(cross) / denom)))
