"""The explorer's one pass over the split: every data-set statistic its views show.

One :func:`convscope.analysis.scan` feeds the evaluation (predictions and probabilities
kept, for browsing by class, by mistake and by confusion cell), the class firing profile
of the report's firing layer, a per-channel firing profile and the top-k exemplars of
every spatial layer (the channel view), and the first images' maps (the similarity
matrices). The report's sections then compute their results from these arrays.

A conv channel almost always has some cell above 0, so "fires when any cell is above 0"
would give every channel a rate of 1 for every class, and one threshold for a whole layer
would leave its quiet channels at 0. In the channel view a map therefore *fires* when its
mean activation is above that channel's own mean level over the first images (one small
forward pass before the scan measures the levels): the rate per class says which classes
drive the channel above its usual level. A channel silent on those images never fires.

Example:
    >>> import numpy as np, convscope as cs
    >>> x, y = np.random.default_rng(0).random((10, 1, 28, 28), dtype=np.float32), np.arange(10)
    >>> done = analyse(cs.models.build("mnist_convnet"), x, y, list("0123456789"),
    ...                spatial=["conv2d"], firing_layer="flatten", samples=4, exemplars=3)
    >>> done.evaluation.num_samples, done.top["conv2d"].values.shape, done.samples["conv2d"].shape
    (10, (32, 3), (4, 32, 26, 26))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..analysis import MapSampler, scan
from ..capturing import capture
from ..metrics.evaluation import EvaluationAccumulator, EvaluationMetrics
from ..metrics.firing import FiringAccumulator, FiringProfile
from ..metrics.topk import TopKAccumulator, TopKResult
from ..validation import as_numpy

__all__ = ["ChannelFiring", "SplitAnalysis", "analyse"]


@dataclass(frozen=True)
class SplitAnalysis:
    """What the pass over the split gathered.

    Attributes:
        evaluation: loss, accuracy, confusion, per-image predictions and probabilities.
        scores: what the model returns, ``"logits"`` or ``"probabilities"`` (decided on
            the first batch; uploads are scored the same way).
        firing: the class × unit firing profile of the report's firing layer (or None).
        channel_firing: per spatial layer, the class × channel firing profile (a map
            fires when its mean is above the channel's own mean level on the first images;
            the profile's threshold is 1, in units of that level).
        levels: per spatial layer, each channel's mean level ``(C,)`` on the first images.
        top: per spatial layer, each channel's top-k exemplars over the split.
        samples: per spatial layer, the maps of the split's first images.
        seconds: how long the pass took.
    """

    evaluation: EvaluationMetrics
    scores: str
    firing: FiringProfile | None
    channel_firing: dict[str, FiringProfile] = field(default_factory=dict)
    top: dict[str, TopKResult] = field(default_factory=dict)
    levels: dict[str, np.ndarray] = field(default_factory=dict)
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0


def _levels(model: Any, x: np.ndarray, spatial: Sequence[str]) -> dict[str, np.ndarray]:
    """Each spatial channel's mean activation over ``x``: the level its mean must pass."""
    if not spatial:
        return {}
    maps = capture(model, x, layers=list(spatial))
    return {name: maps[name].mean(axis=(0, 2, 3), dtype=np.float64) for name in spatial}


class ChannelFiring:
    """A :class:`~convscope.metrics.firing.FiringAccumulator` over one layer's channels,
    where a map fires when its mean is above the channel's own ``level``.

    Example:
        >>> acc = ChannelFiring("c", np.array([1.0, 0.0]), ["a", "b"])
        >>> acc.update(np.array([[[[2.0]], [[5.0]]], [[[0.5]], [[5.0]]]]), np.array([0, 1]))
        >>> acc.result().fires.tolist()  # channel 1 has level 0: silent, never fires
        [[1, 0], [0, 0]]
    """

    needs_output = False

    def __init__(self, layer: str, levels: np.ndarray, class_names: Sequence[str]) -> None:
        self.layers = [layer]
        self.levels = np.asarray(levels, np.float64)
        names = list(class_names)
        self.inner = FiringAccumulator(len(names), 1.0, "any", layer=layer, class_names=names)

    def update(self, maps: Any, labels: Any) -> None:
        """Add a batch of ``(N, C, H, W)`` maps of this layer and their labels."""
        means = as_numpy(maps, dtype=np.float32).mean(axis=(2, 3), dtype=np.float64)
        live = self.levels > 0
        scaled = np.where(live, means / np.where(live, self.levels, 1.0), 0.0)
        self.inner.update(scaled, labels)

    def feed(self, batch: Any) -> None:
        """Add one batch of a scan."""
        self.update(batch.maps[self.layers[0]], batch.labels)

    def merge(self, other: ChannelFiring) -> ChannelFiring:
        """Add ``other``'s counts (the same layer and levels)."""
        self.inner.merge(other.inner)
        return self

    def result(self) -> FiringProfile:
        """The class × channel profile (threshold 1: the channel's level)."""
        return self.inner.result()


def analyse(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    *,
    spatial: Sequence[str],
    firing_layer: str | None,
    samples: int,
    exemplars: int,
    batch_size: int = 256,
) -> SplitAnalysis:
    """Scan ``(x, y)`` once for every statistic of :class:`SplitAnalysis`.

    Args:
        spatial: the layers with (C, H, W) maps (conv and pool).
        firing_layer: the layer of the class firing profile (None: none).
        samples: how many first images' maps to keep for the similarity matrices.
        exemplars: top-k exemplars kept per channel.
    """
    names = list(class_names)
    started = time.perf_counter()
    evaluation = EvaluationAccumulator(class_names=names, keep_predictions=True)
    wanted: list[Any] = [evaluation]
    if firing_layer is not None:
        wanted.append(FiringAccumulator(len(names), layer=firing_layer, class_names=names))
    levels = _levels(model, x[: max(1, min(samples, len(x)))], spatial)
    per_layer = [ChannelFiring(n, levels[n], names) for n in spatial]
    extra: list[Any] = []
    if spatial:
        extra = [TopKAccumulator(k=exemplars, layers=list(spatial)),
                 MapSampler(list(spatial), first=min(samples, len(x)))]  # fmt: skip
    results = scan(model, (x, y), *wanted, *per_layer, *extra, batch_size=batch_size)
    k = len(wanted)
    layer_profiles = results[k : k + len(per_layer)]
    top, kept = (results[-2], results[-1]) if extra else ({}, {})
    return SplitAnalysis(
        evaluation=results[0],
        scores=evaluation.scores_ or "logits",
        firing=results[1] if firing_layer is not None else None,
        channel_firing=dict(zip(spatial, layer_profiles, strict=True)),
        top=dict(top),
        levels=levels,
        samples=dict(kept),
        seconds=time.perf_counter() - started,
    )
