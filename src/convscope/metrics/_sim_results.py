"""What the similarity functions return: pairs, extremes, redundancy groups, inactive channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = ["ExtremePairs", "Inactive", "Pair", "Redundancy"]


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
class Inactive:
    """Channels with nothing to compare: left out of similarity summaries by default.

    A dead channel never fires (never above 0 on any image or cell): a broken or pruned
    unit. A constant channel is not dead but flat (the same value in every cell of every
    image, or for dense units across every sample). Both normalise to an all-zero map, so
    their similarity to everything is 0 (multiply) or undefined: counting them in a mean
    would make a layer of broken channels look least redundant.

    Attributes:
        dead: indices of dead channels.
        constant: indices of constant (not dead) channels.
        n_channels: C.

    Example:
        >>> import numpy as np
        >>> maps = np.random.default_rng(0).random((4, 3, 3))
        >>> maps[1] = 0.0  # dead
        >>> maps[2] = 0.5  # constant
        >>> from convscope.metrics.similarity import inactive_channels
        >>> inactive_channels(maps).excluded
        [1, 2]
    """

    dead: list[int]
    constant: list[int]
    n_channels: int

    @property
    def excluded(self) -> list[int]:
        """Dead and constant channels, sorted."""
        return sorted(self.dead + self.constant)

    @property
    def active(self) -> list[int]:
        """The channels compared."""
        gone = set(self.dead) | set(self.constant)
        return [c for c in range(self.n_channels) if c not in gone]


@dataclass(frozen=True)
class ExtremePairs:
    """The most similar pair and the least similar pair of comparable peak activation.

    Attributes:
        most: the pair with the highest similarity (first in ``i < j`` order on ties);
            ``None`` when fewer than two channels are compared.
        least: the pair with the lowest similarity among pairs whose peaks are both
            positive and within ``max_ratio`` of each other; ``None`` when no pair qualifies.
        metric: the metric used.
        max_ratio: the peak ratio bound used for ``least``.
        excluded: the dead and constant channels left out (see :class:`Inactive`).

    Example:
        >>> ExtremePairs(Pair(0, 1, 0.4), None, "multiply", 3.0).least is None
        True
    """

    most: Pair | None
    least: Pair | None
    metric: str
    max_ratio: float
    excluded: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Redundancy:
    """Groups of mutually similar channels and the effective number of distinct maps.

    Attributes:
        groups: lists of channel indices (each of size >= 2, sorted, largest group first)
            whose every pair has similarity >= ``threshold`` (complete linkage).
        labels: ``(C,)`` cluster id of each channel (singletons get their own id; -1 for
            an excluded channel).
        n_channels: C.
        n_distinct: number of clusters of compared channels, singletons included: the
            channels that would remain if each group were merged into one map.
        effective_rank: ``exp`` of the Shannon entropy of the normalised eigenvalue spectrum
            of the similarity matrix (negative eigenvalues clipped to 0; Roy & Vetterli
            2007). ``C`` for mutually orthogonal maps, ``1`` for identical maps; meaningful
            chiefly for ``cosine`` / ``pearson`` whose matrices are Gram matrices.
        threshold: similarity threshold used.
        metric: metric used.
        similarity: the ``(C, C)`` similarity matrix the groups were cut from.
        excluded: dead and constant channels left out (label -1, in no group, not counted
            in ``n_distinct`` or ``effective_rank``).

    Example:
        >>> import numpy as np
        >>> from convscope.metrics.similarity import redundancy
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
    excluded: list[int] = field(default_factory=list)

    @property
    def redundant_fraction(self) -> float:
        """Fraction of compared channels that merge away: ``1 - n_distinct / compared``.

        Example:
            >>> import numpy as np
            >>> from convscope.metrics.similarity import redundancy
            >>> eye = np.eye(4).reshape(4, 2, 2)  # four orthogonal maps: nothing merges
            >>> redundancy(eye, "cosine").redundant_fraction
            0.0
        """
        compared = self.n_channels - len(self.excluded)
        return 1.0 - self.n_distinct / compared if compared else 0.0
