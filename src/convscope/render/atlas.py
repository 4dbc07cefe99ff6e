"""The channel atlas figure: one row per channel, its top exemplar patches left to right.

Each tile is the image patch a unit saw (its receptive field), in grey (or colour for RGB
images), with the channel's activation over it in a perceptual colour map: transparent
where the channel is silent, strongest where it answers most. A channel whose best
activation is not above 0 never answered: its row is faded and labelled so. The figure is one tiled image
built with numpy and drawn with one ``imshow``.

Example:
    >>> import numpy as np
    >>> patches = np.random.default_rng(0).random((2, 3, 1, 8, 8)).astype(np.float32)
    >>> fig = channel_atlas(patches, patches[:, :, 0], np.ones((2, 3)), channels=[5, 9])
    >>> fig.axes[0].get_yticklabels()[0].get_text().splitlines()[0]
    'ch 5'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError
from ._fig import colorize, get_cmap, new_figure

__all__ = ["atlas_tiles", "channel_atlas"]

_EMPTY = np.array([235, 235, 235], np.float32)  # padding outside the image


def _scale(size: int) -> int:
    """Integer upscaling so a tile is about 48 pixels wide (never below 1)."""
    return max(1, int(round(48 / max(size, 1))))


def atlas_tiles(
    patches: np.ndarray, overlays: np.ndarray, *, alpha: float = 0.45, cmap: Any = "inferno"
) -> np.ndarray:
    """Blend each patch with its activation; uint8 (n, m, h, w, 3) tiles.

    The activation is scaled per channel (row) from 0 to that row's highest value, so
    every row uses the full colour range; negative activations count as silent.

    Example:
        >>> tiles = atlas_tiles(np.zeros((1, 2, 1, 4, 4)), np.ones((1, 2, 4, 4)))
        >>> tiles.shape, tiles.dtype
        ((1, 2, 4, 4, 3), dtype('uint8'))
    """
    patches = np.asarray(patches, np.float32)
    overlays = np.asarray(overlays, np.float32)
    if patches.ndim != 5 or overlays.shape != patches.shape[:2] + patches.shape[3:]:
        raise ShapeError(
            f"patches must be (n, m, C, h, w) and overlays (n, m, h, w); got {patches.shape} "
            f"and {overlays.shape}"
        )
    grey = patches if patches.shape[2] == 3 else np.repeat(patches[:, :, :1], 3, axis=2)
    lo = np.nanmin(grey, axis=(1, 2, 3, 4), keepdims=True) if grey.size else 0.0
    hi = np.nanmax(grey, axis=(1, 2, 3, 4), keepdims=True) if grey.size else 1.0
    base = (grey - lo) / np.where(hi > lo, hi - lo, 1.0) * 255.0
    base = np.moveaxis(base, 2, -1)  # (n, m, h, w, 3)
    act = np.clip(np.nan_to_num(overlays, nan=0.0), 0.0, None)
    peak = act.max(axis=(1, 2, 3), keepdims=True)
    unit = act / np.where(peak > 0, peak, 1.0)
    colour = colorize(unit, get_cmap(cmap)).astype(np.float32)
    weight = alpha * unit[..., None]
    tiles = (1 - weight) * np.nan_to_num(base, nan=0.0) + weight * colour
    tiles[np.isnan(patches).all(axis=2)] = _EMPTY
    return np.clip(np.round(tiles), 0, 255).astype(np.uint8)


def _compose(tiles: np.ndarray, scale: int, gap: int = 2) -> np.ndarray:
    n, m, h, w, _ = tiles.shape
    big = tiles.repeat(scale, axis=2).repeat(scale, axis=3)
    th, tw = h * scale, w * scale
    canvas = np.full((n * (th + gap) - gap, m * (tw + gap) - gap, 3), 255, np.uint8)
    for i in range(n):
        for j in range(m):
            canvas[i * (th + gap) : i * (th + gap) + th, j * (tw + gap) : j * (tw + gap) + tw] = (
                big[i, j]
            )
    return canvas


def channel_atlas(
    patches: np.ndarray,
    overlays: np.ndarray,
    values: np.ndarray,
    *,
    channels: Sequence[int] | None = None,
    title: str | None = None,
    alpha: float = 0.45,
    cmap: Any = "inferno",
) -> Any:
    """Draw channels as rows of their top exemplar patches with the activation on top.

    Args:
        patches: (n, m, C, h, w) image patches (NaN where the field leaves the image).
        overlays: (n, m, h, w) activation of each row's channel over the patch.
        values: (n, m) the exemplars' activation values, printed under each row's label.
        channels: the channel number of each row (default 0..n-1).
        title: the figure title.
        alpha: opacity of the activation where it is highest.
        cmap: colour map of the activation.

    Returns:
        A detached matplotlib ``Figure``.
    """
    tiles = atlas_tiles(patches, overlays, alpha=alpha, cmap=cmap)
    n, m, h, w, _ = tiles.shape
    values = np.asarray(values, np.float64).reshape(n, m)
    silent = ~(values[:, :1] > 0).any(axis=1) if m else np.ones(n, bool)
    # a channel that never answers has no exemplars, only the first images: fade them
    tiles[silent] = (tiles[silent] * 0.25 + 255 * 0.75).astype(np.uint8)
    channels = list(range(n)) if channels is None else [int(c) for c in channels]
    if len(channels) != n:
        raise ShapeError(f"{len(channels)} channel numbers for {n} rows of patches")
    scale = _scale(max(h, w))
    canvas = _compose(tiles, scale)
    dpi = 100
    width_in = canvas.shape[1] / dpi + 1.6
    height_in = canvas.shape[0] / dpi + (0.7 if title else 0.4)
    fig = new_figure(width_in, height_in, dpi=dpi)
    ax = fig.add_axes((1.3 / width_in, 0.1 / height_in, canvas.shape[1] / dpi / width_in,
                       canvas.shape[0] / dpi / height_in))  # fmt: skip
    ax.imshow(canvas, interpolation="nearest")
    step_r, step_c = h * scale + 2, w * scale + 2
    ax.set_yticks([i * step_r + h * scale / 2 for i in range(n)])
    ax.set_yticklabels(
        [
            f"ch {c}\nnever > 0" if silent[i] else f"ch {c}\nmax {values[i, 0]:.3g}"
            for i, c in enumerate(channels)
        ],
        fontsize=7,
    )
    ax.set_xticks([j * step_c + w * scale / 2 for j in range(m)])
    ax.set_xticklabels([f"#{j + 1}" for j in range(m)], fontsize=7)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.12 / height_in, va="top")
    return fig
