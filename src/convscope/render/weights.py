"""Seed 003's conv kernels: heat maps centred on zero, or RGB patches for colour inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ShapeError
from ..validation import check_int
from . import _canvas, _fig, _heat, _pixels
from ._layout import TITLE_PT, TITLE_PX
from ._tiles import as_array, finite, grid_shape

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def _as_oihw(weights: Any) -> np.ndarray:
    w = as_array(weights, "weights")
    if w.ndim == 2:
        w = w[None, None]
    elif w.ndim == 3:
        w = w[:, None]
    if w.ndim != 4 or min(w.shape) == 0:
        raise ShapeError(f"weights: expected torch layout (out, in, kh, kw), got {w.shape}")
    return finite(w, "weights").astype(np.float64)


def _mode(in_channel: int | str | None, in_c: int) -> int | str:
    """``"rgb"`` or the input channel to show (checked)."""
    if in_channel is None:
        return "rgb" if in_c == 3 else 0
    if in_channel == "rgb":
        if in_c != 3:
            raise ShapeError(f"in_channel='rgb' needs 3 input channels; the weights have {in_c}")
        return "rgb"
    if not -in_c <= check_int(in_channel, "in_channel") < in_c:
        raise ShapeError(
            f"in_channel {in_channel} out of range: the weights have {in_c} input channels"
        )
    return int(in_channel) % in_c


def _kernel_cells(sel: np.ndarray, mode: int | str, vmax: float, cmap: Any) -> np.ndarray:
    """RGBA cells ``(count, kh, kw, 4)``: RGB patches, or the diverging colour of each weight."""
    if mode == "rgb":
        rgb = np.clip(0.5 + sel.transpose(0, 2, 3, 1) / (2 * vmax), 0.0, 1.0)
        out = np.empty(rgb.shape[:3] + (4,), np.uint8)
        out[..., :3] = np.round(rgb * 255)
        out[..., 3] = 255
        return out
    return _fig.colorize((sel + vmax) / (2 * vmax), cmap, rgba=True)


def _value_texts(sel: np.ndarray, fmt: str) -> np.ndarray:
    """Each weight as short text: ``.31``, ``-.05`` (a leading zero dropped to fit the cell)."""

    def short(v: float) -> str:
        text = format(v, fmt)
        text = text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text
        return text.replace("-", "\u2212")

    return np.vectorize(short, otypes=[object])(sel)


def kernels(
    weights: Any,
    in_channel: int | str | None = None,
    max_kernels: int = 64,
    annotate: bool | None = None,
    cols: int | None = 8,
    cmap: Any = "RdBu_r",
    fmt: str | None = None,
    title: str | None = None,
) -> Figure:
    """Seed 003's conv weights as heat maps, colours centred on zero (0 is white).

    Kernels of colour inputs (3 input channels) are drawn as RGB patches by default,
    ``0.5 + w / (2 max|w|)`` per colour, so a filter's colour preference shows and grey
    means 0 (as AlexNet's first-layer filters are usually shown). One image, drawn once.

    Args:
        weights: torch layout ``(out, in, kh, kw)``; ``(out, kh, kw)`` and ``(kh, kw)`` also work.
        in_channel: which input channel's slice to show; ``"rgb"`` for the colour
            patches; default ``"rgb"`` for 3 input channels, else channel 0.
        max_kernels: draw the first this many output channels.
        annotate: print the values; default when kernels are at most 5x5 and at most 64
            (never on RGB patches).
        fmt: number format for the values (default ``.2f``).

    Returns:
        A figure; heat maps use one scale from ``-max|w|`` to ``max|w|``, in the colour bar.

    Example:
        >>> fig = kernels(np.random.randn(32, 1, 3, 3))
        >>> fig.texts[-1].get_text()
        'kernels 32×1×3×3 · input channel 0 of 1'
    """
    w = _as_oihw(weights)
    out_c, in_c, kh, kw = w.shape
    mode = _mode(in_channel, in_c)
    count = min(out_c, check_int(max_kernels, "max_kernels", minimum=1))
    sel = w[:count] if mode == "rgb" else w[:count, mode]
    vmax = float(np.abs(sel).max()) or 1.0
    if annotate is None:
        annotate = kh <= 5 and kw <= 5 and count <= 64
    annotate = bool(annotate) and mode != "rgb"
    cell = 36 if annotate else int(np.clip(round(72 / max(kh, kw)), 3, 24))
    cells = _kernel_cells(sel, mode, vmax, cmap)
    texts = _value_texts(sel, fmt or ".2f") if annotate else None
    rows, cols = grid_shape(count, cols)
    gap, label = max(8, cell // 2), 16
    bw, bh = kw * cell, kh * cell
    bar = (
        None
        if mode == "rgb"
        else _heat.colorbar(cmap, -vmax, vmax, rows * (bh + label + gap) - gap - label)
    )
    width = cols * (bw + gap) + 8 + (bar.shape[1] + 40 if bar is not None else 0)
    height = (
        TITLE_PX + max(rows * (bh + label + gap), label + (0 if bar is None else bar.shape[0])) + 4
    )
    canvas = _pixels.blank(height, max(width, 300))
    for k in range(count):
        r, c = divmod(k, cols)
        x, y = 8 + c * (bw + gap), TITLE_PX + r * (bh + label + gap)
        _pixels.draw_text(canvas, x + bw / 2, y, str(k), 11, align="center")
        block = _heat.heat_image(
            cells[k], cell, texts=None if texts is None else texts[k], text_size=12
        )
        _pixels.paste(canvas, block, x, y + label)
    if bar is not None:
        _pixels.paste(canvas, bar, cols * (bw + gap) + 16, TITLE_PX + label)
    if bar is not None:
        tw, th = _pixels.text_size("weight", 11)
        _pixels.draw_text(canvas, canvas.shape[1] - th - 6, TITLE_PX + label + bar.shape[0] / 2 - tw / 2,
                          "weight", 11, rotate=True)  # fmt: skip
    if title is None:
        what = (
            "RGB patches: 0.5 + w / (2·max|w|), grey = 0"
            if mode == "rgb"
            else f"input channel {mode} of {in_c}"
        )
        title = f"kernels {out_c}×{in_c}×{kh}×{kw} · {what}" + (
            f" · first {count} of {out_c}" if count < out_c else ""
        )
    return _canvas.titled_figure(canvas, title, TITLE_PT)
