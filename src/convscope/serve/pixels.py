"""Pixels for the explorer: colour maps, tiled maps and images as small PNGs.

The page draws every picture at its native resolution and lets the browser scale it up
(``image-rendering: pixelated``), so a 26×26 map is 676 pixels to encode, not a figure.
The numbers the pictures encode travel beside them as JSON, for hover read-outs.

Example:
    >>> png(np.zeros((2, 3), np.uint8))[:4]
    b'\\x89PNG'
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

from .. import render

__all__ = [
    "MAPS_CMAP",
    "HEAT_CMAP",
    "colorbar",
    "colorize",
    "heatmap",
    "image_pixels",
    "png",
    "tiles",
]

MAPS_CMAP = "viridis"
"""Feature maps, as :func:`convscope.render.mosaic` draws them."""
HEAT_CMAP = "inferno"
"""Maps over the input, as :func:`convscope.render.overlay` draws them (black is silent)."""
GAP = (255, 255, 255)
NAN = (200, 200, 200)


def png(pixels: np.ndarray) -> bytes:
    """uint8 ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` as PNG bytes (fast compression)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@functools.cache
def _lut(cmap: str) -> np.ndarray:
    import matplotlib  # the colour tables only; no figure is made

    return matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256), bytes=True)[:, :3]


def colorize(unit: np.ndarray, cmap: str = MAPS_CMAP) -> np.ndarray:
    """Values in [0, 1] (NaN allowed: light grey) as uint8 RGB ``(..., 3)``.

    Example:
        >>> colorize(np.array([0.0, 1.0]), "viridis").tolist()
        [[68, 1, 84], [253, 231, 36]]
    """
    unit = np.asarray(unit, np.float64)
    bad = ~np.isfinite(unit)
    idx = np.clip(np.nan_to_num(unit, nan=0.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out = _lut(cmap)[idx]
    out[bad] = NAN
    return out


def unit_maps(chw: np.ndarray, norm: str) -> np.ndarray:
    """``(C, H, W)`` maps scaled to [0, 1] with :func:`convscope.render.normalize`'s modes
    (``standardize`` divided by 255, as the render room shows it)."""
    out = render.normalize(chw, norm)
    return out / np.float32(255.0) if norm == "standardize" else out


def tiles(rgb: np.ndarray, cols: int, gap: int = 1) -> np.ndarray:
    """``(K, H, W, 3)`` tiles in a grid of ``cols`` columns, white gaps between them.

    Tile ``k`` starts at pixel ``(k // cols * (H + gap), k % cols * (W + gap))``: the page
    finds the channel under the mouse with the same arithmetic.

    Example:
        >>> tiles(np.zeros((3, 2, 2, 3), np.uint8), cols=2).shape
        (5, 5, 3)
    """
    k, h, w = rgb.shape[:3]
    cols = max(1, min(cols, k))
    rows = -(-k // cols)
    canvas = np.empty((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), np.uint8)
    canvas[...] = GAP
    for i in range(k):
        y, x = i // cols * (h + gap), i % cols * (w + gap)
        canvas[y : y + h, x : x + w] = rgb[i]
    return canvas


def image_pixels(image: np.ndarray) -> np.ndarray:
    """An input image ``(C, H, W)`` as uint8 grey ``(H, W)`` or RGB ``(H, W, 3)``.

    Values in [0, 1] are shown as they are; other ranges (normalised inputs) are min-max
    scaled. Images of other channel counts show their first channel.

    Example:
        >>> image_pixels(np.ones((1, 2, 2), np.float32)).tolist()
        [[255, 255], [255, 255]]
    """
    x = np.nan_to_num(np.asarray(image, np.float32))
    if x.ndim == 2:
        x = x[None]
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        x = (x - lo) / max(hi - lo, 1e-12)
    pixels = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return pixels.transpose(1, 2, 0) if pixels.shape[0] == 3 else pixels[0]


def heatmap(values: np.ndarray, lo: float, hi: float, cmap: str = MAPS_CMAP) -> np.ndarray:
    """A matrix as uint8 RGB, one pixel per cell, ``lo``..``hi`` over the colour map.

    Example:
        >>> heatmap(np.array([[0.0, 1.0]]), 0.0, 1.0).shape
        (1, 2, 3)
    """
    span = hi - lo if hi > lo else 1.0
    return colorize((np.asarray(values, np.float64) - lo) / span, cmap)


def colorbar(cmap: str, width: int = 256, height: int = 1) -> np.ndarray:
    """A horizontal colour bar, low values on the left.

    Example:
        >>> colorbar("inferno").shape
        (1, 256, 3)
    """
    return np.repeat(colorize(np.linspace(0.0, 1.0, width), cmap)[None], height, axis=0)
