"""Figures: arrays in, a detached ``matplotlib.figure.Figure`` (or a uint8 image) out.

Every figure draws its maps as one tiled image built with numpy (one ``imshow``), never one
subplot per map, and never touches pyplot, so it works headless and in Jupyter.

Example:
    >>> import numpy as np
    >>> from convscope import render
    >>> fig = render.mosaic(np.random.rand(32, 26, 26))
    >>> render.to_uint8(fig).dtype
    dtype('uint8')
"""

from __future__ import annotations

from ._fig import save, to_uint8
from ._tiles import normalize, resize_bilinear, tile
from .classes import class_ranking, cluster_order, confusion, predictions_grid, similarity_matrix
from .curves import history, similarity_vs_loss
from .maps import belt, mosaic, samples_grid
from .overlays import overlay, overlay_image, pair
from .weights import kernels

__all__ = [
    "belt",
    "class_ranking",
    "cluster_order",
    "confusion",
    "history",
    "kernels",
    "mosaic",
    "normalize",
    "overlay",
    "overlay_image",
    "pair",
    "predictions_grid",
    "resize_bilinear",
    "samples_grid",
    "save",
    "similarity_matrix",
    "similarity_vs_loss",
    "tile",
    "to_uint8",
]
