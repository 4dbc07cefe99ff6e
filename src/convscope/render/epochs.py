"""One image's feature maps across training epochs: seed 000's story in one view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ShapeError
from . import _canvas, _fig, _pixels
from ._layout import TITLE_PT, TITLE_PX, choose_scale, marked_channels
from ._tiles import as_array, finite, grid_shape
from .maps import SCALE_WORDS, block_size, tiled_block

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def maps_over_epochs(
    maps: Any,
    epochs: Sequence[int],
    *,
    values: Sequence[float] | None = None,
    layer: str | None = None,
    cols: int | None = 8,
    per_row: int = 4,
    norm: str | None = "map",
    cmap: Any = _fig.MAPS_CMAP,
    inactive: str | None = "auto",
) -> Figure:
    """The same image's maps of one layer at several epochs, as small mosaics side by side.

    Args:
        maps: ``(E, C, H, W)``: one image's maps at ``E`` epochs.
        epochs: the E epoch numbers (as shown, e.g. 1-based).
        values: the layer's mean similarity at those epochs (printed under each epoch).
        layer: the layer's name, for the title.
        cols: tiles per mosaic row; ``per_row``: mosaics per figure row.
        norm: how each mosaic is scaled (default each map on its own, as seed 002 draws).
        inactive: ``"auto"`` hatches maps flat at that epoch.

    Raises:
        ShapeError: ``maps`` is not 4-D or its length differs from ``epochs``/``values``.

    Example:
        >>> import numpy as np
        >>> fig = maps_over_epochs(np.random.rand(3, 16, 11, 11), [1, 5, 12], values=[0.3, 0.2, 0.1])
        >>> fig.texts[0].get_text()
        '16 maps 11×11 of one image over training · each map on its own scale'
    """
    m = finite(as_array(maps, "maps"), "maps")
    if m.ndim != 4 or min(m.shape) == 0:
        raise ShapeError(f"maps: expected (epochs, C, H, W), got {m.shape}")
    e, count, h, w = m.shape
    if len(epochs) != e or (values is not None and len(values) != e):
        raise ShapeError(
            f"maps has {e} epochs but epochs has {len(epochs)}"
            + ("" if values is None else f" and values {len(values)}")
        )
    per_row = max(1, min(per_row, e))
    rows, _ = grid_shape(e, per_row)
    bh, bw = block_size((count, h, w), cols or count, 1)
    k = choose_scale(bw * per_row, bh * rows, 9.0)
    blocks, flat = [], []
    for i in range(e):
        marked = marked_channels(inactive, m[i])
        flat.append(len(marked))
        blocks.append(tiled_block(m[i], norm, cmap, min(cols or count, count), 1, k, marked))
    bh, bw = blocks[0].shape[:2]
    gap, label = 16, 20
    canvas = _pixels.blank(TITLE_PX + rows * (label + bh + 10), per_row * (bw + gap) + 8)
    spots = []
    for i, block in enumerate(blocks):
        r, c = divmod(i, per_row)
        x, y = 8 + c * (bw + gap), TITLE_PX + r * (label + bh + 10)
        _pixels.paste(canvas, block, x, y + label)
        text = f"epoch {int(epochs[i])}" + ("" if values is None else f" · {float(values[i]):.3f}")
        _pixels.draw_text(canvas, x, y + 2, text, 12)
        spots.append((x, y))
    title = f"{layer + ' · ' if layer else ''}{count} maps {h}×{w} of one image over training · {SCALE_WORDS[norm or 'none']}"
    if any(flat):
        title += " · hatched: flat"
    return _canvas.titled_figure(canvas, title, TITLE_PT)
