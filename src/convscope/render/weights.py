"""Seed 003's conv kernels as heat maps centred on zero."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.ma as ma

from ..errors import ShapeError
from ..validation import check_int
from . import _fig
from ._tiles import as_array, finite, grid, grid_shape

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def kernels(
    weights: Any,
    in_channel: int = 0,
    max_kernels: int = 64,
    annotate: bool | None = None,
    cols: int | None = 8,
    cmap: Any = "bwr",
    fmt: str | None = None,
    title: str | None = None,
) -> Figure:
    """Seed 003's conv weights as heat maps, colours centred on zero (``bwr``: 0 is white).

    Args:
        weights: torch layout ``(out, in, kh, kw)``; ``(out, kh, kw)`` and ``(kh, kw)`` also work.
        in_channel: which input channel's slice to show.
        max_kernels: draw the first this many output channels.
        annotate: print the values; default when kernels are at most 5x5 and at most 64.
        fmt: number format for the values (default ``.2f``, ``.1f`` when cells are small).

    Returns:
        A figure whose image uses ``vmin = -vmax = -max|w|`` and has a colour bar.

    Example:
        >>> fig = kernels(np.random.randn(32, 1, 3, 3))
        >>> im = fig.axes[0].images[0]
        >>> im.norm.vmin == -im.norm.vmax
        True
    """
    w = as_array(weights, "weights")
    if w.ndim == 2:
        w = w[None, None]
    elif w.ndim == 3:
        w = w[:, None]
    if w.ndim != 4 or min(w.shape) == 0:
        raise ShapeError(f"weights: expected torch layout (out, in, kh, kw), got {w.shape}")
    out_c, in_c, kh, kw = w.shape
    if not -in_c <= check_int(in_channel, "in_channel") < in_c:
        raise ShapeError(
            f"in_channel {in_channel} out of range: weights {w.shape} have {in_c} input channels"
        )
    count = min(out_c, check_int(max_kernels, "max_kernels", minimum=1))
    sel = finite(w[:count, in_channel], "weights").astype(np.float64)
    vmax = float(np.abs(sel).max())
    if vmax <= 0:
        vmax = 1.0
    rows, cols = grid_shape(count, cols)
    gy, gx = max(1, round(kh * 0.34)), max(1, math.ceil(kw * 0.2))
    data = grid(sel, cols=cols, gap=(gy, gx), fill=0.0)
    mask = ~grid(np.ones(sel.shape, bool), cols=cols, gap=(gy, gx), fill=False)
    width = float(np.clip(cols * 1.2, 3.0, 12.0))
    img_w, img_h = data.shape[1], data.shape[0] + gy
    fw, fh, img_in = _fig.fit_size(img_w, img_h, width + 0.9, extra_h=0.6, extra_w=1.1)
    fig = _fig.new_figure(fw, fh)
    img_h_in = img_in * img_h / img_w
    ax = _fig.image_axes(fig, 0.1, 0.1, img_in, img_h_in)
    lut = _fig.get_cmap(cmap).with_extremes(bad=(0.93, 0.93, 0.93))
    im = _fig.show_image(ax, ma.masked_array(data, mask), cmap=lut, vmin=-vmax, vmax=vmax)
    ax.set_ylim(data.shape[0] - 0.5, -gy - 0.5)
    ax.set_xlim(-0.5, data.shape[1] - 0.5)
    px_in = img_in / img_w
    lab = _fig.font_for(px_in * gy, lo=4.5, hi=9.0, frac=0.75)
    for k in range(count):
        r, c = divmod(k, cols)
        ax.text(
            c * (kw + gx) + (kw - 1) / 2,
            r * (kh + gy) - 0.5 - gy / 2,
            f"#{k}",
            ha="center",
            va="center",
            fontsize=lab,
        )
    if annotate is None:
        annotate = kh <= 5 and kw <= 5 and count <= 64
    if annotate:
        size = _fig.font_for(px_in, lo=3.0, hi=9.0, frac=0.3)
        if fmt is None:
            fmt = ".2f" if px_in * 72 >= 26 else ".1f"
        kidx, ii, jj = np.unravel_index(np.arange(count * kh * kw), (count, kh, kw))
        ys = (kidx // cols) * (kh + gy) + ii
        xs = (kidx % cols) * (kw + gx) + jj
        vals = sel.reshape(-1)
        for x, y, v in zip(xs, ys, vals, strict=False):
            ax.text(
                x,
                y,
                format(v, fmt),
                ha="center",
                va="center",
                fontsize=size,
                color="white" if abs(v) > 0.6 * vmax else "black",
            )
    cax = fig.add_axes(
        ((img_in + 0.3) / fw, 0.1 / fh + 0.1 * img_h_in / fh, 0.15 / fw, 0.8 * img_h_in / fh)
    )
    fig.colorbar(im, cax=cax)
    cax.tick_params(labelsize=8)
    if title is None:
        title = f"kernels {kh}x{kw}, input channel {in_channel % in_c}" + (
            f" (first {count} of {out_c})" if count < out_c else ""
        )
    fig.text(0.5, 1 - 0.08 / fh, title, ha="center", va="top", fontsize=11)
    return fig
