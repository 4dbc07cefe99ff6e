"""Square heat maps as one image: cells, masked and hatched cells, numbers, a colour bar.

Matrices (channel similarity, class distances, confusion) and kernel weights are drawn
here in pixels: a cell is a block of pixels, its value printed with the digit font, the
colour bar a strip with its ticks. Only names (class names) and titles are matplotlib
texts, so a 64 x 64 matrix costs a few milliseconds, not 128 tick objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _fig, _pixels

MASKED_RGBA = (230, 230, 230, 255)
"""Masked cells (the diagonal, excluded channels) are light grey."""


def cell_colors(
    values: np.ndarray, cmap: Any, vmin: float, vmax: float, mask: np.ndarray | None
) -> np.ndarray:
    """RGBA colours of ``values`` on ``[vmin, vmax]``; masked cells light grey."""
    span = vmax - vmin if vmax > vmin else 1.0
    rgba = _fig.colorize((values - vmin) / span, cmap, rgba=True)
    if mask is not None:
        rgba[mask] = MASKED_RGBA
    return rgba


def heat_image(
    rgba: np.ndarray,
    cell: int,
    *,
    texts: np.ndarray | None = None,
    hatched: Sequence[int] = (),
    text_size: int = 11,
) -> np.ndarray:
    """Cells of ``cell`` pixels, ``texts`` (a string per cell, ``""`` for none) printed in
    black or white by the cell's lightness, rows and columns of ``hatched`` hatched."""
    k_rows, k_cols = rgba.shape[:2]
    img = _pixels.upscale(rgba, cell).copy()
    for p in hatched:
        img[p * cell : (p + 1) * cell, :] = _pixels.hatch(cell, k_cols * cell)
        img[:, p * cell : (p + 1) * cell] = _pixels.hatch(k_rows * cell, cell)
    if texts is not None:
        lum = rgba[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        lh = _pixels.text_size("0", text_size)[1]
        for i in range(k_rows):
            for j in range(k_cols):
                if texts[i, j]:
                    color = (255, 255, 255, 255) if lum[i, j] < 128 else (20, 20, 20, 255)
                    _pixels.draw_text(img, (j + 0.5) * cell, i * cell + (cell - lh) / 2,
                                      texts[i, j], text_size, color, align="center")  # fmt: skip
    return img


def colorbar(
    cmap: Any, vmin: float, vmax: float, height: int, size: int = 11, width: int = 14
) -> np.ndarray:
    """A vertical colour bar (``vmax`` at the top) with five tick labels at its right."""
    ticks = np.linspace(vmin, vmax, 5)
    labels = [_pixels.fmt_number(t) for t in ticks]
    label_w = max(_pixels.text_size(t, size)[0] for t in labels)
    lh = _pixels.text_size("0", size)[1]
    canvas = _pixels.blank(height + lh, width + 8 + label_w + 2)
    ramp = np.linspace(1.0, 0.0, max(height, 1))[:, None].repeat(width, axis=1)
    _pixels.paste(canvas, _fig.colorize(ramp, cmap, rgba=True), 0, lh // 2)
    for t, text in zip(ticks, labels, strict=True):
        frac = 0.0 if vmax == vmin else (t - vmin) / (vmax - vmin)
        y = lh // 2 + int(round((1 - frac) * (height - 1)))
        canvas[y, width : width + 4] = _pixels.INK
        _pixels.draw_text(canvas, width + 7, y - lh / 2, text, size)
    return canvas


def cell_size(k: int, target: int = 640, low: int = 3, high: int = 60) -> int:
    """Pixels per cell so that ``k`` cells span about ``target`` pixels; past 512 cells
    one pixel each (a 2048-channel matrix is 2048 px, not 6144).

    Example:
        >>> cell_size(16), cell_size(256), cell_size(2048)
        (40, 3, 1)
    """
    if k > 512:
        low = 1
    return int(np.clip(round(target / max(k, 1)), low, high))


def axis_labels(
    canvas: np.ndarray,
    labels: Sequence[str],
    origin: tuple[int, int],
    cell: int,
    size: int,
    *,
    axis: str,
) -> None:
    """Labels beside each row (``axis="rows"``, right-aligned left of ``origin``) or under
    each column (``"cols"``, written bottom-up); every few when the cells are too small."""
    x0, y0 = origin
    lh = _pixels.text_size("0", size)[1]
    step = max(1, int(np.ceil((lh - 2) / cell)))
    for k in range(0, len(labels), step):
        if axis == "rows":
            _pixels.draw_text(
                canvas, x0 - 5, y0 + (k + 0.5) * cell - lh / 2, labels[k], size, align="right"
            )
        else:
            _pixels.draw_text(
                canvas, x0 + (k + 0.5) * cell - lh / 2, y0 + 5, labels[k], size, rotate=True
            )


def matrix_figure(
    cells: np.ndarray,
    cell: int,
    *,
    title: str,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    texts: np.ndarray | None = None,
    text_size: int = 11,
    hatched: Sequence[int] = (),
    frames: Sequence[tuple[int, int]] = (),
    cbar: tuple[Any, float, float, str] | None = None,
    axis_names: tuple[str, str] | None = None,
) -> Any:
    """A matrix of RGBA ``cells`` as one figure: labels, numbers, hatching, frames, colour bar.

    Args:
        frames: ``(start, size)`` diagonal blocks to frame (redundant groups).
        cbar: ``(cmap, vmin, vmax, label)``.
        axis_names: ``(rows, columns)`` titles, e.g. ``("true class", "predicted class")``.
    """
    from . import _canvas
    from ._layout import TITLE_PT, TITLE_PX
    from ._tiles import shorten

    img = heat_image(cells, cell, texts=texts, hatched=hatched, text_size=text_size)
    ls = int(np.clip(cell - 1, 8, 12))
    rows = [shorten(t, 16) for t in row_labels]
    cols = [shorten(t, 16) for t in col_labels]
    lh = _pixels.text_size("0", ls)[1]
    left = max(_pixels.text_size(t, ls)[0] for t in rows) + 10 + (lh + 4 if axis_names else 0)
    bottom = max(_pixels.text_size(t, ls)[0] for t in cols) + 10 + (lh + 4 if axis_names else 0)
    bar = colorbar(cbar[0], cbar[1], cbar[2], img.shape[0]) if cbar else None
    right = 10 + (bar.shape[1] + 16 + lh if bar is not None else 0)
    top = TITLE_PX + 6
    canvas = _pixels.blank(top + img.shape[0] + bottom, max(left + img.shape[1] + right, 320))
    _pixels.paste(canvas, img, left, top)
    if frames:
        _pixels.frame(canvas, [(left + a * cell, top + a * cell, n * cell, n * cell) for a, n in frames],
                      width=2 if cell >= 6 else 1)  # fmt: skip
    axis_labels(canvas, rows, (left, top), cell, ls, axis="rows")
    axis_labels(canvas, cols, (left, top + img.shape[0]), cell, ls, axis="cols")
    if bar is not None:
        bx = left + img.shape[1] + 12
        _pixels.paste(canvas, bar, bx, top - lh // 2)
        cw, _ = _pixels.text_size(cbar[3], 11)
        _pixels.draw_text(
            canvas, bx + bar.shape[1] + 4, top + img.shape[0] / 2 - cw / 2, cbar[3], 11, rotate=True
        )
    if axis_names:
        rw, _ = _pixels.text_size(axis_names[0], 11)
        _pixels.draw_text(
            canvas, 2, top + img.shape[0] / 2 - rw / 2, axis_names[0], 11, rotate=True
        )
        _pixels.draw_text(
            canvas,
            left + img.shape[1] / 2,
            canvas.shape[0] - lh - 4,
            axis_names[1],
            11,
            align="center",
        )
    fig = _canvas.titled_figure(canvas, title, TITLE_PT)
    return fig
