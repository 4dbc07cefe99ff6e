"""The most and least similar channel pairs (seed 000) and groups of redundant channels."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from .._threads import small_ops_on_one_thread
from ..errors import ConvscopeError
from . import _sim_metrics  # noqa: F401  (registers the built-in metrics)
from ._sim_core import DEFAULT_MAX_BYTES, SimilarityMetric, get_metric
from ._sim_input import ArrayLike, Device, inactive_of, matrix_of, peaks, validate
from ._sim_results import ExtremePairs, Inactive, Pair, Redundancy

__all__ = ["extreme_pairs", "redundancy"]


@small_ops_on_one_thread
def extreme_pairs(
    maps: ArrayLike,
    metric: str | SimilarityMetric = "multiply",
    *,
    max_ratio: float = 3.0,
    include_dead: bool = False,
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
        include_dead: also search pairs with a dead or constant channel (seed 000 does);
            by default they are left out and listed in ``excluded``.
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
        >>> from convscope.metrics.similarity import pairwise
        >>> extreme_pairs(maps, similarity=pairwise(maps)) == ep  # the matrix computed once
        True
    """
    m = get_metric(metric)
    if not (isinstance(max_ratio, (int, float)) and max_ratio > 0):
        raise ConvscopeError(f"max_ratio must be a positive number, got {max_ratio!r}")
    sim = matrix_of(maps, m, similarity, layer, device, max_bytes)
    inactive = (
        Inactive([], [], sim.shape[0])
        if include_dead
        else inactive_of(validate(maps, m, layer, device))
    )
    active = np.array(inactive.active, dtype=np.int64)
    iu, ju = (active[k] for k in np.triu_indices(len(active), k=1))
    if len(iu) == 0:
        return ExtremePairs(None, None, m.name, float(max_ratio), inactive.excluded)
    values = sim[iu, ju]
    k = int(np.argmax(values))
    most = Pair(int(iu[k]), int(ju[k]), float(values[k]))

    tops = peaks(maps, layer)  # float32 (or float64), like the seed's np.max
    ti, tj = tops[torch.from_numpy(iu)], tops[torch.from_numpy(ju)]
    hi, lo = torch.maximum(ti, tj), torch.minimum(ti, tj)
    ok = (lo > 0) & (hi / torch.where(lo > 0, lo, torch.ones_like(lo)) < max_ratio)
    ok_np = ok.numpy()
    least = None
    if ok_np.any():
        masked = np.where(ok_np, values, np.inf)
        k = int(np.argmin(masked))
        least = Pair(int(iu[k]), int(ju[k]), float(values[k]))
    return ExtremePairs(most, least, m.name, float(max_ratio), inactive.excluded)


def _effective_rank(sim: np.ndarray) -> float:
    eig = np.linalg.eigvalsh((sim + sim.T) / 2.0)
    eig = np.clip(eig, 0.0, None)
    total = eig.sum()
    if total <= 0:
        return 0.0
    p = eig[eig > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


@small_ops_on_one_thread
def redundancy(
    maps: ArrayLike,
    metric: str | SimilarityMetric = "multiply",
    *,
    threshold: float | None = None,
    include_dead: bool = False,
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
        include_dead: also group dead and constant channels; by default they are left
            out (``excluded``), so a dead layer does not count as many distinct maps.
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
        >>> from convscope.metrics.similarity import pairwise
        >>> S = pairwise(maps, "pearson")  # computed once, reused
        >>> redundancy(maps, "pearson", similarity=S).groups
        [[0, 3]]
    """
    m = get_metric(metric)
    thr = float(m.default_threshold if threshold is None else threshold)
    if not math.isfinite(thr):
        raise ConvscopeError(f"threshold must be a finite number, got {threshold!r}")
    sim = matrix_of(maps, m, similarity, layer, device, max_bytes)
    c = sim.shape[0]
    inactive = (
        Inactive([], [], c) if include_dead else inactive_of(validate(maps, m, layer, device))
    )
    active = inactive.active
    labels_out = np.full(c, -1, dtype=np.int64)
    sub = sim[np.ix_(active, active)]
    groups: dict[int, list[int]] = {}
    if len(active) >= 2:
        dist = np.clip(1.0 - sub, 0.0, None)
        dist = (dist + dist.T) / 2.0
        np.fill_diagonal(dist, 0.0)
        tree = linkage(squareform(dist, checks=False), method="complete")
        # tiny slack: a pair exactly at the threshold is "at or above" despite 1 - S rounding
        labels = fcluster(tree, t=1.0 - thr + 1e-12, criterion="distance").tolist()
    else:
        labels = list(range(len(active)))
    for ch, lab in zip(active, labels, strict=True):
        groups.setdefault(lab, []).append(ch)
    multi = sorted((g for g in groups.values() if len(g) >= 2), key=lambda g: (-len(g), g[0]))
    # relabel 0..K-1 in order of first channel, for stable output
    order = {lab: k for k, lab in enumerate(dict.fromkeys(labels))}
    labels_out[active] = [order[lab] for lab in labels]
    return Redundancy(
        groups=multi,
        labels=labels_out,
        n_channels=c,
        n_distinct=len(groups),
        effective_rank=_effective_rank(sub) if len(active) else 0.0,
        threshold=thr,
        metric=m.name,
        similarity=sim,
        excluded=inactive.excluded,
    )
