"""Data-set-wide channel statistics for every captured layer, in one streaming pass.

Per layer: the mean activation of each channel, the fraction of samples on which each
channel fires (any cell above ``threshold``), the dead channels (never fire on the whole
data set), and the layer's mean channel similarity averaged over images (seed 000's
"multiply" similarity, computed by :func:`convscope.metrics.similarity.mean_similarity`
with ``per_image=True``) rather than measured on one image.

:class:`ChannelStats` is an accumulator: fire counts are integers and the similarity is
kept as a sum and a count of per-image values, so partial results merge exactly (the
float sums up to rounding). Arrays in, arrays out: the model-running wrapper
``channel_stats`` lives in :mod:`convscope.analysis.stats`, which feeds this accumulator
from :func:`convscope.analysis.scan`.

Example:
    >>> import numpy as np
    >>> acc = ChannelStats(similarity_samples=0)
    >>> acc.update({"dense": np.array([[0.0, 1.0], [0.0, 3.0]])})
    >>> s = acc.result()["dense"]
    >>> s.mean.tolist(), s.fire_fraction.tolist(), s.dead.tolist()
    ([0.0, 2.0], [0.0, 1.0], [0])
"""

from __future__ import annotations

import importlib
import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConvscopeError, ShapeError
from ..validation import as_numpy
from .accumulator import Batch
from .firing import check_threshold
from .similarity import mean_similarity

__all__ = ["ChannelStats", "LayerStats"]


def __getattr__(name: str) -> Any:
    # channel_stats runs a model: it moved to convscope.analysis.stats (deprecated alias)
    if name != "channel_stats":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        "convscope.metrics.stats.channel_stats moved to convscope.analysis.stats.channel_stats; "
        "import it from there",
        DeprecationWarning,
        stacklevel=2,
    )
    return importlib.import_module("convscope.analysis.stats").channel_stats


@dataclass
class LayerStats:
    """Channel statistics of one layer over a whole data set.

    Attributes:
        layer: the layer name.
        num_samples: images seen.
        mean: (C,) float64, mean activation per channel (over images and cells).
        fire_fraction: (C,) float64, fraction of images on which the channel fired
            (any cell above ``threshold``).
        dead: indices of the channels that never fired on the whole data set.
        threshold: a channel fires when a cell is above this.
        mean_similarity: the layer's mean channel similarity ("multiply") averaged over
            ``similarity_samples`` images; ``None`` for layers that are not conv maps
            with at least 2 channels (or when no image was sampled).
        similarity_samples: how many images the similarity was averaged over.
        nonfinite: NaN/Inf activations seen (0 for a healthy layer); images holding any
            are left out of the similarity, and a NaN never counts as firing.
        nonfinite_images: how many images held at least one.
    """

    layer: str
    num_samples: int
    mean: np.ndarray
    fire_fraction: np.ndarray
    dead: np.ndarray
    threshold: float = 0.0
    mean_similarity: float | None = None
    similarity_samples: int = 0
    nonfinite: int = 0
    nonfinite_images: int = 0

    @property
    def num_channels(self) -> int:
        """C, the number of channels (or units)."""
        return int(self.mean.shape[0])

    @property
    def dead_fraction(self) -> float:
        """The fraction of channels that never fired."""
        return len(self.dead) / self.num_channels if self.num_channels else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict.

        Example:
            >>> acc = ChannelStats(similarity_samples=0)
            >>> acc.update({"d": np.array([[1.0]])})
            >>> acc.result()["d"].to_dict()["dead"]
            []
        """
        return {
            "layer": self.layer,
            "num_samples": self.num_samples,
            "num_channels": self.num_channels,
            "threshold": self.threshold,
            "mean": self.mean.tolist(),
            "fire_fraction": self.fire_fraction.tolist(),
            "dead": self.dead.tolist(),
            "dead_fraction": self.dead_fraction,
            "mean_similarity": self.mean_similarity,
            "similarity_samples": self.similarity_samples,
            "nonfinite": self.nonfinite,
            "nonfinite_images": self.nonfinite_images,
        }


class _LayerState:
    """Running sums for one layer."""

    def __init__(self, unit_shape: tuple[int, ...]) -> None:
        channels = unit_shape[0] if unit_shape else 1
        self.unit_shape = unit_shape
        self.count = 0
        self.sum_mean = np.zeros(channels, np.float64)  # sum over images of per-image means
        self.fires = np.zeros(channels, np.int64)
        self.sim_sum = 0.0
        self.sim_count = 0
        self.nonfinite = 0
        self.nonfinite_images = 0


class ChannelStats:
    """Accumulate :class:`LayerStats` for several layers; ``update``, ``merge``, ``result``.

    Args:
        threshold: a channel fires on an image when any of its cells is above this.
        similarity_samples: compute the per-image mean channel similarity on at most this
            many images per layer (the first ones fed), to bound its cost (it is
            quadratic in channels); ``None`` for every image, 0 to skip it. After a
            merge, the count is the sum of both parts' samples.
        similarity_metric: the metric passed to ``mean_similarity``.
        layers: the layer selection a scan feeds (names, indices, kinds, globs; default
            every conv layer); ``update`` takes whatever layers it is given.

    Example:
        >>> a, b = ChannelStats(similarity_samples=0), ChannelStats(similarity_samples=0)
        >>> a.update({"d": np.array([[1.0, 0.0]])})
        >>> b.update({"d": np.array([[0.0, 0.0]])})
        >>> a.merge(b).result()["d"].fire_fraction.tolist()
        [0.5, 0.0]
    """

    def __init__(
        self,
        threshold: float = 0.0,
        similarity_samples: int | None = 256,
        similarity_metric: str = "multiply",
        *,
        layers: Any = "conv",
    ) -> None:
        self.threshold = check_threshold(threshold)
        self.layers = layers
        if similarity_samples is not None and (
            isinstance(similarity_samples, bool)
            or not isinstance(similarity_samples, numbers.Integral)
            or similarity_samples < 0
        ):
            raise ConvscopeError(
                f"similarity_samples must be a non-negative integer or None, got "
                f"{similarity_samples!r}"
            )
        self.similarity_samples = similarity_samples
        self.similarity_metric = similarity_metric
        self.layers_: dict[str, _LayerState] = {}

    needs_output = False

    def feed(self, batch: Batch) -> None:
        """Add one batch of a scan (the maps of the layers it resolved from :attr:`layers`)."""
        self.update(batch.maps)

    def update(self, maps: Mapping[str, Any]) -> None:
        """Add one batch: ``{layer: activations}``, conv maps (N, C, H, W), dense (N, U).

        Raises:
            ShapeError: a layer's shape differs from earlier batches.
        """
        for name, value in maps.items():
            acts = as_numpy(value)
            if acts.ndim == 1:
                acts = acts[:, None]
            if acts.ndim == 0:
                raise ShapeError(f"layer {name!r}: activations need a batch axis, got a scalar")
            state = self.layers_.get(name)
            if state is None:
                state = self.layers_[name] = _LayerState(tuple(acts.shape[1:]))
            elif tuple(acts.shape[1:]) != state.unit_shape:
                raise ShapeError(
                    f"layer {name!r}: batch of shape {acts.shape} does not fit earlier "
                    f"batches (N, {', '.join(map(str, state.unit_shape))})"
                )
            n = acts.shape[0]
            if n == 0:
                continue
            flat = acts.reshape(n, acts.shape[1], -1)
            state.count += n
            state.sum_mean += flat.mean(axis=2, dtype=np.float64).sum(axis=0)
            state.fires += (flat > self.threshold).any(axis=2).sum(axis=0, dtype=np.int64)
            finite = np.isfinite(flat).reshape(n, -1)
            if finite.all():
                self._update_similarity(state, acts)
                continue
            state.nonfinite += int(finite.size - finite.sum())
            healthy = finite.all(axis=1)
            state.nonfinite_images += int(n - healthy.sum())
            self._update_similarity(state, acts[healthy])  # NaN images have no similarity

    def _update_similarity(self, state: _LayerState, acts: np.ndarray) -> None:
        if acts.ndim != 4 or acts.shape[1] < 2 or acts.shape[0] == 0:
            return
        room = (
            acts.shape[0]
            if self.similarity_samples is None
            else self.similarity_samples - state.sim_count
        )
        if room <= 0:
            return
        values = np.asarray(
            mean_similarity(acts[:room], metric=self.similarity_metric, per_image=True),
            dtype=np.float64,
        )
        state.sim_sum += float(values.sum())
        state.sim_count += int(values.size)

    def merge(self, other: ChannelStats) -> ChannelStats:
        """Add ``other``'s sums into this accumulator and return ``self``.

        Raises:
            ConvscopeError: different threshold or metric, or a layer of another shape.
        """
        if not isinstance(other, ChannelStats):
            raise ConvscopeError(f"can only merge a ChannelStats, got {type(other).__name__}")
        if other.threshold != self.threshold or other.similarity_metric != self.similarity_metric:
            raise ConvscopeError(
                "cannot merge channel statistics with different settings: threshold "
                f"{self.threshold} vs {other.threshold}, metric {self.similarity_metric!r} vs "
                f"{other.similarity_metric!r}"
            )
        for name, theirs in other.layers_.items():
            mine = self.layers_.get(name)
            if mine is None:
                mine = self.layers_[name] = _LayerState(theirs.unit_shape)
            elif mine.unit_shape != theirs.unit_shape:
                raise ConvscopeError(
                    f"cannot merge layer {name!r}: shapes {mine.unit_shape} vs {theirs.unit_shape}"
                )
            mine.count += theirs.count
            mine.sum_mean += theirs.sum_mean
            mine.fires += theirs.fires
            mine.sim_sum += theirs.sim_sum
            mine.sim_count += theirs.sim_count
            mine.nonfinite += theirs.nonfinite
            mine.nonfinite_images += theirs.nonfinite_images
        return self

    def result(self) -> dict[str, LayerStats]:
        """Return ``{layer: LayerStats}`` for every layer seen, in the order first seen.

        Raises:
            ConvscopeError: nothing was fed yet.
        """
        if not self.layers_:
            raise ConvscopeError("no activations seen: call update() with at least one batch")
        out: dict[str, LayerStats] = {}
        for name, state in self.layers_.items():
            count = max(state.count, 1)
            fires = state.fires
            out[name] = LayerStats(
                layer=name,
                num_samples=state.count,
                mean=state.sum_mean / count,
                fire_fraction=fires / count,
                dead=np.flatnonzero(fires == 0) if state.count else np.zeros(0, np.int64),
                threshold=self.threshold,
                mean_similarity=state.sim_sum / state.sim_count if state.sim_count else None,
                similarity_samples=state.sim_count,
                nonfinite=state.nonfinite,
                nonfinite_images=state.nonfinite_images,
            )
        return out
