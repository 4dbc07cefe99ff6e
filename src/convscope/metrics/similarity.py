"""Channel similarity: how alike are the feature maps of one layer?

Seed 000 measures the redundancy of a conv layer by comparing every pair of its feature
maps with ``similarity_multiply`` and logging the mean over pairs. This module computes the
same numbers -- exactly, pair for pair -- but vectorised in torch (CPU or CUDA) and in
memory-bounded tiles, and adds the cosine and Pearson similarities, the most / least similar
pair, redundancy groups and linear CKA between layers.

Inputs are numpy arrays or torch tensors:

* conv maps ``(C, H, W)`` (one image) or ``(N, C, H, W)`` (N images; matrices are averaged
  over the images);
* dense outputs ``(N, units)`` for ``cosine`` and ``pearson``: units are compared *across
  samples* (each column is a vector over the N samples).

Metrics (see :func:`available_metrics`):

``multiply``
    seed 000: min-max normalise each map (a flat map's range counts as ``0.0001``), multiply
    cell-wise, return the fraction of cells whose product is strictly above the product's
    mean. In ``[0, 1]``; note that the self-similarity of a map is *not* 1. Needs spatial maps.
``cosine``
    cosine of the flattened maps; an all-zero map has similarity 0 with everything.
``pearson``
    Pearson correlation of the flattened maps; a constant map correlates 0 with everything.

Every function takes ``layer`` (used in error messages), ``device`` (``None``: the tensor's
own device; numpy arrays go to the CPU) and ``max_bytes`` (scratch budget of one tile, and of
the per-image state prepared from ``(N, C, H, W)`` maps, which is built a chunk of images at a
time; no ``C x C x H x W`` tensor is ever built beyond it). :func:`extreme_pairs` and
:func:`redundancy` also take ``similarity=``, a matrix :func:`pairwise` already computed, so a
caller that needs the matrix, the extreme pairs and the groups computes the matrix once.

Example:
    >>> import numpy as np
    >>> from convscope.metrics import similarity
    >>> maps = np.random.default_rng(0).random((1, 8, 11, 11)).astype(np.float32)
    >>> similarity.pairwise(maps).shape
    (8, 8)
    >>> 0.0 <= similarity.mean_similarity(maps) <= 1.0
    True
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._threads import small_ops_on_one_thread
from ..errors import ConvscopeError
from ._sim_core import (
    DEFAULT_MAX_BYTES,
    SimilarityMetric,
    get_metric,
    metric_names,
    pair_matrix,
    pair_means,
    register,
)
from ._sim_input import (
    ArrayLike,
    Device,
    check_budget,
    compared,
    inactive_of,
    validate,
    what,
)
from ._sim_metrics import CosineMetric, MultiplyMetric, PearsonMetric
from ._sim_results import ExtremePairs, Inactive, Pair, Redundancy
from .cka import cka
from .extremes import extreme_pairs, redundancy

__all__ = [
    "DEFAULT_MAX_BYTES",
    "CosineMetric",
    "ExtremePairs",
    "MultiplyMetric",
    "Pair",
    "PearsonMetric",
    "Redundancy",
    "SimilarityMetric",
    "available_metrics",
    "cka",
    "default_threshold",
    "extreme_pairs",
    "Inactive",
    "inactive_channels",
    "mean_similarity",
    "pairwise",
    "redundancy",
    "register_metric",
]


# --------------------------------------------------------------------------- registry


def available_metrics() -> list[str]:
    """Names of the registered similarity metrics.

    Example:
        >>> {"cosine", "multiply", "pearson"} <= set(available_metrics())
        True
    """
    return metric_names()


def register_metric(metric: SimilarityMetric) -> SimilarityMetric:
    """Register a custom :class:`SimilarityMetric` so every function accepts its name.

    Subclass :class:`SimilarityMetric` and implement ``prepare``, ``bytes_per_pair`` and
    ``block``; the chunked driver does the rest.

    Raises:
        ConvscopeError: ``metric`` is not a :class:`SimilarityMetric` or has no name.

    Example:
        >>> class Dot(CosineMetric):
        ...     name = "dot_unit"
        >>> _ = register_metric(Dot())
        >>> "dot_unit" in available_metrics()
        True
        >>> from convscope.metrics import _sim_core
        >>> del _sim_core._REGISTRY["dot_unit"]  # keep the registry as it was
    """
    return register(metric)


def default_threshold(metric: str = "multiply") -> float:
    """The default :func:`redundancy` threshold of ``metric``.

    ``multiply``: 0.4 -- the metric is not 1 for identical maps (a map's self-similarity is
    typically 0.25 to 0.4) and the most similar pairs of a conv layer score about 0.4 to 0.45,
    so 0.4 keeps roughly the top percent of pairs; for finding duplicated maps prefer
    ``pearson`` (0.8) or ``cosine`` (0.9).

    Example:
        >>> default_threshold("cosine")
        0.9
    """
    return float(get_metric(metric).default_threshold)


# --------------------------------------------------------------------------- public API


@small_ops_on_one_thread
def inactive_channels(
    maps: ArrayLike, *, layer: str | None = None, device: Device = None
) -> Inactive:
    """The dead and the constant channels of ``maps`` (see :class:`Inactive`).

    Args:
        maps: ``(C, H, W)``, ``(N, C, H, W)`` or dense ``(N, units)``.
        layer, device: see :func:`pairwise`.

    Example:
        >>> import numpy as np
        >>> maps = np.zeros((2, 4, 3, 3), np.float32)
        >>> maps[:, 0] = np.random.default_rng(0).random((2, 3, 3))
        >>> inactive_channels(maps).dead
        [1, 2, 3]
    """
    data = validate(maps, get_metric("cosine"), layer, device)  # no metric-specific checks
    return inactive_of(data)


@small_ops_on_one_thread
def pairwise(
    maps: ArrayLike,
    metric: str | SimilarityMetric = "multiply",
    *,
    layer: str | None = None,
    device: Device = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> np.ndarray:
    """The ``(C, C)`` channel similarity matrix of one layer.

    Args:
        maps: ``(C, H, W)``, ``(N, C, H, W)`` (the matrix is the mean over the N images of
            the per-image matrices) or, for ``cosine`` / ``pearson``, dense ``(N, units)``
            (units compared across the samples).
        metric: ``"multiply"`` (seed 000), ``"cosine"``, ``"pearson"`` or a registered name.
        layer: layer name used in error messages.
        device: torch device to compute on; ``None`` keeps a tensor's device (numpy: CPU).
        max_bytes: scratch budget in bytes of one tile, and of the metric state prepared for
            a chunk of images (at least one image is prepared at a time).

    Returns:
        symmetric float64 ``(C, C)`` array; the diagonal is the metric applied to (i, i).

    Raises:
        UnknownNameError: unknown metric.
        ShapeError: wrong number of dimensions or an empty dimension (``N = 0``,
            ``H * W = 0``).
        ConvscopeError: NaN/Inf values, fewer than two channels, ``multiply`` on dense input.

    Example:
        >>> import numpy as np
        >>> maps = np.zeros((3, 2, 2), dtype=np.float32)
        >>> maps[0, 0, 0] = maps[1, 0, 0] = maps[2, 1, 1] = 1.0
        >>> pairwise(maps, "multiply")
        array([[0.25, 0.25, 0.  ],
               [0.25, 0.25, 0.  ],
               [0.  , 0.  , 0.25]])
    """
    m = get_metric(metric)
    data = validate(maps, m, layer, device)
    return pair_matrix(m, data, check_budget(max_bytes)).cpu().numpy()


@small_ops_on_one_thread
def mean_similarity(
    maps: ArrayLike,
    metric: str | SimilarityMetric = "multiply",
    *,
    per_image: bool = False,
    include_dead: bool = False,
    layer: str | None = None,
    device: Device = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> float | np.ndarray:
    """Mean similarity over the channel pairs ``i < j`` -- the number seed 000 logs.

    With ``(N, C, H, W)`` input each image gets its own pair mean and the result is the mean
    over images of those per-image means (equal to the pair mean of :func:`pairwise`).

    Args:
        maps: see :func:`pairwise`.
        metric: see :func:`pairwise`.
        per_image: return the ``(N,)`` per-image pair means instead of their mean (so a
            caller can take a spread over probe images). Needs conv maps.
        include_dead: also average the pairs of dead and constant channels (see
            :func:`inactive_channels`), as seed 000's loop does. By default they are left
            out, so a layer of broken channels does not look least redundant.
        layer, device, max_bytes: see :func:`pairwise`.

    Returns:
        a float, or a float64 ``(N,)`` array when ``per_image`` is true; NaN when fewer
        than two channels are compared (every channel dead, say).

    Raises:
        ConvscopeError: as :func:`pairwise`; ``per_image`` on dense input.

    Example:
        >>> import numpy as np
        >>> maps = np.random.default_rng(0).random((5, 16, 7, 7)).astype(np.float32)
        >>> mean_similarity(maps, per_image=True).shape
        (5,)
    """
    m = get_metric(metric)
    data = validate(maps, m, layer, device)
    if per_image and len(data.spatial_shape) != 2:
        raise ConvscopeError(
            f"per_image needs conv maps (N, C, H, W); {what(layer)} is dense (N, units), "
            "whose units are compared across all samples at once"
        )
    budget = check_budget(max_bytes)
    data, _ = compared(data, include_dead)
    if data.c < 2:  # fewer than two live channels: no pair to average
        means = torch.full((data.n,), math.nan, dtype=torch.float64)
    else:
        means = pair_means(m, data, budget)
    if per_image:
        return means.cpu().numpy()
    return float(means.mean())
