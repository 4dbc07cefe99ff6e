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
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from ..errors import ConvscopeError, ShapeError
from ._sim_core import (
    DEFAULT_MAX_BYTES,
    CosineMetric,
    MultiplyMetric,
    PearsonMetric,
    Prepared,
    SimilarityMetric,
    get_metric,
    metric_names,
    pair_matrix,
    pair_means,
    register,
)

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
    "mean_similarity",
    "pairwise",
    "redundancy",
    "register_metric",
]

ArrayLike = np.ndarray | torch.Tensor
Device = str | torch.device | None


# --------------------------------------------------------------------------- results


class Pair(NamedTuple):
    """A channel pair ``i < j`` and its similarity.

    Example:
        >>> Pair(0, 3, 0.5).j
        3
    """

    i: int
    j: int
    value: float


@dataclass(frozen=True)
class ExtremePairs:
    """The most similar pair and the least similar pair of comparable peak activation.

    Attributes:
        most: the pair with the highest similarity (first in ``i < j`` order on ties).
        least: the pair with the lowest similarity among pairs whose peaks are both
            positive and within ``max_ratio`` of each other; ``None`` when no pair qualifies.
        metric: the metric used.
        max_ratio: the peak ratio bound used for ``least``.

    Example:
        >>> ExtremePairs(Pair(0, 1, 0.4), None, "multiply", 3.0).least is None
        True
    """

    most: Pair
    least: Pair | None
    metric: str
    max_ratio: float


@dataclass(frozen=True)
class Redundancy:
    """Groups of mutually similar channels and the effective number of distinct maps.

    Attributes:
        groups: lists of channel indices (each of size >= 2, sorted, largest group first)
            whose every pair has similarity >= ``threshold`` (complete linkage).
        labels: ``(C,)`` cluster id of each channel (singletons get their own id).
        n_channels: C.
        n_distinct: number of clusters, singletons included: the channels that would remain
            if each group were merged into one map.
        effective_rank: ``exp`` of the Shannon entropy of the normalised eigenvalue spectrum
            of the similarity matrix (negative eigenvalues clipped to 0; Roy & Vetterli
            2007). ``C`` for mutually orthogonal maps, ``1`` for identical maps; meaningful
            chiefly for ``cosine`` / ``pearson`` whose matrices are Gram matrices.
        threshold: similarity threshold used.
        metric: metric used.
        similarity: the ``(C, C)`` similarity matrix the groups were cut from.

    Example:
        >>> import numpy as np
        >>> maps = np.random.default_rng(0).random((4, 5, 5))
        >>> r = redundancy(maps, "cosine", threshold=0.0)  # every pair groups
        >>> r.groups, r.n_distinct
        ([[0, 1, 2, 3]], 1)
    """

    groups: list[list[int]]
    labels: np.ndarray
    n_channels: int
    n_distinct: int
    effective_rank: float
    threshold: float
    metric: str
    similarity: np.ndarray = field(repr=False)

    @property
    def redundant_fraction(self) -> float:
        """Fraction of channels that merge away: ``1 - n_distinct / n_channels``.

        Example:
            >>> import numpy as np
            >>> eye = np.eye(4).reshape(4, 2, 2)  # four orthogonal maps: nothing merges
            >>> redundancy(eye, "cosine").redundant_fraction
            0.0
        """
        return 1.0 - self.n_distinct / self.n_channels


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


# --------------------------------------------------------------------------- validation


def _what(layer: str | None) -> str:
    return f"layer {layer!r}" if layer else "maps"


def _to_tensor(x: object, layer: str | None, device: Device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        arr = np.asarray(x)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ):
            raise ConvscopeError(
                f"{_what(layer)}: expected a numeric numpy array or torch tensor, got dtype {arr.dtype}"
            )
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr, copy=True, order="C")
        t = torch.from_numpy(arr)
    if device is not None:
        t = t.to(device)
    if t.is_complex():
        raise ConvscopeError(f"{_what(layer)}: complex values are not supported")
    if t.dtype != torch.float64:
        t = t.float()
    return t


def _check_finite(t: torch.Tensor, layer: str | None) -> None:
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ConvscopeError(
            f"{_what(layer)} contains {bad} NaN or Inf value(s); similarity needs finite "
            "activations (check the model weights and the input scaling)"
        )


def _validate(
    maps: ArrayLike, metric: SimilarityMetric, layer: str | None, device: Device
) -> Prepared:
    """Check ``maps`` and view them as ``(N, C, F)``; the driver prepares the metric state."""
    t = _to_tensor(maps, layer, device)
    shape = tuple(t.shape)
    if t.ndim == 2:
        if metric.spatial_only:
            raise ConvscopeError(
                f"metric {metric.name!r} needs spatial maps (N, C, H, W) or (C, H, W), but "
                f"{_what(layer)} has dense shape {shape}; cosine and pearson work on dense "
                "outputs (N, units)"
            )
        if shape[0] < 1 or shape[1] < 2:
            raise ShapeError(
                f"{_what(layer)} has shape {shape}; dense outputs need (N >= 1, units >= 2)"
            )
        x = t.T.unsqueeze(0)  # one "image": units compared across the N samples
        spatial: tuple[int, ...] = (shape[0],)
    elif t.ndim in (3, 4):
        x4 = t.unsqueeze(0) if t.ndim == 3 else t
        n, c, h, w = x4.shape
        if min(n, h, w) < 1:
            raise ShapeError(f"{_what(layer)} has shape {shape}; no dimension may be empty")
        if c < 2:
            raise ConvscopeError(
                f"{_what(layer)} has {c} channel(s) (shape {shape}); similarity needs at least two"
            )
        x = x4.reshape(n, c, h * w)
        spatial = (h, w)
    else:
        raise ShapeError(
            f"{_what(layer)} has shape {shape}; expected conv maps (C, H, W) or (N, C, H, W), "
            "or dense outputs (N, units)"
        )
    _check_finite(x, layer)
    return Prepared(x=x.contiguous(), spatial_shape=spatial)


def _check_budget(max_bytes: int) -> int:
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
        raise ConvscopeError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    return max_bytes


def _check_similarity(similarity: object, c: int, layer: str | None) -> np.ndarray:
    """A caller's precomputed ``(C, C)`` matrix as a float64 copy, or a ConvscopeError."""
    if isinstance(similarity, torch.Tensor):
        similarity = similarity.detach().cpu().numpy()
    arr = np.asarray(similarity)
    if arr.shape != (c, c):
        raise ShapeError(
            f"similarity has shape {arr.shape}, but {_what(layer)} has {c} channels: pass the "
            f"({c}, {c}) matrix that pairwise returns for the same maps and metric"
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ConvscopeError(f"similarity must be a real-valued array, got dtype {arr.dtype}")
    out = np.array(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        raise ConvscopeError("similarity contains NaN or Inf values; pass pairwise's matrix")
    return out


def _matrix(
    maps: ArrayLike,
    metric: SimilarityMetric,
    similarity: object,
    layer: str | None,
    device: Device,
    max_bytes: int,
) -> np.ndarray:
    """The caller's checked ``similarity``, or :func:`pairwise` of ``maps`` when it is None."""
    if similarity is None:
        return pairwise(maps, metric, layer=layer, device=device, max_bytes=max_bytes)
    _check_budget(max_bytes)
    data = _validate(maps, metric, layer, None)  # the same input errors as pairwise
    return _check_similarity(similarity, data.c, layer)


# --------------------------------------------------------------------------- public API


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
    data = _validate(maps, m, layer, device)
    return pair_matrix(m, data, _check_budget(max_bytes)).cpu().numpy()


def mean_similarity(
    maps: ArrayLike,
    metric: str | SimilarityMetric = "multiply",
    *,
    per_image: bool = False,
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
        layer, device, max_bytes: see :func:`pairwise`.

    Returns:
        a float, or a float64 ``(N,)`` array when ``per_image`` is true.

    Raises:
        ConvscopeError: as :func:`pairwise`; ``per_image`` on dense input.

    Example:
        >>> import numpy as np
        >>> maps = np.random.default_rng(0).random((5, 16, 7, 7)).astype(np.float32)
        >>> mean_similarity(maps, per_image=True).shape
        (5,)
    """
    m = get_metric(metric)
    data = _validate(maps, m, layer, device)
    if per_image and len(data.spatial_shape) != 2:
        raise ConvscopeError(
            f"per_image needs conv maps (N, C, H, W); {_what(layer)} is dense (N, units), "
            "whose units are compared across all samples at once"
        )
    means = pair_means(m, data, _check_budget(max_bytes))
    if per_image:
        return means.cpu().numpy()
    return float(means.mean())


def _peaks(maps: ArrayLike, layer: str | None) -> torch.Tensor:
    t = _to_tensor(maps, layer, "cpu")
    if t.ndim == 2:
        return t.amax(dim=0)
    if t.ndim == 3:
        return t.flatten(1).amax(dim=1)
    return t.transpose(0, 1).flatten(1).amax(dim=1)


def extreme_pairs(
    maps: ArrayLike,
    metric: str | SimilarityMetric = "multiply",
    *,
    max_ratio: float = 3.0,
    layer: str | None = None,
    device: Device = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    similarity: np.ndarray | None = None,
) -> ExtremePairs:
    """The most similar channel pair, and the least similar pair of comparable strength.

    Seed 000's search: over pairs ``i < j``, ``most`` is the highest similarity and ``least``
    the lowest among pairs with ``max(top_i, top_j) / min(top_i, top_j) < max_ratio``, where
    ``top`` is the peak activation of a map (over all images for ``(N, C, H, W)``). Ties go to
    the first pair in ``i < j`` order, as with the seed's strict comparisons. Pairs where a
    peak is not positive are excluded from ``least`` (the seed's ratio is then NaN or
    negative); when no pair qualifies ``least`` is ``None``.

    With ``(N, C, H, W)`` input the pairs are searched in the mean matrix over the images
    (what :func:`pairwise` returns), not image by image.

    Args:
        maps, metric, layer, device, max_bytes: see :func:`pairwise`.
        max_ratio: peak ratio bound for ``least`` (seed 000: 3).
        similarity: the ``(C, C)`` matrix ``pairwise(maps, metric)`` already returned, to
            skip computing it again (``maps`` still give the peaks); ``None`` computes it.

    Returns:
        :class:`ExtremePairs` with ``most`` and ``least`` as ``(i, j, value)`` tuples.

    Raises:
        ShapeError: as :func:`pairwise`; ``similarity`` is not ``(C, C)``.
        ConvscopeError: as :func:`pairwise`; ``max_ratio`` not positive.

    Example:
        >>> import numpy as np
        >>> maps = np.zeros((3, 2, 2), dtype=np.float32)
        >>> maps[0, 0, 0] = maps[1, 0, 0] = maps[2, 1, 1] = 1.0
        >>> ep = extreme_pairs(maps)
        >>> ep.most, ep.least
        (Pair(i=0, j=1, value=0.25), Pair(i=0, j=2, value=0.0))
        >>> extreme_pairs(maps, similarity=pairwise(maps)) == ep  # the matrix computed once
        True
    """
    m = get_metric(metric)
    if not (isinstance(max_ratio, (int, float)) and max_ratio > 0):
        raise ConvscopeError(f"max_ratio must be a positive number, got {max_ratio!r}")
    sim = _matrix(maps, m, similarity, layer, device, max_bytes)
    c = sim.shape[0]
    iu, ju = np.triu_indices(c, k=1)
    values = sim[iu, ju]
    k = int(np.argmax(values))
    most = Pair(int(iu[k]), int(ju[k]), float(values[k]))

    tops = _peaks(maps, layer)  # float32 (or float64), like the seed's np.max
    ti, tj = tops[torch.from_numpy(iu)], tops[torch.from_numpy(ju)]
    hi, lo = torch.maximum(ti, tj), torch.minimum(ti, tj)
    ok = (lo > 0) & (hi / torch.where(lo > 0, lo, torch.ones_like(lo)) < max_ratio)
    ok_np = ok.numpy()
    least = None
    if ok_np.any():
        masked = np.where(ok_np, values, np.inf)
        k = int(np.argmin(masked))
        least = Pair(int(iu[k]), int(ju[k]), float(values[k]))
    return ExtremePairs(most=most, least=least, metric=m.name, max_ratio=float(max_ratio))


def _effective_rank(sim: np.ndarray) -> float:
    eig = np.linalg.eigvalsh((sim + sim.T) / 2.0)
    eig = np.clip(eig, 0.0, None)
    total = eig.sum()
    if total <= 0:
        return 0.0
    p = eig[eig > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def redundancy(
    maps: ArrayLike,
    metric: str | SimilarityMetric = "multiply",
    *,
    threshold: float | None = None,
    layer: str | None = None,
    device: Device = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    similarity: np.ndarray | None = None,
) -> Redundancy:
    """Groups of mutually similar channels, and how many distinct maps a layer really has.

    Complete-linkage hierarchical clustering of the distance ``1 - S`` (scipy), cut at
    ``1 - threshold``: inside a group *every* pair has similarity ``>= threshold``.

    Args:
        maps, metric, layer, device, max_bytes: see :func:`pairwise`.
        threshold: similarity at or above which channels group; ``None`` uses
            :func:`default_threshold` (multiply 0.4, cosine 0.9, pearson 0.8).
        similarity: the ``(C, C)`` matrix ``pairwise(maps, metric)`` already returned, to
            skip computing it again; ``None`` computes it.

    Returns:
        :class:`Redundancy`: ``groups`` (size >= 2), ``n_distinct`` (clusters including
        singletons) and ``effective_rank`` (entropy effective rank of S).

    Raises:
        ShapeError: as :func:`pairwise`; ``similarity`` is not ``(C, C)``.
        ConvscopeError: as :func:`pairwise`; a threshold that is not finite.

    Example:
        >>> import numpy as np
        >>> base = np.random.default_rng(0).random((3, 6, 6)).astype(np.float32)
        >>> maps = np.concatenate([base, 2 * base[:1]])  # channel 3 duplicates channel 0
        >>> r = redundancy(maps, "pearson")
        >>> r.groups, r.n_distinct
        ([[0, 3]], 3)
        >>> S = pairwise(maps, "pearson")  # computed once, reused
        >>> redundancy(maps, "pearson", similarity=S).groups
        [[0, 3]]
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    m = get_metric(metric)
    thr = float(m.default_threshold if threshold is None else threshold)
    if not math.isfinite(thr):
        raise ConvscopeError(f"threshold must be a finite number, got {threshold!r}")
    sim = _matrix(maps, m, similarity, layer, device, max_bytes)
    c = sim.shape[0]
    dist = np.clip(1.0 - sim, 0.0, None)
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="complete")
    # tiny slack: a pair exactly at the threshold is "at or above" despite 1 - S rounding
    labels = fcluster(tree, t=1.0 - thr + 1e-12, criterion="distance")
    groups: dict[int, list[int]] = {}
    for ch, lab in enumerate(labels.tolist()):
        groups.setdefault(lab, []).append(ch)
    multi = sorted((g for g in groups.values() if len(g) >= 2), key=lambda g: (-len(g), g[0]))
    # relabel 0..K-1 in order of first channel, for stable output
    order = {lab: k for k, lab in enumerate(dict.fromkeys(labels.tolist()))}
    labels_out = np.array([order[lab] for lab in labels.tolist()], dtype=np.int64)
    return Redundancy(
        groups=multi,
        labels=labels_out,
        n_channels=c,
        n_distinct=len(groups),
        effective_rank=_effective_rank(sim),
        threshold=thr,
        metric=m.name,
        similarity=sim,
    )


def _flat_samples(x: ArrayLike, layer: str | None, device: Device) -> torch.Tensor:
    t = _to_tensor(x, layer, device)
    if t.ndim < 2:
        raise ShapeError(
            f"{_what(layer)} has shape {tuple(t.shape)}; cka needs activations with a leading "
            "sample axis, (N, features...)"
        )
    _check_finite(t, layer)
    return t.reshape(t.shape[0], math.prod(t.shape[1:])).double()  # N = 0 safe


def cka(
    a: ArrayLike,
    b: ArrayLike,
    *,
    layer_a: str | None = None,
    layer_b: str | None = None,
    device: Device = None,
) -> float:
    """Linear centred kernel alignment between two layers' activations on the same images.

    Each input is ``(N, ...)`` and is flattened per sample to ``(N, features)``. Columns are
    centred; constant features therefore contribute nothing. Uses the feature-space formula
    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` or the equivalent Gram (N x N) one,
    whichever is cheaper for the shapes. Invariant to isotropic scaling and orthogonal
    transforms of either side.

    Args:
        a, b: activations of two layers over the same N samples.
        layer_a, layer_b: names used in error messages.
        device: see :func:`pairwise`.

    Returns:
        a float in ``[0, 1]``; ``0.0`` when either side is entirely constant.

    Raises:
        ShapeError: the sample counts differ, there are no samples (``N = 0``) or no features
            (both shapes named), or an input is 1-D.
        ConvscopeError: NaN or Inf values.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(20, 5))
        >>> round(cka(x, 3 * x), 6)
        1.0
    """
    name_a, name_b = layer_a or "a", layer_b or "b"
    x = _flat_samples(a, name_a, device)
    y = _flat_samples(b, name_b, device)
    shape_a = tuple(a.shape) if isinstance(a, torch.Tensor) else np.shape(a)
    shape_b = tuple(b.shape) if isinstance(b, torch.Tensor) else np.shape(b)
    if x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"cka needs the same samples on both sides: {name_a} has shape {shape_a} "
            f"({x.shape[0]} samples), {name_b} has shape {shape_b} ({y.shape[0]} samples)"
        )
    if x.shape[0] < 1 or x.shape[1] < 1 or y.shape[1] < 1:
        raise ShapeError(
            f"cka needs N >= 1 samples and at least one feature on each side: {name_a} has "
            f"shape {shape_a}, {name_b} has shape {shape_b}"
        )
    if y.device != x.device:
        y = y.to(x.device)
    n, p = x.shape
    q = y.shape[1]
    x = x - x.mean(dim=0, keepdim=True)
    y = y - y.mean(dim=0, keepdim=True)
    # constant columns: centring leaves rounding noise; zero them exactly
    x[:, (x.amax(dim=0) - x.amin(dim=0)) == 0] = 0.0
    y[:, (y.amax(dim=0) - y.amin(dim=0)) == 0] = 0.0
    feature_cost = n * (p * q + p * p + q * q)
    gram_cost = n * n * (p + q) + 3 * n * n
    if feature_cost <= gram_cost:
        cross = torch.linalg.matrix_norm(y.T @ x) ** 2
        nx = torch.linalg.matrix_norm(x.T @ x)
        ny = torch.linalg.matrix_norm(y.T @ y)
    else:
        k = x @ x.T
        l_ = y @ y.T
        cross = (k * l_).sum()
        nx = torch.linalg.matrix_norm(k)
        ny = torch.linalg.matrix_norm(l_)
    denom = float(nx) * float(ny)
    if denom <= 0.0 or not math.isfinite(denom):
        return 0.0
    return float(min(1.0, max(0.0, float(cross) / denom)))
