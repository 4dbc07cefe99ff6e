"""Input checks of the similarity functions: arrays in, validated ``(N, C, F)`` tensors out."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConvscopeError, ShapeError
from ._sim_core import Prepared, SimilarityMetric, pair_matrix
from ._sim_results import Inactive

ArrayLike = np.ndarray | torch.Tensor
Device = str | torch.device | None


def what(layer: str | None) -> str:
    return f"layer {layer!r}" if layer else "maps"


def to_tensor(x: object, layer: str | None, device: Device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        arr = np.asarray(x)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ):
            raise ConvscopeError(
                f"{what(layer)}: expected a numeric numpy array or torch tensor, got dtype {arr.dtype}"
            )
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr, copy=True, order="C")
        t = torch.from_numpy(arr)
    if device is not None:
        t = t.to(device)
    if t.is_complex():
        raise ConvscopeError(f"{what(layer)}: complex values are not supported")
    if t.dtype != torch.float64:
        t = t.float()
    return t


def check_finite(t: torch.Tensor, layer: str | None) -> None:
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ConvscopeError(
            f"{what(layer)} contains {bad} NaN or Inf value(s); similarity needs finite "
            "activations (check the model weights and the input scaling)"
        )


def validate(
    maps: ArrayLike, metric: SimilarityMetric, layer: str | None, device: Device
) -> Prepared:
    """Check ``maps`` and view them as ``(N, C, F)``; the driver prepares the metric state."""
    t = to_tensor(maps, layer, device)
    shape = tuple(t.shape)
    if t.ndim == 2:
        if metric.spatial_only:
            raise ConvscopeError(
                f"metric {metric.name!r} needs spatial maps (N, C, H, W) or (C, H, W), but "
                f"{what(layer)} has dense shape {shape}; cosine and pearson work on dense "
                "outputs (N, units)"
            )
        if shape[0] < 1 or shape[1] < 2:
            raise ShapeError(
                f"{what(layer)} has shape {shape}; dense outputs need (N >= 1, units >= 2)"
            )
        x = t.T.unsqueeze(0)  # one "image": units compared across the N samples
        spatial: tuple[int, ...] = (shape[0],)
    elif t.ndim in (3, 4):
        x4 = t.unsqueeze(0) if t.ndim == 3 else t
        n, c, h, w = x4.shape
        if min(n, h, w) < 1:
            raise ShapeError(f"{what(layer)} has shape {shape}; no dimension may be empty")
        if c < 2:
            raise ConvscopeError(
                f"{what(layer)} has {c} channel(s) (shape {shape}); similarity needs at least two"
            )
        x = x4.reshape(n, c, h * w)
        spatial = (h, w)
    else:
        raise ShapeError(
            f"{what(layer)} has shape {shape}; expected conv maps (C, H, W) or (N, C, H, W), "
            "or dense outputs (N, units)"
        )
    check_finite(x, layer)
    return Prepared(x=x.contiguous(), spatial_shape=spatial)


def check_budget(max_bytes: int) -> int:
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
        raise ConvscopeError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    return max_bytes


def check_similarity(similarity: object, c: int, layer: str | None) -> np.ndarray:
    """A caller's precomputed ``(C, C)`` matrix as a float64 copy, or a ConvscopeError."""
    if isinstance(similarity, torch.Tensor):
        similarity = similarity.detach().cpu().numpy()
    arr = np.asarray(similarity)
    if arr.shape != (c, c):
        raise ShapeError(
            f"similarity has shape {arr.shape}, but {what(layer)} has {c} channels: pass the "
            f"({c}, {c}) matrix that pairwise returns for the same maps and metric"
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ConvscopeError(f"similarity must be a real-valued array, got dtype {arr.dtype}")
    out = np.array(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        raise ConvscopeError("similarity contains NaN or Inf values; pass pairwise's matrix")
    return out


def peaks(maps: ArrayLike, layer: str | None) -> torch.Tensor:
    t = to_tensor(maps, layer, "cpu")
    if t.ndim == 2:
        return t.amax(dim=0)
    if t.ndim == 3:
        return t.flatten(1).amax(dim=1)
    return t.transpose(0, 1).flatten(1).amax(dim=1)


def matrix_of(
    maps: ArrayLike,
    metric: SimilarityMetric,
    similarity: object,
    layer: str | None,
    device: Device,
    max_bytes: int,
) -> np.ndarray:
    """The caller's checked ``similarity``, or :func:`pairwise` of ``maps`` when it is None."""
    if similarity is None:
        return (
            pair_matrix(metric, validate(maps, metric, layer, device), check_budget(max_bytes))
            .cpu()
            .numpy()
        )
    check_budget(max_bytes)
    data = validate(maps, metric, layer, None)  # the same input errors as pairwise
    return check_similarity(similarity, data.c, layer)


def inactive_of(data: Prepared) -> Inactive:
    x = data.x  # (N, C, F); dense outputs are (1, units, samples)
    top = x.amax(dim=(0, 2))
    dead = top <= 0
    flat = (x.amax(dim=2) == x.amin(dim=2)).all(dim=0) & ~dead
    return Inactive(
        dead=torch.nonzero(dead).flatten().tolist(),
        constant=torch.nonzero(flat).flatten().tolist(),
        n_channels=data.c,
    )


def compared(data: Prepared, include_dead: bool) -> tuple[Prepared, Inactive]:
    """``data`` restricted to the channels compared, and what was left out."""
    if include_dead:
        return data, Inactive([], [], data.c)
    inactive = inactive_of(data)
    if not inactive.dead and not inactive.constant:
        return data, inactive
    index = torch.tensor(inactive.active, dtype=torch.long, device=data.x.device)
    kept = Prepared(x=data.x.index_select(1, index), spatial_shape=data.spatial_shape)
    return kept, inactive
