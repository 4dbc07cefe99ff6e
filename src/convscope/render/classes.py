"""Class- and channel-level figures: confusion matrix, prediction grid, class ranking, similarity matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._cluster import cluster_order as order_of_distances
from ..errors import ConvscopeError, ShapeError
from ..validation import as_labels, check_int
from . import _fig
from ._tiles import as_array, finite, grid, images_nhwc, shorten

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def _square(m: Any, name: str) -> np.ndarray:
    arr = as_array(m, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ShapeError(f"{name}: expected a square (K, K) matrix, got {arr.shape}")
    return finite(arr, name).astype(np.float64)


def _names(class_names: Sequence[str] | None, k: int, what: str = "class_names") -> list[str]:
    if class_names is None:
        return [str(i) for i in range(k)]
    names = [str(c) for c in class_names]
    if len(names) < k:
        raise ShapeError(f"{what}: {len(names)} names for {k} classes")
    return names


def _tick_step(k: int, axis_in: float, fontsize: float) -> int:
    return max(1, int(np.ceil(k * fontsize * 1.25 / 72.0 / max(axis_in, 1e-6))))


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
        class_names: K names (long ones are shortened and the x labels rotated).
        normalize: colour by the fraction of each true class (row-normalised).

    Example:
        >>> fig = confusion(np.array([[50, 2], [3, 45]]), ["cat", "dog"])
        >>> fig.axes[0].texts[0].get_text()
        '50'
    """
    m = _square(cm, "cm")
    k = m.shape[0]
    names = [shorten(n, 18) for n in _names(class_names, k)]
    if normalize:
        rows = m.sum(axis=1, keepdims=True)
        colours = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
        vmin, vmax, cbar = 0.0, 1.0, "fraction of true class"
    else:
        colours = m
        vmin, vmax, cbar = float(m.min()), float(max(m.max(), m.min() + 1e-12)), "count"
    side = float(np.clip(0.55 * k, 3.5, 14.0))
    longest = max(len(n) for n in names)
    margin = 0.4 + min(longest, 18) * 0.07
    fig = _fig.new_figure(side + margin + 1.4, side + margin + 0.6)
    fw, fh = fig.get_size_inches()
    ax = fig.add_axes((margin / fw, margin / fh, side / fw, side / fh))
    im = ax.imshow(colours, cmap=_fig.get_cmap(cmap), vmin=vmin, vmax=vmax, interpolation="nearest")
    cell_in = side / k
    size = _fig.font_for(cell_in, lo=4.0, hi=10.0, frac=0.3)
    step = _tick_step(k, side, size)
    ticks = np.arange(0, k, step)
    ax.set_xticks(
        ticks,
        [names[i] for i in ticks],
        rotation=45 if longest > 3 else 0,
        ha="right" if longest > 3 else "center",
        rotation_mode="anchor",
        fontsize=size,
    )
    ax.set_yticks(ticks, [names[i] for i in ticks], fontsize=size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        integral = np.all(m == np.round(m))
        lut = _fig.get_cmap(cmap)
        rgb = lut(np.clip((colours - vmin) / (vmax - vmin), 0, 1))[..., :3]
        lum = rgb @ np.array([0.299, 0.587, 0.114])
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    f"{int(m[i, j])}" if integral else f"{m[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if lum[i, j] < 0.5 else "black",
                )
    cax = fig.add_axes(((margin + side + 0.25) / fw, margin / fh, 0.18 / fw, side / fh))
    fig.colorbar(im, cax=cax, label=cbar)
    ax.set_title(title or "confusion matrix", fontsize=12)
    return fig


def predictions_grid(
    images: Any,
    predictions: Any,
    labels: Any,
    per_class: int = 10,
    class_names: Sequence[str] | None = None,
    num_classes: int | None = None,
) -> Figure:
    """Seed 002's grid of examples grouped by predicted class, one row per class.

    Misclassified examples get a red frame and their true label.

    Args:
        images: ``(N, C, H, W)``, ``(N, H, W, C)`` or ``(N, H, W)``.
        predictions: ``(N,)`` predicted classes (or one-hot rows); for scores pass
            ``scores.argmax(1)``.
        labels: ``(N,)`` true classes (or one-hot rows).
        per_class: examples per row.

    Example:
        >>> fig = predictions_grid(np.random.rand(40, 1, 28, 28), np.arange(40) % 4,
        ...                        (np.arange(40) + (np.arange(40) % 7 == 0)) % 4, per_class=5)
        >>> len(fig.axes[0].get_yticks())
        4
    """
    imgs = images_nhwc(images, "images")
    n, h, w = imgs.shape[:3]
    p = as_labels(predictions, n=n, name="predictions")
    y = as_labels(labels, n=n, name="labels")
    per_class = check_int(per_class, "per_class", minimum=1)
    k = num_classes or (
        len(class_names) if class_names is not None else int(max(p.max(), y.max())) + 1
    )
    top = int(max(p.max(), y.max())) if n else -1
    if top >= k or (n and int(min(p.min(), y.min())) < 0):
        raise ShapeError(
            f"predictions and labels must be class indices 0..{k - 1} for {k} classes; "
            f"got values from {int(min(p.min(), y.min()))} to {top}. Pass class_names (or "
            "num_classes) covering every class."
        )
    names = _names(class_names, k)
    cells = np.empty((k * per_class, h, w, 3), np.uint8)
    cells[...] = _fig.EMPTY_RGB
    wrong: list[tuple[int, int]] = []
    for c in range(k):
        idx = np.flatnonzero(p == c)[:per_class]
        cells[c * per_class : c * per_class + len(idx)] = np.clip(
            imgs[idx] * 255 + 0.5, 0, 255
        ).astype(np.uint8)
        wrong += [(c * per_class + t, int(y[i])) for t, i in enumerate(idx) if y[i] != c]
    gap = max(1, min(h, w) // 8)
    img = grid(cells, cols=per_class, gap=gap, fill=_fig.GAP_RGB)
    width = float(np.clip(per_class * 0.9, 4.0, 12.0))
    left = 0.3 + min(max(len(n_) for n_ in names), 16) * 0.075
    fw, fh, img_in = _fig.fit_size(
        img.shape[1], img.shape[0], width + left, extra_h=0.6, extra_w=left + 0.1
    )
    fig = _fig.new_figure(fw, fh)
    img_h_in = img_in * img.shape[0] / img.shape[1]
    ax = _fig.image_axes(fig, left, 0.1, img_in, img_h_in)
    _fig.show_image(ax, img, interpolation="antialiased")
    ax.set_axis_on()
    for spine in ax.spines.values():
        spine.set_visible(False)
    tile_in = img_in * w / img.shape[1]
    size = _fig.font_for(tile_in, lo=5.0, hi=9.0, frac=0.22)
    ax.set_xticks([])
    step = _tick_step(k, img_h_in, size)
    ticks = np.arange(0, k, step)
    ax.set_yticks(
        [c * (h + gap) + (h - 1) / 2 for c in ticks], [shorten(names[c], 16) for c in ticks]
    )
    ax.tick_params(length=0, labelsize=size)
    ax.set_ylabel("predicted class", fontsize=9)
    lw = float(np.clip(tile_in * 3, 1.0, 2.5))
    rects = []
    tsize = _fig.font_for(tile_in, lo=4.0, hi=8.0, frac=0.16)
    maxc = _fig.chars_for(tile_in, tsize)
    for cell, true in wrong:
        r, c = divmod(cell, per_class)
        x0, y0 = c * (w + gap) - 0.5, r * (h + gap) - 0.5
        rects.append((x0, y0, w, h))
        ax.text(
            x0 + w / 2,
            y0 + h - 0.03 * h,
            shorten(names[true], maxc),
            ha="center",
            va="bottom",
            fontsize=tsize,
            color="white",
            bbox={"boxstyle": "square,pad=0.1", "facecolor": _fig.WRONG, "edgecolor": "none"},
        )
    _fig.frames(ax, rects, linewidth=lw)
    fig.text(
        0.5,
        1 - 0.08 / fh,
        f"examples by predicted class  ·  red: wrong (true label shown), {len(wrong)} of {sum(min(per_class, int((p == c).sum())) for c in range(k))}",
        ha="center",
        va="top",
        fontsize=10,
    )
    return fig


def class_ranking(
    distance: Any,
    examples: Any,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Seed 001's ranking grid: each row a query class, then the others by increasing distance.

    Args:
        distance: ``(K, K)`` class-to-class distances (any metric; smaller is closer).
        examples: one image per class, ``(K, C, H, W)``, ``(K, H, W, C)`` or ``(K, H, W)``.
        class_names: K names, shown with the distance above each example.

    Example:
        >>> d = np.abs(np.subtract.outer(np.arange(4.0), np.arange(4.0)))
        >>> fig = class_ranking(d, np.random.rand(4, 28, 28), ["a", "b", "c", "d"])
        >>> fig.axes[0].texts[1].get_text()
        'b\\n1.000'
    """
    d = _square(distance, "distance")
    k = d.shape[0]
    imgs = images_nhwc(examples, "examples")
    if len(imgs) != k:
        raise ShapeError(f"examples: expected one image per class ({k}), got {len(imgs)}")
    names = _names(class_names, k)
    h, w = imgs.shape[1:3]
    order = np.empty((k, k), np.int64)
    for i in range(k):
        others = [j for j in np.argsort(d[i], kind="stable") if j != i]
        order[i] = [i] + others
    cells = np.clip(imgs[order.reshape(-1)] * 255 + 0.5, 0, 255).astype(np.uint8)
    band = max(2, int(round(h * 0.42)))
    gx = max(1, w // 10)
    img = grid(cells, cols=k, gap=(band, gx), fill=_fig.GAP_RGB)
    width = float(np.clip(k * 1.0, 3.0, 14.0))
    left = 0.3 + min(max(len(n) for n in names), 14) * 0.075
    img_h = img.shape[0] + band
    fw, fh, img_in = _fig.fit_size(
        img.shape[1], img_h, width + left, extra_h=0.55, extra_w=left + 0.1
    )
    fig = _fig.new_figure(fw, fh)
    img_h_in = img_in * img_h / img.shape[1]
    ax = _fig.image_axes(fig, left, 0.1, img_in, img_h_in)
    _fig.show_image(ax, img, interpolation="antialiased")
    ax.set_ylim(img.shape[0] - 0.5, -band - 0.5)
    ax.set_xlim(-0.5, img.shape[1] - 0.5)
    tile_in = img_in * w / img.shape[1]
    size = _fig.font_for(tile_in, lo=4.0, hi=8.0, frac=0.14)
    maxc = _fig.chars_for(tile_in, size)
    for i in range(k):
        for c in range(k):
            j = order[i, c]
            label = shorten(names[j], maxc) + ("\nquery" if c == 0 else f"\n{d[i, j]:.3f}")
            ax.text(
                c * (w + gx) + (w - 1) / 2,
                i * (h + band) - 0.5 - band / 2,
                label,
                ha="center",
                va="center",
                fontsize=size,
                linespacing=1.0,
                color="black" if c else "#1f4e9e",
                fontweight="bold" if c == 0 else "normal",
            )
    fig.text(
        0.5,
        1 - 0.06 / fh,
        title or "classes ranked by distance (left: query, then nearest → farthest)",
        ha="center",
        va="top",
        fontsize=10,
    )
    return fig


def cluster_order(S: Any, method: str = "average") -> np.ndarray:
    """Channel order from hierarchical clustering of a similarity matrix (similar ones adjacent).

    Distances are ``max(S) - S`` (symmetrised, zero diagonal), clustered with scipy.

    Example:
        >>> S = np.eye(4); S[0, 3] = S[3, 0] = 0.9
        >>> o = cluster_order(S).tolist()
        >>> abs(o.index(0) - o.index(3))
        1
    """
    s = _square(S, "S")
    s = (s + s.T) / 2
    return np.asarray(order_of_distances(s.max() - s, method=method), dtype=np.int64)


def similarity_matrix(
    S: Any,
    order: str | Sequence[int] | None = "cluster",
    labels: Sequence[str] | None = None,
    groups: Any = None,
    cmap: Any = "viridis",
    title: str | None = None,
) -> Figure:
    """The ``C x C`` channel similarity matrix, optionally reordered so redundant groups sit together.

    Args:
        S: ``(C, C)`` similarities (e.g. ``convscope.metrics.similarity.pairwise``).
        order: ``"cluster"`` (hierarchical clustering), ``None`` (as given) or an explicit order.
        labels: C tick labels (default: the original channel numbers).
        groups: redundant groups to frame: a list of channel lists, or a length-C array of
            group ids (-1 for none). Contiguous groups get a red frame.

    Example:
        >>> S = np.random.rand(16, 16); S = (S + S.T) / 2
        >>> fig = similarity_matrix(S, groups=[[2, 5, 9]])
        >>> fig.axes[0].images[0].get_array().shape
        (16, 16)
    """
    s = _square(S, "S")
    c = s.shape[0]
    if isinstance(order, str):
        if order != "cluster":
            raise ConvscopeError(
                f"order must be 'cluster', None or a list of indices; got {order!r}"
            )
        idx = cluster_order(s)
    elif order is None:
        idx = np.arange(c)
    else:
        idx = np.asarray(order, dtype=np.int64)
        if sorted(idx.tolist()) != list(range(c)):
            raise ShapeError(f"order: expected a permutation of 0..{c - 1}")
    names = [str(i) for i in range(c)] if labels is None else _names(labels, c, "labels")
    side = float(np.clip(0.25 * c, 4.0, 11.0))
    fig = _fig.new_figure(side + 1.9, side + 1.3)
    fw, fh = fig.get_size_inches()
    ax = fig.add_axes((0.75 / fw, 0.65 / fh, side / fw, side / fh))
    shown = s[np.ix_(idx, idx)]
    im = ax.imshow(shown, cmap=_fig.get_cmap(cmap), interpolation="nearest")
    size = _fig.font_for(side / c, lo=5.0, hi=9.0, frac=0.6)
    step = _tick_step(c, side, size)
    ticks = np.arange(0, c, step)
    tick_labels = [shorten(names[idx[t]], 8) for t in ticks]
    ax.set_xticks(ticks, tick_labels, rotation=90, fontsize=size)
    ax.set_yticks(ticks, tick_labels, fontsize=size)
    ax.tick_params(length=2, pad=1)
    if groups is not None:
        pos = np.empty(c, np.int64)
        pos[idx] = np.arange(c)
        g = groups
        if (
            isinstance(g, np.ndarray)
            and g.ndim == 1
            and len(g) == c
            and np.issubdtype(g.dtype, np.integer)
        ):
            g = [np.flatnonzero(g == v).tolist() for v in np.unique(g) if v >= 0]
        rects = []
        for members in g:
            p = np.sort(pos[np.asarray(list(members), dtype=np.int64)])
            if len(p) and p[-1] - p[0] + 1 == len(p):
                rects.append((p[0] - 0.5, p[0] - 0.5, len(p), len(p)))
        _fig.frames(ax, rects, color="red", linewidth=1.5)
    cax = fig.add_axes(((0.75 + side + 0.2) / fw, 0.65 / fh, 0.18 / fw, side / fh))
    fig.colorbar(im, cax=cax)
    cax.tick_params(labelsize=8)
    ax.set_title(
        title
        or f"channel similarity ({c} channels{', clustered' if isinstance(order, str) else ''})",
        fontsize=11,
    )
    return fig
