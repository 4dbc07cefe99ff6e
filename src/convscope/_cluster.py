"""Hierarchical-clustering order of a distance matrix, shared by metrics and render.

A base module (it imports nothing of convscope but errors), so both the metrics that
rank classes and the figures that reorder matrices use one implementation. It is not
imported by ``import convscope``: scipy loads only when a clustering is asked for.

Example:
    >>> import numpy as np
    >>> order = cluster_order(np.array([[0, 9, 1], [9, 0, 9], [1, 9, 0.0]]))
    >>> abs(order.index(0) - order.index(2))  # the alike pair sits together
    1
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from .errors import ConvscopeError, ShapeError

__all__ = ["cluster_order"]


def cluster_order(
    distance: np.ndarray, method: str = "average", optimal_ordering: bool | None = None
) -> list[int]:
    """Order items (classes, channels) by hierarchical clustering, alike ones adjacent.

    Args:
        distance: a (K, K) distance matrix (made symmetric, diagonal set to 0).
        method: scipy linkage method (default average linkage).
        optimal_ordering: reorder leaves so neighbours are most alike (default: K <= 256).

    Returns:
        The item indices in dendrogram leaf order.

    Raises:
        ShapeError: the matrix is not square.
        ConvscopeError: it holds NaN or infinite entries.

    Example:
        >>> d = np.array([[0, 9, 1, 9], [9, 0, 9, 1], [1, 9, 0, 9], [9, 1, 9, 0.0]])
        >>> cluster_order(d)  # 0 beside 2 and 1 beside 3
        [0, 2, 3, 1]
    """
    dist = np.asarray(distance, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ShapeError(f"a distance matrix must be square (K, K), got shape {dist.shape}")
    if not np.all(np.isfinite(dist)):
        raise ConvscopeError("the distance matrix has NaN or infinite entries")
    n = dist.shape[0]
    if n <= 2:
        return list(range(n))
    dist = np.maximum((dist + dist.T) / 2.0, 0.0)
    np.fill_diagonal(dist, 0.0)
    if optimal_ordering is None:  # neighbours most alike; costly beyond a few hundred
        optimal_ordering = n <= 256
    tree = linkage(squareform(dist, checks=False), method=method, optimal_ordering=optimal_ordering)
    return [int(i) for i in leaves_list(tree)]
