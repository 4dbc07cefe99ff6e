"""Feature-map figures: mosaic, belts, per-sample grids (overlays and kernels live apart)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConvscopeError, ShapeError
from ..validation import as_labels
from . import _fig
from ._tiles import (
    as_array,
    grid,
    grid_shape,
    images_nhwc,
    maps_chw,
    shorten,
    to_unit,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def tiled_rgb(
    chw: np.ndarray, cols: int | None, norm: str | None, cmap: Any, gap: int
) -> tuple[np.ndarray, int, int]:
    """Normalise, colour and tile ``(C, H, W)`` maps; returns ``(rgb, rows, cols)``."""
    rows, cols = grid_shape(chw.shape[0], cols)
    rgba = _fig.colorize(to_unit(chw, norm), cmap, rgba=True)
    return grid(rgba, cols=cols, gap=gap, fill=_fig.GAP_RGBA), rows, cols


def label_channels(
    ax: Axes,
    img: np.ndarray,
    count: int,
    rows: int,
    cols: int,
    tile_hw: tuple[int, int],
    gap: tuple[int, int],
    tile_in: float,
    img_h_in: float,
    mode: str,
    prefix: str = "",
) -> None:
    """Channel numbers: in each tile's corner (``"tiles"``) or as row/column ticks (``"axes"``)."""
    h, w = tile_hw
    gy, gx = gap
    if mode == "tiles":
        size = _fig.font_for(tile_in, lo=4.5, hi=9.0, frac=0.16)
        box = {
            "boxstyle": "square,pad=0.12",
            "facecolor": "black",
            "alpha": 0.45,
            "edgecolor": "none",
        }
        for k in range(count):
            ax.text(
                (k % cols) * (w + gx) - 0.5 + 0.03 * w,
                (k // cols) * (h + gy) - 0.5 + 0.03 * h,
                f"{prefix}{k}",
                color="white",
                fontsize=size,
                ha="left",
                va="top",
                bbox=box,
            )
        return
    # Row/column labels as plain texts (much cheaper to draw than axis ticks).
    size = _fig.font_for(tile_in, lo=5.0, hi=9.0, frac=0.25)
    for c in range(cols):
        ax.text(
            c * (w + gx) + (w - 1) / 2,
            -0.5 - 0.04 * h,
            f"+{c}",
            ha="center",
            va="bottom",
            fontsize=size,
            clip_on=False,
        )
    row_in = img_h_in / rows
    step = max(1, math.ceil((size * 1.3 / 72.0) / max(row_in, 1e-6)))
    for r in range(0, rows, step):
        ax.text(
            -0.5 - 0.06 * w,
            r * (h + gy) + (h - 1) / 2,
            f"{prefix}{r * cols}",
            ha="right",
            va="center",
            fontsize=size,
            clip_on=False,
        )


def label_mode(labels: bool | str, count: int, tile_in: float) -> str | None:
    if labels is False or labels is None:
        return None
    if labels in ("tiles", "axes"):
        return str(labels)
    if labels is not True:
        raise ConvscopeError(f"labels must be True, False, 'tiles' or 'axes', got {labels!r}")
    return "tiles" if count <= 64 and tile_in >= 0.3 else "axes"


def mosaic(
    maps: Any,
    cols: int | None = 8,
    norm: str | None = "map",
    cmap: Any = "viridis",
    labels: bool | str = True,
    highlight: Iterable[int] | None = None,
    image_index: int = 0,
    title: str | None = None,
    gap: int = 1,
    width: float | None = None,
) -> Figure:
    """One layer's maps for one image as one tiled image (seed 002's 4x8 grid, seed 003's).

    Args:
        maps: ``(C, H, W)`` or ``(N, C, H, W)`` (``image_index`` picks the image); numpy or torch.
        cols: tiles per row (``None``: near-square).
        norm: ``"map"`` (per-map min-max), ``"layer"`` (one scale) or ``"standardize"``
            (seed 004: ``(x - mean) / std * 64 + 128``, flat maps mid-grey).
        cmap: matplotlib colour map name.
        labels: channel numbers; ``True`` picks tile corners (<= 64 maps) or row/column
            ticks (channel = row label + column label); ``"tiles"``, ``"axes"`` or ``False``.
        highlight: channel indices framed in red.
        title: figure title (default: count, size and norm).
        gap: pixels of white between tiles.
        width: figure width in inches (default from ``cols``).

    Returns:
        A ``matplotlib.figure.Figure``.

    Raises:
        ShapeError: ``maps`` is not 3-D/4-D or ``image_index`` is out of range.

    Example:
        >>> fig = mosaic(np.random.rand(32, 26, 26), cols=8)
        >>> len(fig.axes[0].images)
        1
    """
    chw = maps_chw(maps, image_index)
    count, h, w = chw.shape
    img, rows, cols = tiled_rgb(chw, cols, norm, cmap, gap)
    img_h, img_w = img.shape[:2]
    if width is None:
        # many small tiles: a smaller figure (3x pixel scale for 256 maps of 13x13) reads
        # as well and draws and encodes in about half the time
        per_col = 0.75 if count <= 64 else 0.45
        width = _fig.pixel_width(img_w, float(np.clip(cols * per_col, 3.0, 9.0)))
    tile_in_guess = width / cols
    mode = label_mode(labels, count, tile_in_guess)
    if title is None:
        title = f"{count} map{'s' if count > 1 else ''} {h}x{w}  ·  norm={norm}"
    top = (0.45 if title else 0.1) + (0.25 if mode == "axes" else 0.0)
    left = 0.55 if mode == "axes" else 0.1
    fw, fh, img_in = _fig.fit_size(img_w, img_h, width, extra_h=top + 0.1, extra_w=left + 0.1)
    fig = _fig.new_figure(fw, fh)
    img_h_in = img_in * img_h / img_w
    ax = _fig.image_axes(fig, left, 0.1, img_in, img_h_in)
    _fig.show_image(ax, img)
    tile_in = img_in * w / img_w
    if mode:
        label_channels(ax, img, count, rows, cols, (h, w), (gap, gap), tile_in, img_h_in, mode)
    if highlight is not None:
        hl = [int(k) for k in np.atleast_1d(as_array(list(highlight), "highlight"))]
        bad = [k for k in hl if not 0 <= k < count]
        if bad:
            raise ConvscopeError(f"highlight: channel(s) {bad} out of range for {count} maps")
        _fig.frames(
            ax,
            [((k % cols) * (w + gap) - 0.5, (k // cols) * (h + gap) - 0.5, w, h) for k in hl],
            linewidth=float(np.clip(tile_in * 3, 1.0, 2.5)),
        )
    if title:
        fig.text(0.5, 1 - 0.08 / fh, title, ha="center", va="top", fontsize=11)
    return fig


def belt(
    maps_by_layer: Mapping[str, Any],
    image_index: int = 0,
    norm: str | None = "standardize",
    cmap: Any = "viridis",
    max_per_row: int = 16,
    gap: int = 1,
    width: float = 12.0,
) -> Figure:
    """Seed 004's image belts: one horizontal strip of maps per layer, top to bottom.

    Only 4-D ``(N, C, H, W)`` maps are drawn; other arrays (dense outputs) are skipped with a
    warning and named in the figure title. Rows wrap after ``max_per_row`` maps.

    Args:
        maps_by_layer: ``{layer name: (N, C, H, W) maps}``, e.g. from ``convscope.capture``.
        image_index: which image of the batch.
        norm: ``"standardize"`` (seed 004, default), ``"map"`` or ``"layer"``.
        max_per_row: maps per strip row.

    Raises:
        ConvscopeError: no layer has 4-D maps.

    Example:
        >>> fig = belt({"conv2d": np.random.rand(1, 8, 26, 26), "dense": np.random.rand(1, 10)})
        >>> fig.texts[-1].get_text()
        'skipped (not 4-D maps): dense'
    """
    if not isinstance(maps_by_layer, Mapping) or not maps_by_layer:
        raise ConvscopeError("belt: expected a non-empty dict {layer name: (N, C, H, W) maps}")
    strips: list[tuple[str, np.ndarray]] = []
    skipped: list[str] = []
    for name, arr in maps_by_layer.items():
        a = as_array(arr, str(name))
        if a.ndim != 4:
            skipped.append(str(name))
            continue
        chw = maps_chw(a, image_index, name=str(name))
        img, _, _ = tiled_rgb(chw, max_per_row, norm, cmap, gap)
        strips.append((f"{name}   {tuple(a.shape)}", img))
    if skipped:
        warnings.warn(f"belt: skipped layers without 4-D maps: {', '.join(skipped)}", stacklevel=2)
    if not strips:
        raise ConvscopeError(
            f"belt: no 4-D (N, C, H, W) maps to draw; skipped: {', '.join(skipped)}"
        )
    head = 0.4 if skipped else 0.1
    title_h = 0.3
    img_w_in = width - 0.2
    heights = [img_w_in * s.shape[0] / s.shape[1] for _, s in strips]
    total = head + sum(heights) + title_h * len(strips) + 0.1
    if total > 3 * _fig.MAX_H_IN:
        scale = (3 * _fig.MAX_H_IN - head - title_h * len(strips)) / sum(heights)
        heights = [hh * scale for hh in heights]
        total = 3 * _fig.MAX_H_IN
    fig = _fig.new_figure(width, total)
    y = total - head
    for (label, img), hh in zip(strips, heights, strict=False):
        y -= title_h
        fig.text(0.1 / width, (y + 0.06) / total, label, fontsize=10, ha="left", va="bottom")
        y -= hh
        iw = hh * img.shape[1] / img.shape[0]
        ax = _fig.image_axes(fig, 0.1, y, iw, hh)
        _fig.show_image(ax, img, aspect="auto")
    if skipped:
        fig.text(
            0.5,
            1 - 0.1 / total,
            f"skipped (not 4-D maps): {', '.join(skipped)}",
            ha="center",
            va="top",
            fontsize=9,
            color="0.35",
        )
    return fig


def samples_grid(
    images: Any,
    maps: Any,
    labels: Any,
    predictions: Any = None,
    cols: int = 8,
    class_names: Sequence[str] | None = None,
    norm: str | None = "map",
    cmap: Any = "gray",
    gap: int = 1,
) -> Figure:
    """Seed 003's ``plotOutputs``: each sample's picture, then its channel maps, one block per sample.

    The picture is titled ``predict: X / actual: Y`` (red when wrong; just ``actual: Y``
    without predictions).

    Args:
        images: ``(N, C, H, W)``, ``(N, H, W, C)`` or ``(N, H, W)`` inputs.
        maps: ``(N, C, h, w)`` one layer's maps for those inputs.
        labels: ``(N,)`` true class indices (or one-hot rows).
        predictions: ``(N,)`` predicted class indices (or one-hot rows), or ``None``; for
            scores pass ``scores.argmax(1)``.
        cols: maps per row inside a block.

    Raises:
        ShapeError: counts of images, maps and labels differ.

    Example:
        >>> fig = samples_grid(np.random.rand(2, 3, 32, 32), np.random.rand(2, 16, 15, 15),
        ...                    [0, 1], predictions=[0, 2], class_names=["plane", "car", "bird"])
        >>> fig.axes[2].get_title(loc="center").splitlines()[0]
        'predict: bird'
    """
    imgs = images_nhwc(images, "images")
    m = as_array(maps, "maps")
    if m.ndim != 4:
        raise ShapeError(f"maps: expected (N, C, H, W) maps, got {m.shape}")
    n = len(imgs)
    if len(m) != n:
        raise ShapeError(f"images has {n} samples but maps has {len(m)} (shape {m.shape})")
    y = as_labels(labels, n=n, name="labels")
    p = None if predictions is None else as_labels(predictions, n=n, name="predictions")
    count, h, w = m.shape[1:]
    rows, cols = grid_shape(count, cols)
    width = float(np.clip(cols * 1.0, 4.0, 12.0)) + 1.8
    img_col = 1.6
    maps_w = width - img_col - 0.2
    grid_w = cols * (w + gap) - gap
    grid_h = rows * (h + gap) - gap
    block = maps_w * grid_h / grid_w
    title_h = 0.45
    tile_in = maps_w * w / grid_w
    mode = label_mode(True, count, tile_in)
    left_lab = 0.45 if mode == "axes" else 0.0
    maps_w -= left_lab
    block = maps_w * grid_h / grid_w
    row_h = max(block, 1.0) + title_h
    height = row_h * n + 0.1
    if height > 3 * _fig.MAX_H_IN:
        warnings.warn(f"samples_grid: {n} samples make a {height:.0f}-inch figure", stacklevel=2)
    fig = _fig.new_figure(width, height)
    for i in range(n):
        top = height - 0.05 - i * row_h
        ib = min(img_col - 0.2, max(block, 1.0))
        ax_img = _fig.image_axes(fig, 0.1, top - title_h - ib, img_col - 0.2, ib)
        _fig.show_image(ax_img, imgs[i])
        actual = shorten(_fig.class_name(int(y[i]), class_names), 15)
        if p is None:
            ax_img.set_title(f"actual: {actual}", fontsize=9)
        else:
            pred = shorten(_fig.class_name(int(p[i]), class_names), 15)
            wrong = p[i] != y[i]
            ax_img.set_title(
                f"predict: {pred}\nactual: {actual}",
                fontsize=9,
                color=_fig.WRONG if wrong else "black",
                fontweight="bold" if wrong else "normal",
            )
        chw = maps_chw(m, i)
        img, _, _ = tiled_rgb(chw, cols, norm, cmap, gap)
        ax = _fig.image_axes(fig, img_col + left_lab, top - title_h - block, maps_w, block)
        _fig.show_image(ax, img)
        if mode:
            label_channels(
                ax, img, count, rows, cols, (h, w), (gap, gap), tile_in, block, mode, prefix="#"
            )
    return fig
