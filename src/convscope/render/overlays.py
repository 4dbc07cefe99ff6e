"""Figures over the input image: heat-map overlays (seed 000) and map pairs with their product."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConvscopeError, ShapeError
from ..validation import check_real
from . import _fig
from ._tiles import (
    as_array,
    grid,
    grid_shape,
    image_hwc,
    maps_chw,
    normalize,
    resize_bilinear,
    to_unit,
)
from .maps import label_channels, label_mode

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

# Overlay grids are capped at about this many pixels; larger inputs are shown scaled down.
_MAX_OVERLAY_PX = 1 << 24


def _blend(base: np.ndarray, unit: np.ndarray, alpha: float, cmap: Any) -> np.ndarray:
    """Blend colour-mapped ``unit`` (K, H, W) over ``base`` (H, W, 3) floats -> uint8 (K, H, W, 3)."""
    heat = _fig.get_cmap(cmap)(np.clip(unit, 0.0, 1.0))[..., :3].astype(np.float32)
    out = (1.0 - alpha) * base[None] + alpha * heat
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _check_alpha(alpha: float) -> float:
    return check_real(alpha, "alpha", minimum=0.0, maximum=1.0)


def overlay_image(
    image: Any, map: Any, alpha: float = 0.5, cmap: Any = "jet", norm: str | None = "map"
) -> np.ndarray:
    """One map upsampled bilinearly to the image size and blended over it.

    Args:
        image: gray or RGB, ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)``.
        map: ``(h, w)`` feature map (any size).
        alpha: heat-map opacity in [0, 1].

    Returns:
        uint8 ``(H, W, 3)`` with the input's height and width.

    Example:
        >>> overlay_image(np.random.rand(1, 28, 28), np.random.rand(11, 11)).shape
        (28, 28, 3)
    """
    base = image_hwc(image)
    m = as_array(map, "map")
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2 or min(m.shape) == 0:
        raise ShapeError(f"map: expected one (H, W) feature map, got {m.shape}")
    unit = to_unit(m[None], norm)
    up = resize_bilinear(unit, base.shape[:2])
    return _blend(base, up, _check_alpha(alpha), cmap)[0]


def overlay(
    image: Any,
    maps: Any,
    alpha: float = 0.5,
    cmap: Any = "jet",
    cols: int | None = 8,
    image_index: int = 0,
    labels: bool | str = True,
    norm: str | None = "map",
    title: str | None = None,
) -> Figure:
    """Every map upsampled to the input size and blended over it (seed 000's 8x8 heat maps).

    Args:
        image: the input, gray or RGB, ``(H, W)``, ``(C, H, W)``, ``(H, W, C)`` or a batch
            (``image_index`` picks one).
        maps: ``(C, h, w)`` or ``(N, C, h, w)`` maps of that input.
        alpha: heat-map opacity in [0, 1].

    Returns:
        A figure with one panel per map (one tiled image).

    Example:
        >>> fig = overlay(np.random.rand(1, 28, 28), np.random.rand(64, 11, 11))
        >>> fig.axes[0].images[0].get_array().shape
        (231, 231, 3)
    """
    alpha = _check_alpha(alpha)
    img_arr = as_array(image, "image")
    base = image_hwc(img_arr, image_index=image_index if img_arr.ndim == 4 else 0)
    chw = maps_chw(maps, image_index)
    count = chw.shape[0]
    hh, ww = base.shape[:2]
    if count * hh * ww > _MAX_OVERLAY_PX:
        f = math.sqrt(_MAX_OVERLAY_PX / (count * hh * ww))
        hh, ww = max(1, int(hh * f)), max(1, int(ww * f))
        base = np.clip(resize_bilinear(base.transpose(2, 0, 1), (hh, ww)), 0, 1).transpose(1, 2, 0)
    up = np.clip(resize_bilinear(to_unit(chw, norm), (hh, ww)), 0.0, 1.0)
    panels = _blend(base, up, alpha, cmap)
    gap = max(1, min(hh, ww) // 28)
    rows, cols = grid_shape(count, cols)
    img = grid(panels, cols=cols, gap=gap, fill=_fig.GAP_RGB)
    width = float(np.clip(cols * 1.5, 3.0, 12.0))
    mode = label_mode(labels, count, width / cols)
    if title is None:
        title = f"{count} map{'s' if count > 1 else ''} over the input  ·  alpha={alpha:g}"
    top = 0.45 + (0.25 if mode == "axes" else 0.0)
    left = 0.55 if mode == "axes" else 0.1
    fw, fh, img_in = _fig.fit_size(img.shape[1], img.shape[0], width, top + 0.1, left + 0.1)
    fig = _fig.new_figure(fw, fh)
    img_h_in = img_in * img.shape[0] / img.shape[1]
    ax = _fig.image_axes(fig, left, 0.1, img_in, img_h_in)
    _fig.show_image(ax, img, interpolation="antialiased")
    if mode:
        tile_in = img_in * ww / img.shape[1]
        label_channels(ax, img, count, rows, cols, (hh, ww), (gap, gap), tile_in, img_h_in, mode)
    fig.text(0.5, 1 - 0.08 / fh, title, ha="center", va="top", fontsize=11)
    return fig


def pair(
    image: Any,
    map_i: Any,
    map_j: Any,
    similarity: float | None = None,
    names: Sequence[str] = ("i", "j"),
    alpha: float = 0.5,
    cmap: Any = "jet",
) -> Figure:
    """Seed 000's map pair: the input, map i, map j and their cell-wise product, over the input.

    Maps are min-max normalised before multiplying, and the product is shown on a fixed
    [0, 1] scale, so pairs without common areas look dark on the right.

    Args:
        image: the input, gray or RGB.
        map_i, map_j: two ``(h, w)`` maps of the same shape.
        similarity: printed in the title (``0.00`` too; ``None`` prints nothing).
        names: what to call the two maps, e.g. ``("#3", "#17")``.

    Example:
        >>> fig = pair(np.random.rand(28, 28), np.random.rand(11, 11), np.random.rand(11, 11),
        ...            similarity=0.0, names=("#3", "#17"))
        >>> fig.texts[-1].get_text()
        'similarity 0.00'
    """
    alpha = _check_alpha(alpha)
    base = image_hwc(image)
    mi, mj = as_array(map_i, "map_i"), as_array(map_j, "map_j")
    mi = mi[0] if mi.ndim == 3 and mi.shape[0] == 1 else mi
    mj = mj[0] if mj.ndim == 3 and mj.shape[0] == 1 else mj
    if mi.ndim != 2 or mi.shape != mj.shape or min(mi.shape) == 0:
        raise ShapeError(
            f"map_i and map_j must be two (H, W) maps of one shape; got {mi.shape} and {mj.shape}"
        )
    if len(names) != 2:
        raise ConvscopeError(f"names: expected two names, got {names!r}")
    unit = normalize(np.stack([mi, mj]), "map")
    stack = np.concatenate([unit, unit[:1] * unit[1:]])
    up = np.clip(resize_bilinear(stack, base.shape[:2]), 0.0, 1.0)
    panels = np.concatenate(
        [np.clip(base * 255 + 0.5, 0, 255).astype(np.uint8)[None], _blend(base, up, alpha, cmap)]
    )
    hh, ww = base.shape[:2]
    gap = max(1, ww // 12)
    img = grid(panels, cols=4, gap=gap, fill=_fig.GAP_RGB)
    n_i, n_j = (str(x) for x in names)
    titles = ["input", f"map {n_i}", f"map {n_j}", f"{n_i} × {n_j}"]
    width = 12.0
    img_in = width - 0.2
    img_h_in = img_in * img.shape[0] / img.shape[1]
    fh = img_h_in + 0.85
    fig = _fig.new_figure(width, fh)
    ax = _fig.image_axes(fig, 0.1, 0.1, img_in, img_h_in)
    _fig.show_image(ax, img, interpolation="antialiased")
    for k, t in enumerate(titles):
        ax.text(
            k * (ww + gap) + (ww - 1) / 2,
            -0.5 - 0.02 * hh,
            t,
            ha="center",
            va="bottom",
            fontsize=11,
        )
    if similarity is not None:
        fig.text(
            0.5,
            1 - 0.06 / fh,
            f"similarity {float(similarity):.2f}",
            ha="center",
            va="top",
            fontsize=13,
        )
    return fig
