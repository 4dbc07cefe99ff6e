"""Square matrices: channel similarity (with dead and flat channels marked) and class distances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._cluster import cluster_order as order_of_distances
from ..errors import ConvscopeError, ShapeError
from . import _fig, _heat
from ._tiles import as_array, finite, shorten

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

DAGGER = "†"


def square(m: Any, name: str) -> np.ndarray:
    """``m`` as a finite float64 ``(K, K)`` array, or a ShapeError naming its shape."""
    arr = as_array(m, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ShapeError(f"{name}: expected a square (K, K) matrix, got {arr.shape}")
    return finite(arr, name).astype(np.float64)


def names_for(labels: Sequence[str] | None, k: int, what: str = "class_names") -> list[str]:
    """``labels`` as K strings (default ``0..K-1``), or a ShapeError when too few."""
    if labels is None:
        return [str(i) for i in range(k)]
    names = [str(c) for c in labels]
    if len(names) < k:
        raise ShapeError(f"{what}: {len(names)} names for {k} classes")
    return names


def tick_step(k: int, axis_in: float, fontsize: float) -> int:
    """Label every ``step``-th tick so labels of ``fontsize`` do not overlap."""
    return max(1, int(np.ceil(k * fontsize * 1.25 / 72.0 / max(axis_in, 1e-6))))


def cluster_order(S: Any, method: str = "average") -> np.ndarray:
    """Channel order from hierarchical clustering of a similarity matrix (similar ones adjacent).

    Distances are ``max(S) - S`` (symmetrised, zero diagonal), clustered with scipy.

    Example:
        >>> S = np.eye(4); S[0, 3] = S[3, 0] = 0.9
        >>> o = cluster_order(S).tolist()
        >>> abs(o.index(0) - o.index(3))
        1
    """
    s = square(S, "S")
    s = (s + s.T) / 2
    return np.asarray(order_of_distances(s.max() - s, method=method), dtype=np.int64)


def display_order(
    S: Any, order: str | Sequence[int] | None = "cluster", excluded: Sequence[int] = ()
) -> np.ndarray:
    """The order :func:`similarity_matrix` shows channels in: clustered live channels, then
    the excluded ones (``order="cluster"``), as given (``None``) or an explicit order.

    Example:
        >>> S = np.eye(4); S[0, 3] = S[3, 0] = 0.9
        >>> display_order(S, excluded=[1]).tolist()[-1]
        1
    """
    s = square(S, "S")
    return _order(order, s, _checked_channels(excluded, s.shape[0], "excluded"))


def _order(order: Any, s: np.ndarray, excluded: list[int]) -> np.ndarray:
    """The display order: clustered live channels, then the excluded ones."""
    c = s.shape[0]
    if isinstance(order, str):
        if order != "cluster":
            raise ConvscopeError(
                f"order must be 'cluster', None or a list of indices; got {order!r}"
            )
        live = np.array([k for k in range(c) if k not in set(excluded)], dtype=np.int64)
        if len(live) > 2:
            live = live[cluster_order(s[np.ix_(live, live)])]
        return np.concatenate([live, np.array(excluded, dtype=np.int64)])
    if order is None:
        return np.arange(c)
    idx = np.asarray(order, dtype=np.int64)
    if sorted(idx.tolist()) != list(range(c)):
        raise ShapeError(f"order: expected a permutation of 0..{c - 1}")
    return idx


def _checked_channels(channels: Any, c: int, name: str) -> list[int]:
    if channels is None:
        return []
    chosen = sorted({int(k) for k in np.atleast_1d(np.asarray(list(channels), dtype=np.int64))})
    bad = [k for k in chosen if not 0 <= k < c]
    if bad:
        raise ShapeError(f"{name}: channel(s) {bad} out of range for a {c}x{c} matrix")
    return chosen


def _group_blocks(groups: Any, idx: np.ndarray) -> list[tuple[int, int]]:
    """``(start, size)`` of each group that is contiguous in the display order."""
    c = len(idx)
    pos = np.empty(c, np.int64)
    pos[idx] = np.arange(c)
    g = groups
    if (
        isinstance(g, np.ndarray)
        and g.ndim == 1
        and len(g) == c
        and np.issubdtype(g.dtype, np.integer)
    ):
        g = [np.flatnonzero(g == v).tolist() for v in np.unique(g) if v >= 0]
    blocks = []
    for members in g:
        p = np.sort(pos[np.asarray(list(members), dtype=np.int64)])
        if len(p) and p[-1] - p[0] + 1 == len(p):
            blocks.append((int(p[0]), len(p)))
    return blocks


def similarity_matrix(
    S: Any,
    order: str | Sequence[int] | None = "cluster",
    labels: Sequence[str] | None = None,
    groups: Any = None,
    cmap: Any = _fig.MAPS_CMAP,
    title: str | None = None,
    *,
    metric: str | None = None,
    excluded: Sequence[int] | None = None,
    diagonal: bool = False,
) -> Figure:
    """The ``C x C`` channel similarity matrix, reordered so redundant groups sit together.

    The diagonal (a map's similarity to itself: not 1 for ``multiply``) is masked so it
    does not set the colour scale; excluded (dead or flat) channels go last, their rows
    and columns hatched and their labels marked with a dagger. One image, drawn once.

    Args:
        S: ``(C, C)`` similarities (e.g. ``convscope.metrics.similarity.pairwise``).
        order: ``"cluster"`` (hierarchical clustering of the live channels), ``None`` (as
            given) or an explicit order.
        labels: C labels (default: the original channel numbers); numbers are drawn
            with the figure's digit font, other labels as text.
        groups: redundant groups to frame: a list of channel lists, or a length-C array of
            group ids (-1 for none). Contiguous groups get a frame.
        metric: the metric's name, for the colour bar's label.
        excluded: channels left out of the statistics (e.g. ``Inactive.excluded``).
        diagonal: show the diagonal too.

    Example:
        >>> S = np.random.rand(16, 16); S = (S + S.T) / 2
        >>> fig = similarity_matrix(S, groups=[[2, 5, 9]], metric="multiply", excluded=[4])
        >>> [t.get_text() for t in fig.texts]
        ['channel similarity (16 channels, clustered); † 1 dead/flat, excluded']
    """
    s = square(S, "S")
    c = s.shape[0]
    gone = _checked_channels(excluded, c, "excluded")
    idx = _order(order, s, gone)
    names = [str(i) for i in range(c)] if labels is None else names_for(labels, c, "labels")
    mask = np.zeros((c, c), bool)
    if not diagonal:
        np.fill_diagonal(mask, True)
    pos_gone = [int(np.flatnonzero(idx == k)[0]) for k in gone]
    mask[pos_gone, :] = True
    mask[:, pos_gone] = True
    shown = s[np.ix_(idx, idx)]
    live = shown[~mask]
    vmin, vmax = (float(live.min()), float(live.max())) if live.size else (0.0, 1.0)
    tick = [shorten(names[i], 8) + (DAGGER if i in gone else "") for i in idx]
    if title is None:
        title = (
            f"channel similarity ({c} channels{', clustered' if isinstance(order, str) else ''})"
        )
        title += f"; {DAGGER} {len(gone)} dead/flat, excluded" if gone else ""
    cell = _heat.cell_size(c)
    return _heat.matrix_figure(
        _heat.cell_colors(shown, cmap, vmin, vmax, mask), cell, title=title,
        row_labels=tick, col_labels=tick, hatched=pos_gone,
        frames=_group_blocks(groups, idx) if groups is not None else (),
        cbar=(cmap, vmin, vmax, f"{metric} similarity" if metric else "similarity"),
    )  # fmt: skip


def distance_matrix(
    D: Any,
    labels: Sequence[str] | None = None,
    order: str | Sequence[int] | None = "cluster",
    cmap: Any = "viridis_r",
    title: str | None = None,
    *,
    unit: str = "distance",
    annotate: bool | None = None,
    fmt: str = ".3f",
) -> Figure:
    """A ``K x K`` distance matrix in its own units, values printed (closer is brighter).

    Seed 001 compares classes by the mean absolute difference of their firing rates:
    this draws those numbers as they are (the table's units), not a rescaled similarity.

    Args:
        D: ``(K, K)`` distances (0 on the diagonal, which is masked).
        labels: K names.
        order: ``"cluster"`` (close classes adjacent), ``None`` or an explicit order.
        unit: the colour bar's label, e.g. ``"mean |Δ firing rate| (L1)"``.
        annotate: print the values (default when K <= 20).

    Example:
        >>> d = np.abs(np.subtract.outer(np.arange(4.0), np.arange(4.0)))
        >>> fig = distance_matrix(d, ["a", "b", "c", "d"], unit="L1")
        >>> fig.texts[0].get_text()
        'distances between classes (L1); diagonal hidden'
    """
    d = square(D, "D")
    k = d.shape[0]
    names = names_for(labels, k, "labels")
    if isinstance(order, str):
        idx = (
            np.asarray(order_of_distances((d + d.T) / 2), dtype=np.int64) if k > 2 else np.arange(k)
        )
    else:
        idx = _order(order, d, [])
    shown = d[np.ix_(idx, idx)]
    mask = np.eye(k, dtype=bool)
    live = shown[~mask]
    vmin, vmax = (float(live.min()), float(live.max())) if live.size else (0.0, 1.0)
    cell = _heat.cell_size(k, 560, 8, 64)
    texts = None
    if annotate or (annotate is None and k <= 20):
        texts = np.array(
            [
                [format(v, fmt).lstrip("0") if v < 1 else format(v, fmt) for v in row]
                for row in shown
            ],
            dtype=object,
        )
        texts[mask] = ""
    tick = [names[i] for i in idx]
    return _heat.matrix_figure(
        _heat.cell_colors(shown, cmap, vmin, vmax, mask), cell,
        title=title or f"distances between classes ({unit}); diagonal hidden",
        row_labels=tick, col_labels=tick, texts=texts, text_size=13 if cell >= 44 else 10,
        cbar=(cmap, vmin, vmax, unit),
    )  # fmt: skip
