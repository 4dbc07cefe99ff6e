"""Feature-map figures: mosaic, belts, per-sample grids (overlays and kernels live apart).

Each figure is one image at the maps' own resolution (upscaled by a whole factor when
small), drawn once: see :mod:`convscope.render._layout`. Flat maps (one value in every
cell: nothing to show, e.g. a dead channel) are hatched rather than drawn as a
misleading uniform colour.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConvscopeError, ShapeError
from ..validation import as_labels, check_int
from . import _canvas, _fig, _pixels
from ._layout import (
    TITLE_PT,
    TITLE_PX,
    Legend,
    channel_labels,
    check_highlight,
    choose_scale,
    hatch_cells,
    label_margins,
    legend_band,
    legend_height,
    marked_channels,
    tiled_figure,
)
from ._tiles import as_array, grid, grid_shape, images_nhwc, maps_chw, shorten, to_unit

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

SCALE_WORDS = {
    "map": "each map on its own scale",
    "layer": "one colour scale for the layer",
    "standardize": "standardised per map (seed 004)",
    "none": "raw values, 0 to 1",
}


def scale_legend(chw: np.ndarray, norm: str | None, cmap: Any) -> Legend | None:
    """The colour legend of a normalisation (``None`` for per-map scales: the title says it)."""
    norm = norm or "none"
    if norm == "layer":
        return Legend(cmap, _pixels.fmt_number(chw.min()), _pixels.fmt_number(chw.max()))
    if norm == "none":
        return Legend(cmap, "0", "1")
    if norm == "standardize":
        return Legend(cmap, "\u22122", "+2")
    return None


def colored_tiles(chw: np.ndarray, norm: str | None, cmap: Any) -> np.ndarray:
    """Normalise and colour ``(C, H, W)`` maps to RGBA tiles."""
    return _fig.colorize(to_unit(chw, norm), cmap, rgba=True)


def tiled_block(
    chw: np.ndarray, norm: str | None, cmap: Any, cols: int, gap: int, k: int, marked: Sequence[int]
) -> np.ndarray:
    """``(C, H, W)`` maps as one RGBA grid upscaled by ``k``, the ``marked`` tiles hatched."""
    c, h, w = chw.shape
    _rows, cols = grid_shape(c, cols)
    img = _pixels.upscale(
        grid(colored_tiles(chw, norm, cmap), cols=cols, gap=gap, fill=_fig.GAP_RGBA), k
    )
    img = img.copy() if k == 1 else img
    return hatch_cells(img, marked, cols, ((h + gap) * k, (w + gap) * k), (h * k, w * k))


def block_size(shape: tuple[int, ...], cols: int, gap: int) -> tuple[int, int]:
    """``(height, width)`` in pixels of the grid of ``(C, H, W)`` maps at ``cols`` per row."""
    c, h, w = shape
    rows, cols = grid_shape(c, cols)
    return rows * (h + gap) - gap, cols * (w + gap) - gap


def _describe(count: int, h: int, w: int, norm: str | None, marked: Sequence[int]) -> str:
    text = f"{count} map{'s' if count != 1 else ''} {h}×{w} · {SCALE_WORDS[norm or 'none']}"
    return text + (f" · hatched: {len(marked)} flat" if marked else "")


def mosaic(
    maps: Any,
    cols: int | None = 8,
    norm: str | None = "map",
    cmap: Any = _fig.MAPS_CMAP,
    labels: bool | str = True,
    highlight: Iterable[int] | None = None,
    image_index: int = 0,
    title: str | None = None,
    gap: int = 1,
    width: float | None = None,
    inactive: str | Iterable[int] | None = "auto",
) -> Figure:
    """One layer's maps for one image as one tiled image (seed 002's 4x8 grid, seed 003's).

    Args:
        maps: ``(C, H, W)`` or ``(N, C, H, W)`` (``image_index`` picks the image); numpy or torch.
        cols: tiles per row (``None``: near-square).
        norm: ``"map"`` (per-map min-max, as ``imshow`` does for each subplot), ``"layer"``
            (one scale, with a colour legend) or ``"standardize"`` (seed 004).
        cmap: a perceptual matplotlib colour map (default viridis).
        labels: channel numbers in the margins (a tile's channel = its row label + its
            column label); ``False`` for none.
        highlight: channel indices to frame (vermillion with a white line).
        title: figure title (default: count, size, scale and flat maps).
        gap: pixels of white between tiles.
        width: about how wide the figure is, in inches at 100 dpi (default: small maps
            are upscaled by a whole factor towards 480 pixels).
        inactive: maps to hatch: ``"auto"`` (maps flat in this image), channel indices
            (e.g. the dead channels of a data set) or ``None``.

    Returns:
        A ``matplotlib.figure.Figure`` holding one image; saving it draws it once.

    Raises:
        ShapeError: ``maps`` is not 3-D/4-D or ``image_index`` is out of range.
        ConvscopeError: a ``highlight`` or ``inactive`` channel is out of range.

    Example:
        >>> fig = mosaic(np.random.rand(32, 26, 26), cols=8)
        >>> len(fig.images), fig.texts[0].get_text()
        (1, '32 maps 26×26 · each map on its own scale')
    """
    if labels not in (True, False, None, "tiles", "axes"):
        raise ConvscopeError(f"labels must be True, False, 'tiles' or 'axes', got {labels!r}")
    chw = maps_chw(maps, image_index)
    count, h, w = chw.shape
    marked = marked_channels(inactive, chw)
    return tiled_figure(
        colored_tiles(chw, norm, cmap),
        cols=cols,
        hatched=marked,
        gap=gap,
        title=title if title is not None else _describe(count, h, w, norm, marked),
        labels=bool(labels),
        legend=scale_legend(chw, norm, cmap),
        highlight=check_highlight(highlight, count),
        width=width,
    )


def _belt_layers(
    maps_by_layer: Mapping[str, Any], image_index: int, inactive: Any
) -> tuple[list[tuple[str, np.ndarray, list[int]]], list[str]]:
    """``(name, (C, H, W) maps, marked channels)`` of each 4-D layer, and the skipped names."""
    layers: list[tuple[str, np.ndarray, list[int]]] = []
    skipped: list[str] = []
    for name, arr in maps_by_layer.items():
        a = as_array(arr, str(name))
        if a.ndim != 4:
            skipped.append(str(name))
            continue
        chw = maps_chw(a, image_index, name=str(name))
        chosen = inactive.get(name, "auto") if isinstance(inactive, Mapping) else inactive
        layers.append((str(name), chw, marked_channels(chosen, chw, f"inactive[{name!r}]")))
    return layers, skipped


def belt(
    maps_by_layer: Mapping[str, Any],
    image_index: int = 0,
    norm: str | None = "standardize",
    cmap: Any = _fig.MAPS_CMAP,
    max_per_row: int = 16,
    gap: int = 1,
    width: float | None = None,
    inactive: str | Mapping[str, Iterable[int]] | None = "auto",
    max_maps: int | None = None,
) -> Figure:
    """Seed 004's image belts: one horizontal strip of maps per layer, top to bottom.

    Only 4-D ``(N, C, H, W)`` maps are drawn; other arrays (dense outputs) are skipped with a
    warning and named in the figure. Rows wrap after ``max_per_row`` maps; each strip is
    upscaled by a whole factor so the strips come out about equally wide, and titled
    with its layer's name and C×H×W.

    Args:
        maps_by_layer: ``{layer name: (N, C, H, W) maps}``, e.g. from ``convscope.capture``.
        image_index: which image of the batch.
        norm: ``"standardize"`` (seed 004, default), ``"map"`` or ``"layer"``.
        max_per_row: maps per strip row.
        width: about how wide, in inches at 100 dpi (default from the widest strip).
        inactive: maps to hatch: ``"auto"`` (flat in this image), ``{layer: channels}``
            or ``None``.
        max_maps: draw at most this many maps of a layer (its first ones), the strip's
            title saying how many of how many (default: all).

    Raises:
        ConvscopeError: no layer has 4-D maps.

    Example:
        >>> fig = belt({"conv2d": np.random.rand(1, 8, 26, 26), "dense": np.random.rand(1, 10)})
        >>> fig.texts[-1].get_text()
        'skipped (not 4-D maps): dense'
    """
    if not isinstance(maps_by_layer, Mapping) or not maps_by_layer:
        raise ConvscopeError("belt: expected a non-empty dict {layer name: (N, C, H, W) maps}")
    layers, skipped = _belt_layers(maps_by_layer, image_index, inactive)
    if skipped:
        warnings.warn(f"belt: skipped layers without 4-D maps: {', '.join(skipped)}", stacklevel=2)
    if not layers:
        raise ConvscopeError(
            f"belt: no 4-D (N, C, H, W) maps to draw; skipped: {', '.join(skipped)}"
        )
    total = {name: len(chw) for name, chw, _m in layers}
    if max_maps is not None:
        check_int(max_maps, "max_maps", minimum=1)
        layers = [(n, chw[:max_maps], [m for m in marked if m < max_maps])
                  for n, chw, marked in layers]  # fmt: skip
    sizes = [block_size(chw.shape, min(max_per_row, len(chw)), gap) for _n, chw, _m in layers]
    target = max(max(w for _h, w in sizes), 560) if width is None else width * _canvas.DPI
    strips = []
    for (name, chw, marked), (bh, bw) in zip(layers, sizes, strict=True):
        k = choose_scale(bw, bh, target / _canvas.DPI)
        img = tiled_block(chw, norm, cmap, min(max_per_row, len(chw)), gap, k, marked)
        c, h, w = chw.shape
        label = f"{name} · {total[name]}×{h}×{w}"
        label += f" · first {c} of {total[name]} maps" if c < total[name] else ""
        label += f" · hatched: {len(marked)} flat" if marked else ""
        strips.append((label, img))
    legend = scale_legend(np.zeros((1, 1, 1)), norm, cmap)
    band = legend_height(legend)
    label_h = 20
    fig_w = max(max(s.shape[1] for _, s in strips) + 16, 320)
    fig_h = (
        TITLE_PX + band + sum(label_h + s.shape[0] + 8 for _, s in strips) + (18 if skipped else 0)
    )
    canvas = _pixels.blank(fig_h, fig_w)
    if legend is not None:
        legend_band(canvas, legend, 8, TITLE_PX)
    y = TITLE_PX + band
    for label, img in strips:
        _pixels.draw_text(canvas, 8, y + 3, label, 12)
        _pixels.paste(canvas, img, 8, y + label_h)
        y += label_h + img.shape[0] + 8
    fig = _canvas.titled_figure(
        canvas, f"image {image_index} · {SCALE_WORDS[norm or 'none']}", TITLE_PT
    )
    if skipped:
        _canvas.text_px(fig, 8, fig_h - 16, f"skipped (not 4-D maps): {', '.join(skipped)}",
                        fontsize=8, va="top", color="0.35")  # fmt: skip
    return fig


def _sample_titles(
    y: np.ndarray, p: np.ndarray | None, class_names: Sequence[str] | None
) -> list[tuple[str, bool]]:
    out = []
    for i, true in enumerate(y):
        actual = shorten(_fig.class_name(int(true), class_names), 15)
        if p is None:
            out.append((f"actual: {actual}", False))
        else:
            pred = shorten(_fig.class_name(int(p[i]), class_names), 15)
            out.append((f"predict: {pred}\nactual: {actual}", bool(p[i] != true)))
    return out


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
    title: str | None = None,
    inactive: str | None = "auto",
) -> Figure:
    """Seed 003's ``plotOutputs``: each sample's picture, then its channel maps, one block per sample.

    The picture is titled ``predict: X / actual: Y`` (vermillion and bold when wrong;
    just ``actual: Y`` without predictions). Channel numbers are in the margins of each
    block (row label + column label).

    Args:
        images: ``(N, C, H, W)``, ``(N, H, W, C)`` or ``(N, H, W)`` inputs.
        maps: ``(N, C, h, w)`` one layer's maps for those inputs.
        labels: ``(N,)`` true class indices (or one-hot rows).
        predictions: ``(N,)`` predicted class indices (or one-hot rows), or ``None``; for
            scores pass ``scores.argmax(1)``.
        cols: maps per row inside a block.
        title: figure title (default: the maps' size and scale).
        inactive: ``"auto"`` hatches maps flat for that sample; ``None`` does not.

    Raises:
        ShapeError: counts of images, maps and labels differ.

    Example:
        >>> fig = samples_grid(np.random.rand(2, 3, 32, 32), np.random.rand(2, 16, 15, 15),
        ...                    [0, 1], predictions=[0, 2], class_names=["plane", "car", "bird"])
        >>> fig.texts[0].get_text()
        '16 maps 15×15 per sample · each map on its own scale'
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
    bh, bw = block_size((count, h, w), cols, gap)
    k = choose_scale(bw, bh * n, 3.8)
    blocks, marks = [], []
    for i in range(n):
        chw = maps_chw(m, i)
        marked = marked_channels(inactive, chw)
        marks.append(len(marked))
        blocks.append(tiled_block(chw, norm, cmap, cols, gap, k, marked))
    block_h, block_w = blocks[0].shape[:2]
    ls = _pixels.label_size((min(h, w) + gap) * k)
    left_lab, top_lab = label_margins(count, rows, cols, ls)
    pic_k = max(1, min(block_h, 150) // imgs.shape[1])
    pic_w = imgs.shape[2] * pic_k
    row_h = 34 + top_lab + max(block_h, imgs.shape[1] * pic_k) + 8
    fig_w = 8 + pic_w + 12 + left_lab + block_w + 8
    canvas = _pixels.blank(TITLE_PX + n * row_h, fig_w)
    x_maps = 8 + pic_w + 12 + left_lab
    for i in range(n):
        top = TITLE_PX + i * row_h + 34 + top_lab
        pic = np.clip(imgs[i] * 255 + 0.5, 0, 255).astype(np.uint8)
        _pixels.paste(canvas, _pixels.upscale(pic, pic_k), 8, top)
        _pixels.paste(canvas, blocks[i], x_maps, top)
        channel_labels(
            canvas,
            (x_maps, top),
            rows,
            cols,
            ((h + gap) * k, (w + gap) * k),
            (h * k, w * k),
            ls,
        )
    for i, (text, wrong) in enumerate(_sample_titles(y, p, class_names)):
        color = _pixels.rgba(_fig.WRONG) if wrong else _pixels.INK
        for line, piece in enumerate(text.split("\n")):
            _pixels.draw_text(
                canvas, 8, TITLE_PX + i * row_h + 4 + 15 * line, piece, 12, color, bold=wrong
            )
    if title is None:
        title = f"{count} maps {h}×{w} per sample · {SCALE_WORDS[norm or 'none']}" + (
            " · hatched: flat maps" if any(marks) else ""
        )
    return _canvas.titled_figure(canvas, title, TITLE_PT)
