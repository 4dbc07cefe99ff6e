"""Figures over the input image: heat-map overlays (seed 000) and a map pair that explains
the multiply metric."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConvscopeError, ShapeError
from ..validation import check_real
from . import _canvas, _fig, _pixels
from ._layout import Legend, check_highlight, choose_scale, marked_channels, tiled_figure
from ._tiles import as_array, image_hwc, maps_chw, resize_bilinear, to_unit

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

_MAX_OVERLAY_PX = 1 << 24
"""Overlay grids are capped at about this many pixels; larger inputs are shown scaled down."""
OVERLAY_NORMS = ("layer", "map")


def _blend(base: np.ndarray, unit: np.ndarray, alpha: float, cmap: Any) -> np.ndarray:
    """Blend colour-mapped ``unit`` (K, H, W) over ``base`` (H, W, 3) floats -> uint8 (K, H, W, 4)."""
    heat = _fig.get_cmap(cmap)(np.clip(unit, 0.0, 1.0))[..., :3].astype(np.float32)
    out = np.empty(unit.shape + (4,), np.uint8)
    out[..., :3] = np.clip(((1.0 - alpha) * base[None] + alpha * heat) * 255.0 + 0.5, 0, 255)
    out[..., 3] = 255
    return out


def _check_alpha(alpha: float) -> float:
    return check_real(alpha, "alpha", minimum=0.0, maximum=1.0)


def _check_norm(norm: str | None) -> str:
    if norm not in OVERLAY_NORMS:
        raise ConvscopeError(
            f"norm must be 'layer' (one scale for all maps) or 'map' (each map its own); got {norm!r}"
        )
    return str(norm)


def overlay_image(
    image: Any,
    map: Any,
    alpha: float = 0.5,
    cmap: Any = _fig.HEAT_CMAP,
    norm: str | None = "map",
    vmax: float | None = None,
) -> np.ndarray:
    """One map upsampled bilinearly to the image size and blended over it.

    Args:
        image: gray or RGB, ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)``.
        map: ``(h, w)`` feature map (any size).
        alpha: heat-map opacity in [0, 1].
        norm: ``"map"`` (its own min-max) or ``"none"`` with ``vmax``: values from 0 to
            ``vmax`` (e.g. the layer's maximum, so maps compare).
        vmax: the value drawn brightest with ``norm="none"``.

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
    if vmax is not None:
        unit = np.clip(m[None] / max(float(vmax), 1e-12), 0.0, 1.0).astype(np.float32)
    else:
        unit = to_unit(m[None], norm)
    up = resize_bilinear(unit, base.shape[:2])
    return _blend(base, up, _check_alpha(alpha), cmap)[0, ..., :3]


def overlay_panels(
    image: Any,
    maps: Any,
    *,
    alpha: float = 0.5,
    cmap: Any = _fig.HEAT_CMAP,
    norm: str = "layer",
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Each map of ``(C, h, w)`` upsampled to ``size`` (default the image's) and blended
    over the image: uint8 RGBA ``(C, H, W, 4)``, one colour scale for all (``"layer"``) or
    one per map (``"map"``). Very large panels are scaled down to about 16 M pixels in all.

    Example:
        >>> maps = np.stack([np.full((4, 4), 0.1), np.full((4, 4), 1.0)])
        >>> p = overlay_panels(np.zeros((8, 8)), maps, alpha=1.0, cmap="gray")
        >>> int(p[0, 0, 0, 0]), int(p[1, 0, 0, 0])  # one scale: the weak map stays dark
        (0, 255)
    """
    base = image_hwc(image)
    chw = maps_chw(maps)
    hh, ww = size if size is not None else base.shape[:2]
    if len(chw) * hh * ww > _MAX_OVERLAY_PX:
        f = np.sqrt(_MAX_OVERLAY_PX / (len(chw) * hh * ww))
        hh, ww = max(1, int(hh * f)), max(1, int(ww * f))
    if (hh, ww) != base.shape[:2]:
        base = np.clip(resize_bilinear(base.transpose(2, 0, 1), (hh, ww)), 0, 1).transpose(1, 2, 0)
    unit = to_unit(chw, _check_norm(norm))
    return _blend(
        base, np.clip(resize_bilinear(unit, (hh, ww)), 0.0, 1.0), _check_alpha(alpha), cmap
    )


def overlay(
    image: Any,
    maps: Any,
    alpha: float = 0.5,
    cmap: Any = _fig.HEAT_CMAP,
    cols: int | None = 8,
    image_index: int = 0,
    labels: bool | str = True,
    norm: str | None = "layer",
    title: str | None = None,
    highlight: Iterable[int] | None = None,
    inactive: str | Iterable[int] | None = "auto",
) -> Figure:
    """Every map upsampled to the input size and blended over it (seed 000's 8x8 heat maps).

    One colour scale for the whole layer by default, as keract (which seed 000 used)
    scales: a near-silent map stays dark beside the dominant one. The legend gives the
    scale in the layer's activation units; ``norm="map"`` scales each map on its own.

    Args:
        image: the input, gray or RGB, ``(H, W)``, ``(C, H, W)``, ``(H, W, C)`` or a batch
            (``image_index`` picks one).
        maps: ``(C, h, w)`` or ``(N, C, h, w)`` maps of that input.
        alpha: heat-map opacity in [0, 1].
        cmap: a perceptual colour map (default inferno: black is silent).
        norm: ``"layer"`` (default) or ``"map"``.
        highlight: channels to frame; ``inactive``: maps to hatch (``"auto"``: flat ones).

    Returns:
        A figure with one panel per map (one tiled image).

    Example:
        >>> fig = overlay(np.random.rand(1, 28, 28), np.random.rand(64, 11, 11))
        >>> fig.texts[0].get_text()
        '64 maps over the input · one colour scale for the layer'
    """
    alpha, norm = _check_alpha(alpha), _check_norm(norm)
    img_arr = as_array(image, "image")
    base = image_hwc(img_arr, image_index=image_index if img_arr.ndim == 4 else 0)
    chw = maps_chw(maps, image_index)
    count = chw.shape[0]
    hh, ww = base.shape[:2]
    k = choose_scale(min(count, cols or count) * ww, hh, None)
    panels = overlay_panels(base, chw, alpha=alpha, cmap=cmap, norm=norm, size=(hh * k, ww * k))
    hh, ww = panels.shape[1:3]
    marked = marked_channels(inactive, chw)
    if marked:
        panels[marked] = _pixels.hatch(hh, ww)
    legend = None
    if norm == "layer":
        legend = Legend(cmap, _pixels.fmt_number(chw.min()), _pixels.fmt_number(chw.max()))
    if title is None:
        scale = "one colour scale for the layer" if norm == "layer" else "each map on its own scale"
        title = f"{count} maps over the input · {scale}" + (
            f" · hatched: {len(marked)} flat" if marked else ""
        )
    return tiled_figure(
        panels, cols=cols, gap=max(1, min(hh, ww) // 28), title=title,
        labels=labels is not False and labels is not None, legend=legend,
        highlight=check_highlight(highlight, count), width=None,
    )  # fmt: skip


def _pair_maps(map_i: Any, map_j: Any) -> tuple[np.ndarray, np.ndarray]:
    mi, mj = as_array(map_i, "map_i"), as_array(map_j, "map_j")
    mi = mi[0] if mi.ndim == 3 and mi.shape[0] == 1 else mi
    mj = mj[0] if mj.ndim == 3 and mj.shape[0] == 1 else mj
    if mi.ndim != 2 or mi.shape != mj.shape or min(mi.shape) == 0:
        raise ShapeError(
            f"map_i and map_j must be two (H, W) maps of one shape; got {mi.shape} and {mj.shape}"
        )
    return mi.astype(np.float64), mj.astype(np.float64)


def multiply_parts(map_i: Any, map_j: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seed 000's ``similarity_multiply`` in its parts: the normalised maps, their product,
    and the mask of cells it counts (``product > mean(product)``).

    Example:
        >>> a = np.array([[0.0, 1.0], [0.0, 1.0]]); b = np.array([[0.0, 1.0], [1.0, 1.0]])
        >>> norm, product, mask = multiply_parts(a, b)
        >>> float(mask.mean())  # the metric's value for this pair
        0.5
    """
    mi, mj = _pair_maps(map_i, map_j)
    norm = []
    for m in (mi, mj):
        base = m.max() - m.min()
        norm.append((m - m.min()) / (base if base != 0 else 0.0001))
    product = norm[0] * norm[1]
    return np.stack(norm), product, product > product.mean()


def _pair_panels(
    base: np.ndarray, norm: np.ndarray, product: np.ndarray, mask: np.ndarray, cmap: Any, px: int
) -> list[np.ndarray]:
    """Five RGBA panels ``px`` tall: input, map i, map j, the counted mask, the product."""
    h, w = norm.shape[1:]
    k = max(1, px // max(h, w))
    pic = np.clip(resize_bilinear(base.transpose(2, 0, 1), (h * k, w * k)), 0, 1)
    pic = np.clip(pic.transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
    pic = np.concatenate([pic, np.full(pic.shape[:2] + (1,), 255, np.uint8)], axis=2)
    maps = [_pixels.upscale(_fig.colorize(n, _fig.MAPS_CMAP, rgba=True), k) for n in norm]
    counted = np.where(mask[..., None], _pixels.rgba(_fig.OKABE_ITO[1]), (40, 40, 40, 255))
    top = max(float(product.max()), 1e-12)
    prod = _fig.colorize(product / top, cmap, rgba=True)
    return [pic, *maps, _pixels.upscale(counted.astype(np.uint8), k), _pixels.upscale(prod, k)]


def pair(
    image: Any,
    map_i: Any,
    map_j: Any,
    similarity: float | None = None,
    names: Sequence[str] = ("i", "j"),
    alpha: float = 0.5,
    cmap: Any = "magma",
    *,
    layer: str | None = None,
    image_label: str | None = None,
    metric: str = "multiply",
    rank: tuple[int, int] | None = None,
) -> Figure:
    """A map pair and what the multiply metric counts (seed 000's pair figure, explained).

    Five panels: the input; map i and map j, each min-max normalised as the metric does
    (cells at the maps' own resolution); the mask of cells the metric counts
    (``norm_i · norm_j > mean``), with its fraction, which *is* the multiply
    similarity; and the product on its own colour scale (0 to its maximum, in the legend),
    so a weak product is not a black square.

    Args:
        image: the input, gray or RGB.
        map_i, map_j: two ``(h, w)`` maps of the same shape.
        similarity: the pair's similarity (printed in the title; ``None``: the mask's
            fraction for ``multiply``).
        names: what to call the two maps, e.g. ``("#3", "#17")``.
        alpha: unused (kept for calls written for the older overlay pair).
        cmap: colour map of the product.
        layer, image_label: named in the title ("conv2d_1 · image 7").
        metric: the similarity metric the pair was picked with (the mask is the multiply
            metric's; other metrics show it for reference).
        rank: ``(r, n)``: the pair's rank among ``n`` pairs by similarity (1 = most similar).

    Example:
        >>> fig = pair(np.random.rand(28, 28), np.random.rand(11, 11), np.zeros((11, 11)),
        ...            similarity=0.0, names=("#3", "#17"), layer="conv2d_1", rank=(1, 496))
        >>> fig.texts[0].get_text()
        'conv2d_1 · multiply similarity 0.00 · top 1 of 496 pairs'
    """
    _check_alpha(alpha)
    if len(names) != 2:
        raise ConvscopeError(f"names: expected two names, got {names!r}")
    base = image_hwc(image)
    norm, product, mask = multiply_parts(map_i, map_j)
    panels = _pair_panels(base, norm, product, mask, cmap, 150)
    ph, pw = panels[0].shape[:2]
    gap, head, foot = 12, 48, 40
    canvas = _pixels.blank(head + ph + foot, 5 * pw + 4 * gap + 16)
    for k, panel in enumerate(panels):
        _pixels.paste(canvas, panel, 8 + k * (pw + gap), head)
    fraction = float(mask.mean())
    value = fraction if similarity is None else float(similarity)
    x0, y0 = 8 + 4 * (pw + gap), head + ph + 8
    _pixels.draw_text(canvas, x0, y0 - 2, "0", 11)
    _pixels.paste(canvas, _pixels.color_strip(cmap, max(pw - 64, 16), 10), x0 + 12, y0)
    _pixels.draw_text(canvas, x0 + pw, y0 - 2, _pixels.fmt_number(product.max()), 11, align="right")
    n_i, n_j = (str(x) for x in names)
    counted = int(mask.sum())
    titles = ["input", f"map {n_i} (min-max)", f"map {n_j} (min-max)",
              f"counted: {counted}/{mask.size} = {fraction:.2f}", f"{n_i} × {n_j}, own scale"]  # fmt: skip
    for k, text in enumerate(titles):
        _pixels.draw_text(
            canvas, 8 + k * (pw + gap), head - 17, _pixels.fit_text(text, 12, pw + gap - 2), 12
        )
    note = "orange: the cells where norm_i·norm_j > its mean (what multiply counts)"
    _pixels.draw_text(canvas, 8, head + ph + 8, note, 11, (80, 80, 80, 255))
    parts = [p for p in (layer, image_label) if p] + [f"{metric} similarity {value:.2f}"]
    if rank is not None:
        r, n = (int(v) for v in rank)
        parts.append(f"top {r} of {n} pairs" if r <= n / 2 else f"bottom {n - r + 1} of {n} pairs")
    return _canvas.titled_figure(canvas, " · ".join(parts), 11)
