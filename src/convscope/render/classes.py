"""Class-level figures: confusion matrix, prediction grid, class ranking, one example per class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ShapeError
from ..validation import as_labels, check_int
from . import _canvas, _fig, _heat, _pixels
from ._layout import TITLE_PT, TITLE_PX, choose_scale
from ._tiles import grid, images_nhwc, shorten
from .matrices import names_for as _names
from .matrices import square as _square

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def confusion(
    cm: Any,
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
    cmap: Any = "Blues",
    title: str | None = None,
) -> Figure:
    """Seed 002's confusion matrix: rows true class, columns predicted; counts in the cells.

    Args:
        cm: ``(K, K)`` counts, ``cm[true, predicted]``.
        class_names: K names (long ones are shortened).
        normalize: colour by the fraction of each true class (row-normalised).

    Example:
        >>> fig = confusion(np.array([[50, 2], [3, 45]]), ["cat", "dog"])
        >>> fig.texts[-1].get_text()
        'confusion matrix (colour: fraction of each true class; numbers: counts)'
    """
    m = _square(cm, "cm")
    k = m.shape[0]
    names = [shorten(n, 18) for n in _names(class_names, k)]
    if normalize:
        rows = m.sum(axis=1, keepdims=True)
        colours = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
        vmin, vmax, label = 0.0, 1.0, "fraction of true class"
    else:
        colours = m
        vmin, vmax, label = float(m.min()), float(max(m.max(), m.min() + 1e-12)), "count"
    integral = bool(np.all(m == np.round(m)))
    texts = None
    if k <= 30:
        texts = np.array(
            [[f"{int(v)}" if integral else f"{v:.2f}" for v in row] for row in m], dtype=object
        )
    cell = _heat.cell_size(k, 520, 8, 60)
    what = "fraction of each true class" if normalize else "count"
    return _heat.matrix_figure(
        _heat.cell_colors(colours, cmap, vmin, vmax, None), cell,
        title=title or f"confusion matrix (colour: {what}; numbers: counts)",
        row_labels=names, col_labels=names, texts=texts,
        text_size=13 if cell >= 40 else 10, cbar=(cmap, vmin, vmax, label),
        axis_names=("true class", "predicted class"),
    )  # fmt: skip


def _class_count(
    p: np.ndarray, y: np.ndarray, class_names: Sequence[str] | None, num_classes: int | None
) -> int:
    """How many classes the grid has rows for; every index must be one of them."""
    k = num_classes or (
        len(class_names) if class_names is not None else int(max(p.max(), y.max())) + 1
    )
    top = int(max(p.max(), y.max())) if len(p) else -1
    if top >= k or (len(p) and int(min(p.min(), y.min())) < 0):
        raise ShapeError(
            f"predictions and labels must be class indices 0..{k - 1} for {k} classes; "
            f"got values from {int(min(p.min(), y.min()))} to {top}. Pass class_names (or "
            "num_classes) covering every class."
        )
    return k


def _as_uint8(imgs: np.ndarray) -> np.ndarray:
    return np.clip(imgs * 255 + 0.5, 0, 255).astype(np.uint8)


def _prediction_cells(
    imgs: np.ndarray, p: np.ndarray, y: np.ndarray, k: int, per_class: int
) -> tuple[np.ndarray, list[tuple[int, int]], int]:
    """The cells (row = predicted class), the wrong ones as ``(cell, true)``, and the count shown."""
    h, w = imgs.shape[1:3]
    cells = np.empty((k * per_class, h, w, 3), np.uint8)
    cells[...] = _fig.EMPTY_RGB
    wrong: list[tuple[int, int]] = []
    shown = 0
    for c in range(k):
        idx = np.flatnonzero(p == c)[:per_class]
        cells[c * per_class : c * per_class + len(idx)] = _as_uint8(imgs[idx])
        wrong += [(c * per_class + t, int(y[i])) for t, i in enumerate(idx) if y[i] != c]
        shown += len(idx)
    return cells, wrong, shown


def _row_labels(
    canvas: np.ndarray, names: Sequence[str], x: int, top: int, pitch: int, tile: int
) -> None:
    """Class names right-aligned at ``x``, one per row of ``pitch`` pixels (fewer if crowded)."""
    size = 12
    lh = _pixels.text_size("0", size)[1]
    step = max(1, int(np.ceil((lh + 2) / pitch)))
    for c in range(0, len(names), step):
        _pixels.draw_text(
            canvas, x, top + c * pitch + (tile - lh) / 2, shorten(names[c], 16), size, align="right"
        )


def predictions_grid(
    images: Any,
    predictions: Any,
    labels: Any,
    per_class: int = 10,
    class_names: Sequence[str] | None = None,
    num_classes: int | None = None,
) -> Figure:
    """Seed 002's grid of examples grouped by predicted class, one row per class.

    Misclassified examples get a vermillion frame and their true label.

    Args:
        images: ``(N, C, H, W)``, ``(N, H, W, C)`` or ``(N, H, W)``.
        predictions: ``(N,)`` predicted classes (or one-hot rows); for scores pass
            ``scores.argmax(1)``.
        labels: ``(N,)`` true classes (or one-hot rows).
        per_class: examples per row.

    Example:
        >>> fig = predictions_grid(np.random.rand(40, 1, 28, 28), np.arange(40) % 4,
        ...                        (np.arange(40) + (np.arange(40) % 7 == 0)) % 4, per_class=5)
        >>> fig.texts[-1].get_text()
        'examples by predicted class (rows) · framed: wrong, true label shown · 3 of 20'
    """
    imgs = images_nhwc(images, "images")
    n, h, w = imgs.shape[:3]
    p = as_labels(predictions, n=n, name="predictions")
    y = as_labels(labels, n=n, name="labels")
    per_class = check_int(per_class, "per_class", minimum=1)
    k = _class_count(p, y, class_names, num_classes)
    names = _names(class_names, k)
    cells, wrong, shown = _prediction_cells(imgs, p, y, k, per_class)
    gap = max(1, min(h, w) // 8)
    img = grid(cells, cols=per_class, gap=gap, fill=_fig.GAP_RGB)
    kx = choose_scale(img.shape[1], img.shape[0], 9.0)
    img = _pixels.upscale(img, kx)
    left = 14 + max(_pixels.text_size(shorten(name, 16), 12)[0] for name in names)
    top = TITLE_PX + 4
    canvas = _pixels.blank(top + img.shape[0] + 8, left + img.shape[1] + 10)
    _pixels.paste(canvas, img, left, top)
    py, px = (h + gap) * kx, (w + gap) * kx
    boxes = [(left + (cell % per_class) * px, top + (cell // per_class) * py) for cell, _ in wrong]
    _pixels.frame(canvas, [(x, y0, w * kx, h * kx) for x, y0 in boxes], width=max(2, kx))
    _row_labels(canvas, names, left - 8, top, py, h * kx)
    tsize = int(np.clip(w * kx / 6, 10, 13))
    for (x, y0), (_cell, true) in zip(boxes, wrong, strict=True):
        text = _pixels.fit_text(names[true], tsize, w * kx - 8)
        _pixels.label_box(canvas, x + w * kx / 2, y0 + h * kx - 3, text, tsize, _fig.WRONG)
    title = f"examples by predicted class (rows) · framed: wrong, true label shown · {len(wrong)} of {shown}"
    return _canvas.titled_figure(canvas, title, TITLE_PT)


def _ranking_canvas(
    imgs: np.ndarray, order: np.ndarray, band: int, scale: int
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The ranking grid's canvas, and ``(pitch_y, pitch_x, tile)`` in pixels."""
    k = len(order)
    h, w = imgs.shape[1:3]
    cells = _as_uint8(imgs[order.reshape(-1)])
    big = _pixels.upscale(grid(cells, cols=k, gap=(0, 0), fill=_fig.GAP_RGB), scale)
    th, tw = h * scale, w * scale
    gx = max(4, tw // 8)
    canvas = _pixels.blank(k * (th + band) + 6, k * (tw + gx) + 10)
    for i in range(k):
        for c in range(k):
            tile = big[i * th : (i + 1) * th, c * tw : (c + 1) * tw]
            _pixels.paste(canvas, tile, 6 + c * (tw + gx), i * (th + band) + band)
    return canvas, (th + band, tw + gx, tw)


def ranking_order(distance: Any) -> np.ndarray:
    """Row i of seed 001's grid: class i, then the others from nearest to farthest (ties in
    class order).

    Example:
        >>> ranking_order(np.array([[0, 3, 1], [3, 0, 2], [1, 2, 0]])).tolist()
        [[0, 2, 1], [1, 2, 0], [2, 0, 1]]
    """
    d = _square(distance, "distance")
    order = np.empty(d.shape, np.int64)
    for i in range(len(d)):
        order[i] = [i] + [j for j in np.argsort(d[i], kind="stable") if j != i]
    return order


def class_ranking(
    distance: Any,
    examples: Any,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    unit: str = "distance",
) -> Figure:
    """Seed 001's ranking grid: each row a query class, then the others by increasing distance.

    Args:
        distance: ``(K, K)`` class-to-class distances (any metric; smaller is closer).
        examples: one image per class, ``(K, C, H, W)``, ``(K, H, W, C)`` or ``(K, H, W)``.
        class_names: K names, shown with the distance above each example.
        unit: what the distances are, for the title.

    Example:
        >>> d = np.abs(np.subtract.outer(np.arange(4.0), np.arange(4.0)))
        >>> fig = class_ranking(d, np.random.rand(4, 28, 28), ["a", "b", "c", "d"])
        >>> fig.texts[0].get_text()
        'classes ranked by distance (left: query, then nearest → farthest)'
    """
    d = _square(distance, "distance")
    k = d.shape[0]
    imgs = images_nhwc(examples, "examples")
    if len(imgs) != k:
        raise ShapeError(f"examples: expected one image per class ({k}), got {len(imgs)}")
    names = _names(class_names, k)
    order = ranking_order(d)
    scale = max(1, min(3, int(round(880 / (k * imgs.shape[2] * 1.15)))))
    size = int(np.clip(imgs.shape[2] * scale / 6, 10, 12))
    band = 2 * _pixels.text_size("0", size)[1] + 4
    canvas, (py, px, tile) = _ranking_canvas(imgs, order, band, scale)
    canvas = _stack(canvas)
    for i in range(k):
        for c in range(k):
            j = order[i, c]
            x, y = 6 + c * px + tile / 2, TITLE_PX + i * py + 1
            color = _pixels.INK if c else _pixels.rgba(_fig.OKABE_ITO[0])
            _pixels.draw_text(canvas, x, y, _pixels.fit_text(names[j], size, px - 4, c == 0), size,
                              color, align="center", bold=c == 0)  # fmt: skip
            second = "query" if c == 0 else f"{d[i, j]:.3f}"
            _pixels.draw_text(
                canvas, x, y + band / 2 - 1, second, size, color, align="center", bold=c == 0
            )
    title = title or f"classes ranked by {unit} (left: query, then nearest → farthest)"
    return _canvas.titled_figure(canvas, title, TITLE_PT)


def _stack(canvas: np.ndarray) -> np.ndarray:
    """``canvas`` under a white title band."""
    return np.concatenate([_pixels.blank(TITLE_PX, canvas.shape[1]), canvas])


def examples_row(
    images: Any, class_names: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """Seed 001's opening row: one example image per class, named.

    Args:
        images: one image per class, ``(K, C, H, W)``, ``(K, H, W, C)`` or ``(K, H, W)``.
        class_names: K names (default ``0..K-1``).

    Example:
        >>> fig = examples_row(np.random.rand(3, 1, 28, 28), ["cat", "dog", "bird"])
        >>> fig.texts[0].get_text()
        'one example per class (3 classes)'
    """
    imgs = images_nhwc(images, "images")
    k, h, w = imgs.shape[:3]
    names = _names(class_names, k)
    scale = max(1, min(4, int(round(900 / (k * w * 1.12)))))
    gap = max(4, w * scale // 8)
    row = _pixels.upscale(grid(_as_uint8(imgs), cols=k, gap=0), scale)
    th, tw = h * scale, w * scale
    size = int(np.clip(tw / 6, 10, 13))
    canvas = _pixels.blank(TITLE_PX + th + _pixels.text_size("0", size)[1] + 8, k * (tw + gap) + 12)
    for c in range(k):
        x = 6 + c * (tw + gap)
        _pixels.paste(canvas, row[:, c * tw : (c + 1) * tw], x, TITLE_PX)
        text = _pixels.fit_text(names[c], size, tw + gap - 2)
        _pixels.draw_text(canvas, x + tw / 2, TITLE_PX + th + 4, text, size, align="center")
    return _canvas.titled_figure(canvas, title or f"one example per class ({k} classes)", TITLE_PT)
