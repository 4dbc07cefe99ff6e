"""Figures: arrays in, a detached ``matplotlib.figure.Figure`` (or a uint8 image) out.

Every figure draws its maps as one tiled image built with numpy (one image, at the maps'
own resolution, upscaled by a whole factor when small), never one subplot per map, and
never touches pyplot, so it works headless and in Jupyter. Saving a figure draws it once;
opaque PNGs are written as RGB. Colours: perceptual colour maps (viridis, inferno, magma;
never jet) and the Okabe-Ito palette for lines and frames.

Example:
    >>> import numpy as np
    >>> from convscope import render
    >>> fig = render.mosaic(np.random.rand(32, 26, 26))
    >>> render.to_uint8(fig).dtype
    dtype('uint8')
"""

from __future__ import annotations

from ._fig import OKABE_ITO, save, to_uint8
from ._layout import flat_channels
from ._tiles import normalize, resize_bilinear, tile
from .classes import class_ranking, confusion, examples_row, predictions_grid
from .curves import history, similarity_caption, similarity_trends, similarity_vs_loss
from .epochs import maps_over_epochs
from .maps import belt, mosaic, samples_grid
from .matrices import cluster_order, display_order, distance_matrix, similarity_matrix
from .overlays import multiply_parts, overlay, overlay_image, pair
from .weights import kernels

__all__ = [
    "OKABE_ITO",
    "belt",
    "class_ranking",
    "cluster_order",
    "confusion",
    "display_order",
    "distance_matrix",
    "examples_row",
    "flat_channels",
    "history",
    "kernels",
    "maps_over_epochs",
    "mosaic",
    "multiply_parts",
    "normalize",
    "overlay",
    "overlay_image",
    "pair",
    "predictions_grid",
    "resize_bilinear",
    "samples_grid",
    "save",
    "similarity_caption",
    "similarity_matrix",
    "similarity_trends",
    "similarity_vs_loss",
    "tile",
    "to_uint8",
]
