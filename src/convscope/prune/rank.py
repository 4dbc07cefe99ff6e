"""Which channels of a layer to remove first: :func:`rank_channels` by four criteria.

* ``redundancy`` -- the channel most similar to another channel goes first (channel
  similarity of the layer's maps on ``data``, seed 000's ``multiply`` metric by default).
  Dead and constant channels carry nothing and go before any live one.
* ``weight_norm`` -- the filter with the smallest L1 norm goes first (Li et al. 2017,
  "Pruning Filters for Efficient ConvNets").
* ``fpgm`` -- the filter nearest the layer's geometric median goes first: the smallest sum
  of Euclidean distances to the other filters (He et al. 2019, "Filter Pruning via
  Geometric Median"), the filter the others can best stand in for.
* ``random`` -- a seeded random order: the baseline every criterion must beat.

Example:
    >>> import numpy as np, convscope as cs
    >>> model = cs.models.build("mnist_convnet")
    >>> ranking = rank_channels(model, None, "conv2d_1", by="weight_norm")
    >>> len(ranking.order), len(ranking.select(fraction=0.25))
    (64, 16)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..analysis.scan import resolve_one
from ..capturing import capture
from ..errors import ConvscopeError, UnknownNameError
from ..metrics.similarity import inactive_channels, pairwise
from ..validation import as_numpy, check_int, check_real

__all__ = ["CRITERIA", "ChannelRanking", "rank_channels", "redundancy_order"]

CRITERIA = ("redundancy", "weight_norm", "fpgm", "random")
"""What :func:`rank_channels` ranks by."""


@dataclass(frozen=True)
class ChannelRanking:
    """Channels of one layer in the order to remove them (most removable first).

    Attributes:
        layer: the layer ranked.
        by: the criterion (one of :data:`CRITERIA`).
        order: every channel index once, most removable first.
        scores: one number per channel (by channel index): the similarity to the most
            similar remaining channel when it was removed (``redundancy``; ``inf`` for a
            dead or constant channel), the filter's L1 norm (``weight_norm``), its summed
            distance to the other filters (``fpgm``), or its rank (``random``).
        metric: the similarity metric (``redundancy`` only).
        inactive: dead and constant channels found on the data (``redundancy`` only).
    """

    layer: str
    by: str
    order: tuple[int, ...]
    scores: tuple[float, ...]
    metric: str | None = None
    inactive: tuple[int, ...] = ()

    @property
    def num_channels(self) -> int:
        """C, the layer's channels (units)."""
        return len(self.order)

    def count_for(self, fraction: float) -> int:
        """The number of channels a ``fraction`` of the layer removes (rounded).

        Example:
            >>> ChannelRanking("c", "random", (2, 0, 1, 3), (0.0,) * 4).count_for(0.3)
            1
        """
        fraction = check_real(fraction, "fraction", minimum=0.0)
        if fraction >= 1.0:
            raise ConvscopeError(
                f"fraction must be below 1 (a layer keeps at least one channel), got {fraction}"
            )
        return int(round(fraction * self.num_channels))

    def select(self, count: int | None = None, *, fraction: float | None = None) -> list[int]:
        """The first ``count`` channels of the order (or a ``fraction`` of them), sorted.

        Raises:
            ConvscopeError: neither or both given; a count that would leave no channel.

        Example:
            >>> ChannelRanking("c", "random", (2, 0, 1, 3), (0.0,) * 4).select(2)
            [0, 2]
        """
        if (count is None) == (fraction is None):
            raise ConvscopeError("select takes a count or a fraction of channels, not both")
        if fraction is not None:
            count = self.count_for(fraction)
        count = check_int(count, "count", minimum=0)
        if count >= self.num_channels:
            raise ConvscopeError(
                f"cannot remove {count} of the {self.num_channels} channels of {self.layer}: "
                "a layer keeps at least one; ask for fewer"
            )
        return sorted(self.order[:count])

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``inf`` scores as None).

        Example:
            >>> ChannelRanking("c", "random", (1, 0), (1.0, 0.0)).to_json()["order"]
            [1, 0]
        """
        record = asdict(self)
        record["order"] = list(self.order)
        record["scores"] = [s if np.isfinite(s) else None for s in self.scores]
        record["inactive"] = list(self.inactive)
        return record


def redundancy_order(
    similarity: np.ndarray, skip: Sequence[int] = ()
) -> tuple[list[int], list[float]]:
    """Greedy removal order from a channel similarity matrix: redundant channels first.

    ``skip`` (dead or constant channels) comes first, in index order. Then, while more
    than one channel remains, the most similar remaining pair is found and the one of the
    two more similar to the rest (larger summed similarity; lower index on a tie) is
    removed; the last channel left comes last.

    Returns:
        ``(order, scores)``: the order, and per channel index the pair similarity at its
        removal (``inf`` for ``skip``, ``-inf`` for the last channel).

    Example:
        >>> S = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
        >>> redundancy_order(S)
        ([1, 0, 2], [0.1, 0.9, -inf])
    """
    sim = np.array(similarity, dtype=np.float64)
    n = sim.shape[0]
    scores = np.full(n, -np.inf)
    order = sorted(int(c) for c in set(skip))
    scores[order] = np.inf
    alive = [c for c in range(n) if c not in set(order)]
    np.fill_diagonal(sim, -np.inf)
    while len(alive) > 1:
        sub = sim[np.ix_(alive, alive)]
        i, j = np.unravel_index(int(np.argmax(sub)), sub.shape)
        totals = np.where(np.isfinite(sub), sub, 0.0).sum(axis=1)
        drop = alive[i] if (totals[i], -alive[i]) >= (totals[j], -alive[j]) else alive[j]
        scores[drop] = float(sub[i, j])
        order.append(drop)
        alive.remove(drop)
    order += alive
    return order, [float(s) for s in scores]


def _weights(model: Any, layer: str) -> np.ndarray:
    """The layer's filters as (out, fan_in) float64: one row per channel (unit)."""
    if not isinstance(model, torch.nn.Module):
        raise ConvscopeError(
            f"ranking by weights reads torch modules; got a {type(model).__name__}. Rank a "
            "Keras or ONNX model by='redundancy', or convert it to a zoo model"
        )
    module = dict(model.named_modules())[layer.replace("/", ".")]  # adapters join with "/"
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim not in (2, 4):
        raise ConvscopeError(
            f"layer {layer} has no conv or dense weights to rank; pick a conv or dense layer"
        )
    return as_numpy(weight, dtype=np.float64).reshape(weight.shape[0], -1)


def _images(data: Any, samples: int) -> np.ndarray:
    """Up to ``samples`` images of ``data``: an array, an (images, labels) pair or a Dataset."""
    if data is None:
        raise ConvscopeError(
            "by='redundancy' compares the layer's maps on images: pass data (images, an "
            "(images, labels) pair or a data set, whose training split is used)"
        )
    images = getattr(data, "x_train", None)
    if images is None:
        images = data[0] if isinstance(data, (tuple, list)) and len(data) == 2 else data
    return as_numpy(images[:samples], dtype=np.float32)


def rank_channels(
    model: Any,
    data: Any,
    layer: str | int,
    by: str = "redundancy",
    *,
    metric: str = "multiply",
    samples: int = 256,
    seed: int = 0,
    batch_size: int = 256,
) -> ChannelRanking:
    """Rank the channels (units) of one layer from most to least removable.

    Args:
        model: a torch module (a zoo model for :func:`convscope.prune.prune`).
        data: images for ``redundancy`` (an array, an ``(images, labels)`` pair or a
            :class:`~convscope.data.Dataset`, whose *training* split is used, so the test
            split stays unseen); ignored by the other criteria (pass None).
        layer: a conv or dense layer, by name or index.
        by: ``"redundancy"``, ``"weight_norm"``, ``"fpgm"`` or ``"random"`` (see the module).
        metric: similarity metric for ``redundancy`` (``multiply``, ``cosine``, ``pearson``).
        samples: images compared for ``redundancy`` (the first ones of ``data``).
        seed: the ``random`` order's seed.
        batch_size: images per forward pass.

    Returns:
        A :class:`ChannelRanking`; ``ranking.select(fraction=0.3)`` gives the channels to
        hand to :func:`convscope.prune.prune`.

    Raises:
        UnknownNameError: unknown criterion or layer (the message lists what exists).
        ConvscopeError: a layer without weights, no data for ``redundancy``.

    Example:
        >>> import numpy as np, convscope as cs
        >>> model = cs.models.build("mnist_convnet")
        >>> x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
        >>> r = rank_channels(model, x, "conv2d", by="redundancy", metric="cosine")
        >>> sorted(r.order) == list(range(32)), r.metric
        (True, 'cosine')
    """
    if by not in CRITERIA:
        raise UnknownNameError("pruning criterion", [str(by)], CRITERIA)
    name = resolve_one(model, layer, "rank_channels")
    if by == "redundancy":
        samples = check_int(samples, "samples", minimum=1)
        maps = capture(model, _images(data, samples), layers=[name], batch_size=batch_size)[name]
        inactive = inactive_channels(maps, layer=name).excluded
        order, scores = redundancy_order(pairwise(maps, metric, layer=name), inactive)
        return ChannelRanking(name, by, tuple(order), tuple(scores), metric, tuple(inactive))
    weights = _weights(model, name)
    if by == "weight_norm":
        score = np.abs(weights).sum(axis=1)
    elif by == "fpgm":
        diff = weights[:, None, :] - weights[None, :, :]
        score = np.sqrt((diff * diff).sum(axis=-1)).sum(axis=1)
    else:
        perm = np.random.default_rng(check_int(seed, "seed")).permutation(len(weights))
        score = np.argsort(perm).astype(np.float64)  # channel perm[0] has score 0: first
    order = [int(c) for c in np.argsort(score, kind="stable")]
    return ChannelRanking(name, by, tuple(order), tuple(float(s) for s in score))
