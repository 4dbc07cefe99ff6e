"""matplotlib plumbing shared by the figure modules: figures, colour maps, labels, export."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import save_figure
from ..errors import UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

GAP_RGB = (255, 255, 255)
GAP_RGBA = (255, 255, 255, 255)
EMPTY_RGB = (235, 235, 235)
MAX_W_IN = 14.0
MAX_H_IN = 40.0

OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
"""Okabe & Ito's colour-blind-safe palette: every line and frame colour comes from it."""
WRONG = "#D55E00"
"""Vermillion: misclassified examples (readable for red-green colour-blind readers)."""
FRAME = "#D55E00"
"""Frames around chosen channels and groups (drawn with a white inner line)."""
MAPS_CMAP = "viridis"
"""Feature maps: perceptual, monotonic in lightness (never jet)."""
HEAT_CMAP = "inferno"
"""Heat maps over an input image: black (silent) to bright yellow (strongest)."""


def new_figure(width: float, height: float, dpi: float = 100) -> Figure:
    """A detached ``Figure`` (no pyplot state), sized in inches.

    Example:
        >>> new_figure(4, 3).get_size_inches().tolist()
        [4.0, 3.0]
    """
    from matplotlib.figure import Figure

    from ._canvas import attach_canvas

    fig = Figure(figsize=(max(float(width), 1.0), max(float(height), 0.5)), dpi=dpi)
    return attach_canvas(fig)


def get_cmap(name: Any) -> Any:
    """Look up a colour map by name (or pass a ``Colormap`` through).

    Raises:
        UnknownNameError: no such colour map.
    """
    import matplotlib

    if not isinstance(name, str):
        return name
    try:
        return matplotlib.colormaps[name]
    except KeyError:
        common = ["viridis", "magma", "inferno", "cividis", "gray", "binary", "RdBu_r", "Blues"]
        raise UnknownNameError(
            "colour map", [name], common + ["... (matplotlib.colormaps)"]
        ) from None


def colorize(unit: np.ndarray, cmap: Any, rgba: bool = False) -> np.ndarray:
    """Map values in [0, 1] through ``cmap`` to uint8 RGB (or RGBA, which Agg draws faster).

    Example:
        >>> colorize(np.zeros((2, 2)), "gray")[0, 0].tolist()
        [0, 0, 0]
    """
    lut = get_cmap(cmap)
    out = lut(np.clip(unit, 0.0, 1.0), bytes=True)
    return out if rgba else out[..., :3]


def to_uint8(fig: Figure) -> np.ndarray:
    """Render ``fig`` with the Agg canvas and return its pixels as uint8 RGB ``(H, W, 3)``.

    Example:
        >>> to_uint8(new_figure(2, 1, dpi=50)).shape
        (50, 100, 3)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save(fig: Figure, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Save ``fig`` atomically (format from the suffix) via :func:`convscope._io.save_figure`.

    The figure is drawn once: convscope figures are laid out to their own size, so no
    tight bounding box (which draws every figure twice) is asked for unless you pass
    ``bbox_inches="tight"``.

    Example:
        >>> import tempfile, pathlib
        >>> p = save(new_figure(2, 2), pathlib.Path(tempfile.mkdtemp()) / "f.png")
        >>> p.suffix
        '.png'
    """
    kwargs.setdefault("bbox_inches", None)
    return save_figure(fig, path, **kwargs)


def fit_size(
    img_w: float, img_h: float, width: float, extra_h: float = 0.0, extra_w: float = 0.0
) -> tuple[float, float, float]:
    """Figure ``(width, height, image_width)`` in inches for an image of ``img_w x img_h`` px.

    The image gets ``width - extra_w`` inches across unless that makes the figure taller
    than ``MAX_H_IN``, in which case the whole figure shrinks to fit.
    """
    img_in = max(width - extra_w, 0.5)
    height = img_in * img_h / img_w + extra_h
    if height > MAX_H_IN:
        img_in = max((MAX_H_IN - extra_h) * img_w / img_h, 0.5)
        height = img_in * img_h / img_w + extra_h
    return img_in + extra_w, height, img_in


def pixel_width(img_w: int, width: float, dpi: float = 100) -> float:
    """A width near ``width`` inches at which ``img_w`` pixels scale by a whole number.

    Whole-number scaling keeps nearest-neighbour tiles crisp and cheap to draw; images
    wider than about twice ``width`` keep ``width``.
    """
    k = int(round(width * dpi / img_w))
    return k * img_w / dpi if k >= 1 and img_w * dpi >= 0 else width


def image_axes(fig: Figure, left: float, bottom: float, width: float, height: float) -> Axes:
    """An axes at an inch-based rectangle, with no ticks or frame."""
    fw, fh = fig.get_size_inches()
    ax = fig.add_axes((left / fw, bottom / fh, width / fw, height / fh))
    ax.set_axis_off()
    return ax


def show_image(ax: Axes, img: np.ndarray, **kwargs: Any) -> Any:
    """One ``imshow`` with pixel-exact defaults (nearest, no resampling artefacts)."""
    kwargs.setdefault("interpolation", "nearest")
    kwargs.setdefault("aspect", "equal")
    return ax.imshow(img, **kwargs)


def font_for(tile_in: float, lo: float = 5.0, hi: float = 10.0, frac: float = 0.2) -> float:
    """A font size (points) that fits a tile ``tile_in`` inches wide."""
    return float(np.clip(tile_in * 72.0 * frac, lo, hi))


def chars_for(width_in: float, fontsize: float) -> int:
    """About how many characters of ``fontsize`` fit in ``width_in`` inches."""
    return max(3, int(width_in * 72.0 / (0.6 * fontsize)))


def text_colors(rgb_patches: np.ndarray) -> list[str]:
    """Black or white, whichever reads better on each patch's mean colour (..., 3) uint8."""
    lum = rgb_patches.reshape(len(rgb_patches), -1, 3).mean(axis=1) @ np.array(
        [0.299, 0.587, 0.114]
    )
    return ["black" if v > 140 else "white" for v in lum]


def frames(
    ax: Axes,
    rects: Sequence[tuple[float, float, float, float]],
    color: str = FRAME,
    linewidth: float = 2.0,
) -> None:
    """Draw rectangle outlines ``(x, y, w, h)`` in data coordinates as one collection.

    Each outline has a white halo, so it reads on dark and bright colours alike.
    """
    if not len(rects):
        return
    import matplotlib.patheffects as pe
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    patches = [Rectangle((x, y), w, h) for x, y, w, h in rects]
    collection = PatchCollection(
        patches, facecolor="none", edgecolor=color, linewidth=linewidth, zorder=5
    )
    collection.set_path_effects(
        [pe.Stroke(linewidth=linewidth + 2, foreground="white"), pe.Normal()]
    )
    ax.add_collection(collection)


def class_name(i: int, class_names: Sequence[str] | None) -> str:
    """``class_names[i]`` or ``str(i)``."""
    if class_names is not None and 0 <= i < len(class_names):
        return str(class_names[i])
    return str(i)
