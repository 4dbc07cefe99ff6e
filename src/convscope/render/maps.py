"""Feature-map figures: mosaic, belts, per-sample grids, overlays, map pairs, kernels."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConvscopeError, ShapeError
from . import _fig
from ._tiles import (
    as_array,
    finite,
    grid,
    grid_shape,
    image_hwc,
    images_nhwc,
    maps_chw,
    normalize,
    resize_bilinear,
    shorten,
    to_unit,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Overlay grids are capped at about this many pixels; larger inputs are shown scaled down.
_MAX_OVERLAY_PX = 1 << 24


def _tiled_rgb(
    chw: np.ndarray, cols: int | None, norm: str | None, cmap: Any, gap: int
) -> tuple[np.ndarray, int, int]:
    """Normalise, colour and tile ``(C, H, W)`` maps; returns ``(rgb, rows, cols)``."""
    rows, cols = grid_shape(chw.shape[0], cols)
    rgba = _fig.colorize(to_unit(chw, norm), cmap, rgba=True)
    return grid(rgba, cols=cols, gap=gap, fill=_fig.GAP_RGBA), rows, cols


def _label_channels(
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


def _label_mode(labels: bool | str, count: int, tile_in: float) -> str | None:
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
    img, rows, cols = _tiled_rgb(chw, cols, norm, cmap, gap)
    img_h, img_w = img.shape[:2]
    if width is None:
        # many small tiles: a smaller figure (3x pixel scale for 256 maps of 13x13) reads
        # as well and draws and encodes in about half the time
        per_col = 0.75 if count <= 64 else 0.45
        width = _fig.pixel_width(img_w, float(np.clip(cols * per_col, 3.0, 9.0)))
    tile_in_guess = width / cols
    mode = _label_mode(labels, count, tile_in_guess)
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
        _label_channels(ax, img, count, rows, cols, (h, w), (gap, gap), tile_in, img_h_in, mode)
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
        img, _, _ = _tiled_rgb(chw, max_per_row, norm, cmap, gap)
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
        labels: ``(N,)`` true class indices (or one-hot).
        predictions: ``(N,)`` predicted class indices, scores or ``None``.
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
    y = _fig.check_int_labels(labels, "labels", n)
    p = None if predictions is None else _fig.check_int_labels(predictions, "predictions", n)
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
    mode = _label_mode(True, count, tile_in)
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
        img, _, _ = _tiled_rgb(chw, cols, norm, cmap, gap)
        ax = _fig.image_axes(fig, img_col + left_lab, top - title_h - block, maps_w, block)
        _fig.show_image(ax, img)
        if mode:
            _label_channels(
                ax, img, count, rows, cols, (h, w), (gap, gap), tile_in, block, mode, prefix="#"
            )
    return fig


def _blend(base: np.ndarray, unit: np.ndarray, alpha: float, cmap: Any) -> np.ndarray:
    """Blend colour-mapped ``unit`` (K, H, W) over ``base`` (H, W, 3) floats -> uint8 (K, H, W, 3)."""
    heat = _fig.get_cmap(cmap)(np.clip(unit, 0.0, 1.0))[..., :3].astype(np.float32)
    out = (1.0 - alpha) * base[None] + alpha * heat
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ConvscopeError(f"alpha must be in [0, 1], got {alpha}")
    return alpha


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
    mode = _label_mode(labels, count, width / cols)
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
        _label_channels(ax, img, count, rows, cols, (hh, ww), (gap, gap), tile_in, img_h_in, mode)
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
    import numpy.ma as ma

    w = as_array(weights, "weights")
    if w.ndim == 2:
        w = w[None, None]
    elif w.ndim == 3:
        w = w[:, None]
    if w.ndim != 4 or min(w.shape) == 0:
        raise ShapeError(f"weights: expected torch layout (out, in, kh, kw), got {w.shape}")
    out_c, in_c, kh, kw = w.shape
    if not -in_c <= in_channel < in_c:
        raise ShapeError(
            f"in_channel {in_channel} out of range: weights {w.shape} have {in_c} input channels"
        )
    if int(max_kernels) < 1:
        raise ConvscopeError(f"max_kernels must be >= 1, got {max_kernels}")
    count = min(out_c, int(max_kernels))
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
