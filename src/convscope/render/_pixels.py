"""Pixel-level drawing in numpy: hatching, frames, upscaling, colour strips, text.

Mosaics, belts, overlays and matrices are one uint8 image each; what they mark (flat
maps, chosen channels, channel numbers, values) is drawn into that image here, text
included (matplotlib's DejaVu Sans, rasterised by PIL's FreeType and cached per label),
at a cost of microseconds, instead of as hundreds of matplotlib artists that each cost
about a millisecond to lay out and draw.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import _fig

HATCH_LIGHT = (236, 236, 236, 255)
HATCH_DARK = (150, 150, 150, 255)
"""A hatched tile: light grey with dark diagonal lines (a flat map: nothing to show)."""

INK = (29, 35, 48, 255)
"""The colour of labels drawn into figures."""


@functools.cache
def _font(size: int, bold: bool = False) -> Any:
    """matplotlib's DejaVu Sans at ``size`` pixels, for PIL to draw with."""
    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name), size)


@functools.lru_cache(maxsize=8192)
def _text_alpha(text: str, size: int, bold: bool) -> np.ndarray:
    """The coverage (0-255) of ``text`` on its line box, ``(line height, advance width)``."""
    font = _font(size, bold)
    ascent, descent = font.getmetrics()
    width = int(np.ceil(font.getlength(text))) if text else 0
    box = np.zeros((ascent + descent, max(width, 1)), np.uint8)
    if text:
        mask, (ox, oy) = font.getmask2(text, mode="L")
        mw, mh = mask.size
        if mw and mh:
            glyphs = np.frombuffer(bytes(mask), np.uint8).reshape(mh, mw)
            y0, x0 = max(oy, 0), max(ox, 0)
            h, w = min(mh, box.shape[0] - y0), min(mw, box.shape[1] - x0)
            box[y0 : y0 + h, x0 : x0 + w] = np.maximum(
                box[y0 : y0 + h, x0 : x0 + w], glyphs[:h, :w]
            )
    box.setflags(write=False)
    return box


def text_size(text: str, size: int = 11, bold: bool = False) -> tuple[int, int]:
    """``(width, height)`` in pixels of ``text`` drawn at ``size`` (height: the line box).

    Example:
        >>> w, h = text_size("10", 11)
        >>> 10 < w < 20 and 10 < h < 16
        True
    """
    box = _text_alpha(str(text), int(size), bool(bold))
    return (box.shape[1] if text else 0), box.shape[0]


def draw_text(
    canvas: np.ndarray,
    x: float,
    y: float,
    text: str,
    size: int = 11,
    color: Sequence[int] = INK,
    align: str = "left",
    bold: bool = False,
    rotate: bool = False,
) -> None:
    """Draw ``text`` (anti-aliased DejaVu Sans, as matplotlib's) into ``canvas`` in place.

    ``(x, y)`` is the top of the line box at the ``align`` point (``left``, ``center`` or
    ``right``); ``rotate`` writes it bottom-up (its top-left then is the box's top-left).
    Pixels outside the canvas are clipped.

    Example:
        >>> c = np.zeros((20, 30, 4), np.uint8)
        >>> draw_text(c, 2, 2, "10", color=(255, 255, 255, 255))
        >>> int(c[..., 0].max())
        255
    """
    alpha = _text_alpha(str(text), int(size), bool(bold))
    if not text:
        return
    if rotate:
        alpha = np.rot90(alpha)
    h, w = alpha.shape
    x0 = int(round(x - (w / 2 if align == "center" else w if align == "right" else 0)))
    y0 = int(round(y))
    cy0, cx0 = max(y0, 0), max(x0, 0)
    cy1, cx1 = min(y0 + h, canvas.shape[0]), min(x0 + w, canvas.shape[1])
    if cy1 <= cy0 or cx1 <= cx0:
        return
    a = alpha[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0, None].astype(np.float32) / 255.0
    region = canvas[cy0:cy1, cx0:cx1, :3].astype(np.float32)
    ink = np.asarray(color[:3], np.float32)
    canvas[cy0:cy1, cx0:cx1, :3] = (region + (ink - region) * a + 0.5).astype(np.uint8)


def fit_text(text: str, size: int, width: float, bold: bool = False) -> str:
    """``text``, shortened with an ellipsis until it is at most ``width`` pixels wide.

    Example:
        >>> fit_text("Ankle boot", 11, 1000), len(fit_text("Ankle boot", 11, 30)) < 10
        ('Ankle boot', True)
    """
    text = str(text)
    if text_size(text, size, bold)[0] <= width:
        return text
    while len(text) > 1 and text_size(text + "…", size, bold)[0] > width:
        text = text[:-1]
    return text + "…"


def label_box(
    canvas: np.ndarray,
    x: float,
    y: float,
    text: str,
    size: int,
    fill: str,
    color: Sequence[int] = (255, 255, 255, 255),
) -> None:
    """``text`` centred at ``x`` on a filled box whose bottom is at ``y``, in place."""
    w, h = text_size(text, size)
    x0, y0 = int(round(x - w / 2)) - 2, int(round(y - h)) - 1
    canvas[max(y0, 0) : max(y0 + h + 2, 0), max(x0, 0) : max(x0 + w + 4, 0)] = rgba(fill)
    draw_text(canvas, x, y0 + 1, text, size, color, align="center")


def rgba(color: str | Sequence[float]) -> tuple[int, int, int, int]:
    """A matplotlib colour as uint8 RGBA.

    Example:
        >>> rgba("#D55E00")
        (213, 94, 0, 255)
    """
    if isinstance(color, str) and color.startswith("#") and len(color) == 7:
        return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16), 255)
    from matplotlib.colors import to_rgba

    return tuple(int(round(v * 255)) for v in to_rgba(color))  # type: ignore[return-value]


def hatch(height: int, width: int) -> np.ndarray:
    """A hatched RGBA tile ``(height, width, 4)``: diagonal lines every few pixels.

    Example:
        >>> hatch(6, 6)[0, 0].tolist()
        [150, 150, 150, 255]
    """
    period = max(3, min(height, width) // 4)
    y, x = np.mgrid[0:height, 0:width]
    lines = (x + y) % period == 0
    out = np.empty((height, width, 4), np.uint8)
    out[...] = HATCH_LIGHT
    out[lines] = HATCH_DARK
    return out


def upscale(img: np.ndarray, k: int) -> np.ndarray:
    """Nearest-neighbour upscaling by a whole factor ``k`` (one copy).

    Example:
        >>> upscale(np.arange(4).reshape(2, 2), 2).tolist()[0]
        [0, 0, 1, 1]
    """
    if k == 1:
        return img
    h, w = img.shape[:2]
    rest = img.shape[2:]
    big = np.broadcast_to(img[:, None, :, None], (h, k, w, k) + rest)
    return np.ascontiguousarray(big.reshape((h * k, w * k) + rest))


def frame(
    canvas: np.ndarray,
    rects: Iterable[tuple[int, int, int, int]],
    color: str = _fig.FRAME,
    width: int = 2,
) -> None:
    """Draw rectangle outlines ``(x, y, w, h)`` (pixels, inside the rectangle) in place.

    The outline is ``color`` with a one-pixel white inner line, so it reads on dark and
    on bright tiles alike.
    """
    outer, inner = rgba(color), (255, 255, 255, 255)
    ch = canvas.shape[2] if canvas.ndim == 3 else 1
    for x, y, w, h in rects:
        for pad, value, thick in ((0, outer, width), (width, inner, 1)):
            x0, y0, x1, y1 = x + pad, y + pad, x + w - pad, y + h - pad
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            val = value[:ch]
            canvas[y0 : y0 + thick, x0:x1] = val
            canvas[y1 - thick : y1, x0:x1] = val
            canvas[y0:y1, x0 : x0 + thick] = val
            canvas[y0:y1, x1 - thick : x1] = val


def color_strip(cmap: object, width: int, height: int) -> np.ndarray:
    """A horizontal gradient of ``cmap`` from 0 (left) to 1 (right), uint8 RGBA.

    Example:
        >>> color_strip("gray", 5, 2)[0, [0, -1], 0].tolist()
        [0, 255]
    """
    ramp = np.linspace(0.0, 1.0, max(width, 1))[None].repeat(max(height, 1), axis=0)
    return _fig.colorize(ramp, cmap, rgba=True)


def blank(height: int, width: int, fill: Sequence[int] = _fig.GAP_RGBA) -> np.ndarray:
    """A canvas of ``fill`` (default white), uint8 RGBA."""
    shape = (max(height, 0), max(width, 0), 4)
    if len(set(fill)) == 1:  # white (or grey): one memset
        return np.full(shape, fill[0], np.uint8)
    out = np.empty(shape, np.uint8)
    out[...] = fill
    return out


def paste(canvas: np.ndarray, img: np.ndarray, x: int, y: int) -> None:
    """Copy ``img`` (RGBA or RGB uint8) into ``canvas`` with its top-left at ``(x, y)``."""
    h, w = img.shape[:2]
    if img.shape[2] == 3:
        canvas[y : y + h, x : x + w, :3] = img
        canvas[y : y + h, x : x + w, 3] = 255
    else:
        canvas[y : y + h, x : x + w] = img


def label_size(pitch: float) -> int:
    """A label font size (pixels) for tiles ``pitch`` pixels apart (9 to 13).

    Example:
        >>> label_size(10), label_size(80)
        (9, 13)
    """
    return int(np.clip(round(pitch * 0.5), 9, 13))


def fmt_number(value: float) -> str:
    """A short number for a label: ``0``, ``3.27``, ``0.012``, ``−1.5`` (a true minus), ``1200``.

    Example:
        >>> fmt_number(3.2749), fmt_number(0.0123), fmt_number(1234.5), fmt_number(-0.5)
        ('3.27', '0.012', '1234', '−0.5')
    """
    v = float(value)
    if v == 0 or not np.isfinite(v):
        return "0"
    a = abs(v)
    if a >= 100:
        text = f"{v:.0f}"
    elif a >= 1:
        text = f"{v:.2f}".rstrip("0").rstrip(".")
    else:
        text = f"{v:.2g}"
        if "e" in text:  # tiny values: as many decimals as it takes
            text = f"{v:.{min(12, int(-np.floor(np.log10(a))) + 1)}f}"
    return text.replace("-", "\u2212")
