"""One tiled image per figure: tiles, gaps, labels, a colour legend and frames, in pixels.

A tiled figure is a single uint8 canvas (see :mod:`._pixels`) shown 1:1 by
:func:`._canvas.image_figure`, with one matplotlib text, its title. Channel numbers are
drawn into the margins with the digit font (a tile's channel is its row label plus its
column label), flat maps are hatched, chosen tiles framed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConvscopeError
from . import _canvas, _fig, _pixels
from ._tiles import grid, grid_shape

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

TARGET_PX = 480
"""Tiled images narrower than this are upscaled by a whole factor towards it (a screen
reads them as well, and every pixel more costs encoding time and page weight)."""
MAX_PX = 6000
"""No tiled image is upscaled beyond this many pixels on either side."""
TITLE_PX = 22
TITLE_PT = 10


@dataclass(frozen=True)
class Legend:
    """A colour strip ``lo ... hi`` under the title (``lo``/``hi`` as short numbers)."""

    cmap: Any
    lo: str
    hi: str


def flat_channels(chw: np.ndarray) -> list[int]:
    """Channels of ``(C, H, W)`` maps that are flat (one value in every cell).

    Example:
        >>> m = np.random.default_rng(0).random((3, 4, 4)); m[1] = 0.0
        >>> flat_channels(m)
        [1]
    """
    flat = chw.reshape(len(chw), -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    scale = np.maximum(np.abs(lo), np.abs(hi))
    return np.flatnonzero((hi - lo) <= scale * 1e-6).tolist()


def marked_channels(inactive: Any, chw: np.ndarray, name: str = "inactive") -> list[int]:
    """Resolve an ``inactive`` argument: ``"auto"`` (flat maps), ``None`` or channel indices."""
    if inactive is None:
        return []
    if isinstance(inactive, str):
        if inactive != "auto":
            raise ConvscopeError(
                f"{name} must be 'auto', None or channel indices; got {inactive!r}"
            )
        return flat_channels(chw)
    chosen = sorted({int(k) for k in np.atleast_1d(np.asarray(list(inactive), dtype=np.int64))})
    bad = [k for k in chosen if not 0 <= k < len(chw)]
    if bad:
        raise ConvscopeError(f"{name}: channel(s) {bad} out of range for {len(chw)} maps")
    return chosen


def hatch_cells(
    img: np.ndarray,
    channels: Iterable[int],
    cols: int,
    pitch: tuple[int, int],
    tile: tuple[int, int],
) -> np.ndarray:
    """Hatch the tiles of ``channels`` in a (possibly upscaled) grid image, in place.

    Hatching after upscaling keeps the lines one pixel thin at any scale.
    """
    channels = list(channels)
    if channels:
        th, tw = tile
        pattern = _pixels.hatch(th, tw)[..., : img.shape[2]]
        for c in channels:
            y, x = (c // cols) * pitch[0], (c % cols) * pitch[1]
            img[y : y + th, x : x + tw] = pattern
    return img


def choose_scale(width: int, height: int, inches: float | None = None) -> int:
    """A whole upscaling factor: towards :data:`TARGET_PX` wide (or ``inches`` at 100 dpi)."""
    target = TARGET_PX if inches is None else inches * _canvas.DPI
    k = max(1, int(round(target / max(width, 1))))
    return int(max(1, min(k, 8, MAX_PX // max(width, 1), MAX_PX // max(height, 1))))


def legend_band(canvas: np.ndarray, legend: Legend, x: int, y: int, size: int = 11) -> None:
    """Draw ``lo [strip] hi`` with its top-left at ``(x, y)``, in place."""
    tw, th = _pixels.text_size(legend.lo, size)
    strip_h = max(th - 4, 8)
    _pixels.draw_text(canvas, x, y + (strip_h - th) // 2, legend.lo, size)
    sx = x + tw + 5
    _pixels.paste(canvas, _pixels.color_strip(legend.cmap, 120, strip_h), sx, y)
    _pixels.draw_text(canvas, sx + 125, y + (strip_h - th) // 2, legend.hi, size)


def legend_height(legend: Legend | None, size: int = 11) -> int:
    """Pixels the legend band takes (0 without one)."""
    return 0 if legend is None else _pixels.text_size("0", size)[1] + 4


def channel_labels(
    canvas: np.ndarray,
    origin: tuple[int, int],
    rows: int,
    cols: int,
    pitch: tuple[int, int],
    tile: tuple[int, int],
    size: int,
    prefix: str = "",
) -> None:
    """Column labels ``+c`` above the grid and row labels (first channel) to its left."""
    x0, y0 = origin
    py, px = pitch
    th, tw = tile
    lh = _pixels.text_size("0", size)[1]
    step = max(1, int(np.ceil((lh + 1) / py)))
    cstep = max(1, int(np.ceil((_pixels.text_size(f"+{cols}", size)[0] + 4) / px)))
    for c in range(0, cols, cstep):
        _pixels.draw_text(canvas, x0 + c * px + tw / 2, y0 - lh - 1, f"+{c}", size, align="center")
    for r in range(0, rows, step):
        text = f"{prefix}{r * cols}"
        _pixels.draw_text(canvas, x0 - 4, y0 + r * py + (th - lh) / 2, text, size, align="right")


def label_margins(count: int, rows: int, cols: int, size: int, prefix: str = "") -> tuple[int, int]:
    """``(left, top)`` pixels the channel labels need."""
    widest = f"{prefix}{(rows - 1) * cols}"
    width, height = _pixels.text_size(widest, size)
    return width + 8, height + 2


def tiled_figure(
    tiles: np.ndarray,
    *,
    cols: int | None,
    gap: int,
    title: str,
    labels: bool = True,
    legend: Legend | None = None,
    highlight: Sequence[int] = (),
    hatched: Sequence[int] = (),
    width: float | None = None,
    prefix: str = "",
) -> Figure:
    """Tile RGBA ``tiles`` (K, h, w, 4) into one figure with title, labels, legend, frames;
    the tiles of ``hatched`` channels are hatched (flat maps: nothing to show)."""
    count, h, w = tiles.shape[:3]
    rows, cols = grid_shape(count, cols)
    img = grid(tiles, cols=cols, gap=gap, fill=_fig.GAP_RGBA)
    k = choose_scale(img.shape[1], img.shape[0], width)
    img = _pixels.upscale(img, k)
    pitch = ((h + gap) * k, (w + gap) * k)
    if hatched:
        img = hatch_cells(img.copy() if k == 1 else img, hatched, cols, pitch, (h * k, w * k))
    ls = _pixels.label_size(min(pitch))
    left, top_labels = label_margins(count, rows, cols, ls, prefix) if labels else (6, 4)
    band = legend_height(legend)
    top = TITLE_PX + band + top_labels
    fig_w = max(left + img.shape[1] + 8, 300)
    canvas = _pixels.blank(top + img.shape[0] + 6, fig_w)
    _pixels.paste(canvas, img, left, top)
    if labels:
        channel_labels(canvas, (left, top), rows, cols, pitch, (h * k, w * k), ls, prefix)
    if legend is not None:
        legend_band(canvas, legend, left, TITLE_PX)
    if len(highlight):
        lw = int(np.clip(k * 2, 2, 4))
        rects = [
            (left + (c % cols) * pitch[1], top + (c // cols) * pitch[0], w * k, h * k)
            for c in highlight
        ]
        _pixels.frame(canvas, rects, width=lw)
    fig = _canvas.titled_figure(canvas, title, TITLE_PT)
    return fig


def check_highlight(highlight: Iterable[int] | None, count: int) -> list[int]:
    """Channel indices to frame, checked against ``count``."""
    if highlight is None:
        return []
    chosen = [int(k) for k in np.atleast_1d(np.asarray(list(highlight), dtype=np.int64))]
    bad = [k for k in chosen if not 0 <= k < count]
    if bad:
        raise ConvscopeError(f"highlight: channel(s) {bad} out of range for {count} maps")
    return chosen
