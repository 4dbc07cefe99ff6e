"""Pure-numpy helpers behind every figure: array coercion, normalisation, tiling, resizing.

Nothing here imports matplotlib, so these helpers are cheap to use on their own (for example
to build a mosaic image for a report without drawing a figure).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConvscopeError, ShapeError, UnknownNameError
from ..validation import as_numpy, check_int

NORM_MODES = ("map", "layer", "standardize", "none")


def as_array(x: Any, name: str = "array") -> np.ndarray:
    """Return ``x`` as a numpy array; torch tensors are detached and moved to the CPU.

    Example:
        >>> as_array([[1, 2], [3, 4]]).shape
        (2, 2)
    """
    try:
        arr = as_numpy(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ConvscopeError(f"{name}: cannot convert {type(x).__name__} to an array") from exc
    if arr.dtype == object:
        raise ConvscopeError(f"{name}: expected a numeric array, got dtype object")
    return arr


def finite(arr: np.ndarray, name: str = "array") -> np.ndarray:
    """Return ``arr`` as float, with NaN and infinities replaced (and a warning) if any.

    NaN becomes the smallest finite value, +inf the largest and -inf the smallest, so a
    figure of a diverged model still draws instead of failing.

    Example:
        >>> finite(np.array([1.0, np.nan, 3.0])).tolist()
        [1.0, 1.0, 3.0]
    """
    arr = np.asarray(arr)
    if not np.issubdtype(arr.dtype, np.floating):
        if arr.dtype == bool or np.issubdtype(arr.dtype, np.number):
            return arr.astype(np.float32)
        raise ConvscopeError(f"{name}: expected numbers, got dtype {arr.dtype}")
    mask = np.isfinite(arr)
    if mask.all():
        return arr
    good = arr[mask]
    lo = float(good.min()) if good.size else 0.0
    hi = float(good.max()) if good.size else 0.0
    warnings.warn(
        f"{name}: {int((~mask).sum())} NaN/inf values replaced by finite values for drawing",
        RuntimeWarning,
        stacklevel=3,
    )
    return np.nan_to_num(arr, nan=lo, posinf=hi, neginf=lo)


def _pick(batch: np.ndarray, image_index: int, name: str) -> np.ndarray:
    """One image of a batch, or a ShapeError naming the index and the batch's shape."""
    n = batch.shape[0]
    image_index = check_int(image_index, "image_index")
    if not -n <= image_index < n:
        raise ShapeError(
            f"{name}: image_index {image_index} out of range for a batch of {n} images "
            f"(shape {batch.shape})"
        )
    return batch[image_index]


def maps_chw(maps: Any, image_index: int = 0, name: str = "maps") -> np.ndarray:
    """Coerce one image's feature maps to ``(C, H, W)``.

    Accepts ``(C, H, W)`` or ``(N, C, H, W)`` (picks ``image_index``); 2-D arrays are
    refused because they are usually dense outputs ``(N, units)`` (use ``m[None]`` for one map).

    Example:
        >>> maps_chw(np.zeros((2, 4, 5, 5)), image_index=1).shape
        (4, 5, 5)
    """
    arr = as_array(maps, name)
    if arr.ndim == 4:
        arr = _pick(arr, image_index, name)
    elif arr.ndim != 3:
        raise ShapeError(
            f"{name}: expected feature maps shaped (C, H, W) or (N, C, H, W), got {arr.shape}; "
            "dense outputs (N, units) have no spatial maps"
        )
    if min(arr.shape) == 0:
        raise ShapeError(f"{name}: empty maps, shape {arr.shape}")
    return finite(arr, name)


def _flat_mask(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """True where a map's value range is zero or only float32 rounding noise."""
    scale = np.maximum(np.abs(lo), np.abs(hi))
    return (hi - lo) <= scale * 1e-6


def normalize(maps: Any, mode: str | None = "map") -> np.ndarray:
    """Scale maps for display; the last two axes are one map.

    Modes:
        ``"map"``: each map min-max scaled to [0, 1]; a flat map becomes 0.
        ``"layer"``: one min-max scale for the whole array, [0, 1]; all flat gives 0.
        ``"standardize"``: seed 004's ``(x - mean) / std * 64 + 128`` clipped to [0, 255],
        per map; a flat map becomes exactly 128.
        ``"none"`` / ``None``: values unchanged (as float32).

    Returns:
        float32 array shaped like ``maps``, free of NaN for finite input.

    Raises:
        UnknownNameError: ``mode`` is not one of the modes above.

    Example:
        >>> normalize(np.array([[[0.0, 2.0], [4.0, 4.0]]])).tolist()
        [[[0.0, 0.5], [1.0, 1.0]]]
        >>> float(normalize(np.full((1, 3, 3), 7.0), "standardize").max())
        128.0
    """
    if mode is None:
        mode = "none"
    if mode not in NORM_MODES:
        raise UnknownNameError("norm mode", [str(mode)], NORM_MODES)
    arr = finite(as_array(maps, "maps"), "maps")
    if arr.ndim < 2:
        raise ShapeError(f"maps: expected at least 2 dimensions (H, W), got {arr.shape}")
    if mode == "none":
        return arr.astype(np.float32, copy=False)
    x = arr.astype(np.float64)
    if mode == "layer":
        lo, hi = np.float64(x.min()), np.float64(x.max())
        if _flat_mask(np.array(lo), np.array(hi)):
            return np.zeros(arr.shape, np.float32)
        return ((x - lo) / (hi - lo)).astype(np.float32)
    lo = x.min(axis=(-2, -1), keepdims=True)
    hi = x.max(axis=(-2, -1), keepdims=True)
    flat = _flat_mask(lo, hi)
    if mode == "map":
        span = np.where(flat, 1.0, hi - lo)
        out = np.where(flat, 0.0, (x - lo) / span)
        return np.clip(out, 0.0, 1.0).astype(np.float32)
    # standardize (seed 004)
    mean = x.mean(axis=(-2, -1), keepdims=True)
    std = x.std(axis=(-2, -1), keepdims=True)
    flat = flat | (std <= 0)
    std = np.where(flat, 1.0, std)
    out = np.where(flat, 128.0, (x - mean) / std * 64.0 + 128.0)
    return np.clip(out, 0.0, 255.0).astype(np.float32)


def to_unit(maps: Any, mode: str | None = "map") -> np.ndarray:
    """Like :func:`normalize` but always in [0, 1] (``standardize`` divided by 255).

    Example:
        >>> round(float(to_unit(np.ones((1, 2, 2)), "standardize").max()), 4)
        0.502
    """
    out = normalize(maps, mode)
    if mode == "standardize":
        return out / np.float32(255.0)
    if mode in (None, "none"):
        return np.clip(out, 0.0, 1.0)
    return out


def _gap_pair(gap: int | Sequence[int]) -> tuple[int, int]:
    pair = (gap, gap) if isinstance(gap, (int, np.integer)) else tuple(gap)
    if len(pair) != 2:
        raise ConvscopeError(f"gap must be one number or (rows, columns), got {gap!r}")
    gy, gx = (check_int(g, "gap", minimum=0) for g in pair)
    return gy, gx


def grid_shape(count: int, cols: int | None) -> tuple[int, int]:
    """``(rows, cols)`` of a grid holding ``count`` tiles, at most ``cols`` per row.

    ``cols=None`` picks a near-square grid.

    Example:
        >>> grid_shape(20, 8)
        (3, 8)
        >>> grid_shape(3, 8)
        (1, 3)
    """
    if count < 1:
        raise ShapeError("nothing to tile: 0 maps")
    if cols is None:
        cols = max(1, math.ceil(math.sqrt(count)))
    cols = min(check_int(cols, "cols", minimum=1), count)
    return math.ceil(count / cols), cols


def grid(
    tiles: np.ndarray,
    cols: int | None = 8,
    gap: int | Sequence[int] = 1,
    fill: float | Sequence[float] = 0.0,
) -> np.ndarray:
    """Arrange ``tiles`` shaped ``(K, H, W)`` or ``(K, H, W, D)`` into one image.

    Tile ``k`` lands at row ``k // cols``, column ``k % cols``; its top-left pixel is at
    ``(row * (H + gap_y), col * (W + gap_x))``. Gaps and unused cells hold ``fill``.

    Example:
        >>> grid(np.ones((3, 2, 2)), cols=2, gap=1).shape
        (5, 5)
    """
    tiles = np.asarray(tiles)
    if tiles.ndim not in (3, 4):
        raise ShapeError(f"tiles: expected (K, H, W) or (K, H, W, D), got {tiles.shape}")
    k, h, w = tiles.shape[:3]
    rows, cols = grid_shape(k, cols)
    gy, gx = _gap_pair(gap)
    extra = tiles.shape[3:]
    fill_value = np.asarray(fill, dtype=tiles.dtype)
    full = rows * cols
    if k < full:
        pad = np.empty((full - k, h, w) + extra, tiles.dtype)
        pad[...] = fill_value
        tiles = np.concatenate([tiles, pad])
    if gy == 0 and gx == 0:
        block = tiles.reshape((rows, cols, h, w) + extra).swapaxes(1, 2)
        return np.ascontiguousarray(block.reshape((rows * h, cols * w) + extra))
    # One strided assignment scatters every tile into a padded canvas.
    canvas = np.empty((rows, h + gy, cols, w + gx) + extra, tiles.dtype)
    canvas[...] = fill_value
    canvas[:, :h, :, :w] = tiles.reshape((rows, cols, h, w) + extra).swapaxes(1, 2)
    canvas = canvas.reshape((rows * (h + gy), cols * (w + gx)) + extra)
    return np.ascontiguousarray(canvas[: rows * (h + gy) - gy, : cols * (w + gx) - gx])


def tile(
    maps: Any,
    cols: int | None = 8,
    norm: str | None = "map",
    gap: int | Sequence[int] = 1,
    fill: float = 0.0,
) -> np.ndarray:
    """Normalise ``(C, H, W)`` maps and tile them into one 2-D float32 image.

    Channel ``k`` lands at grid row ``k // cols`` and column ``k % cols``, i.e. at pixel
    ``(row * (H + gap), col * (W + gap))``; gaps and unused cells hold ``fill``.

    Example:
        >>> img = tile(np.random.rand(10, 4, 4), cols=4, gap=1)
        >>> img.shape
        (14, 19)
    """
    arr = as_array(maps, "maps")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ShapeError(f"maps: expected (C, H, W) for tiling, got {arr.shape}")
    return grid(normalize(arr, norm), cols=cols, gap=gap, fill=fill)


def resize_bilinear(maps: Any, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(..., H, W)`` maps to ``size = (H2, W2)`` bilinearly (torch, align_corners=False).

    Example:
        >>> resize_bilinear(np.zeros((3, 5, 5)), (28, 30)).shape
        (3, 28, 30)
    """
    arr = as_numpy(maps, dtype=np.float32)
    if arr.ndim < 2:
        raise ShapeError(f"maps: expected (..., H, W), got {arr.shape}")
    lead, (h, w) = arr.shape[:-2], arr.shape[-2:]
    th, tw = int(size[0]), int(size[1])
    if (h, w) == (th, tw):
        return arr.copy()
    t = torch.from_numpy(np.ascontiguousarray(arr.reshape(-1, 1, h, w)))
    out = F.interpolate(t, size=(th, tw), mode="bilinear", align_corners=False)
    return out.numpy().reshape(lead + (th, tw))


def image_hwc(image: Any, name: str = "image", image_index: int = 0) -> np.ndarray:
    """Coerce one input image to float32 ``(H, W, 3)`` in [0, 1] for display.

    Accepts gray ``(H, W)``, ``(1, H, W)``, ``(H, W, 1)``, RGB ``(3, H, W)`` / ``(H, W, 3)``,
    RGBA (alpha dropped) and a batch ``(N, ...)`` (picks ``image_index``). Channel-first
    wins when ambiguous (convscope's convention is NCHW). uint8 is divided by 255; float
    images outside [0, 1] are min-max scaled.

    Example:
        >>> image_hwc(np.zeros((3, 32, 40))).shape
        (32, 40, 3)
    """
    arr = as_array(image, name)
    if arr.ndim == 4:
        arr = _pick(arr, image_index, name)
    if arr.ndim == 3:
        if arr.shape[0] in (1, 3, 4):
            arr = np.moveaxis(arr, 0, -1)
        elif arr.shape[-1] not in (1, 3, 4):
            raise ShapeError(
                f"{name}: expected (C, H, W) or (H, W, C) with C in 1, 3, 4; got {arr.shape}"
            )
    elif arr.ndim != 2:
        raise ShapeError(
            f"{name}: expected an image (H, W), (C, H, W) or (H, W, C); got {arr.shape}"
        )
    if min(arr.shape) == 0:
        raise ShapeError(f"{name}: empty image, shape {arr.shape}")
    is_uint8 = arr.dtype == np.uint8
    x = finite(arr, name).astype(np.float32)
    if x.ndim == 2:
        x = x[..., None]
    if x.shape[-1] == 4:
        x = x[..., :3]
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if is_uint8:
        x = x / np.float32(255.0)
    elif x.size and (x.min() < 0.0 or x.max() > 1.0):
        x = normalize(x.transpose(2, 0, 1)[None], "layer")[0].transpose(1, 2, 0)
    return np.ascontiguousarray(np.clip(x, 0.0, 1.0))


def images_nhwc(images: Any, name: str = "images") -> np.ndarray:
    """Coerce a batch of images to float32 ``(N, H, W, 3)`` in [0, 1].

    Accepts ``(N, H, W)``, ``(N, C, H, W)`` and ``(N, H, W, C)`` with C in 1, 3, 4.

    Example:
        >>> images_nhwc(np.zeros((5, 1, 28, 28))).shape
        (5, 28, 28, 3)
    """
    arr = as_array(images, name)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ShapeError(
            f"{name}: expected a batch (N, C, H, W), (N, H, W, C) or (N, H, W); got {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ShapeError(f"{name}: empty batch, shape {arr.shape}")
    if arr.shape[1] in (1, 3, 4):
        arr = np.moveaxis(arr, 1, -1)
    elif arr.shape[-1] not in (1, 3, 4):
        raise ShapeError(f"{name}: expected 1, 3 or 4 channels, got shape {arr.shape}")
    is_uint8 = arr.dtype == np.uint8
    x = finite(arr, name).astype(np.float32)
    if x.shape[-1] == 4:
        x = x[..., :3]
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if is_uint8:
        x = x / np.float32(255.0)
    elif x.min() < 0.0 or x.max() > 1.0:
        x = normalize(x.transpose(0, 3, 1, 2), "layer").transpose(0, 2, 3, 1)
    return np.ascontiguousarray(np.clip(x, 0.0, 1.0))


def shorten(text: str, max_chars: int) -> str:
    """Truncate ``text`` to ``max_chars`` characters with an ellipsis.

    Example:
        >>> shorten("Ankle boot", 6)
        'Ankle…'
    """
    text = str(text)
    max_chars = max(1, int(max_chars))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"
