"""What the report's sections are computed from: checked options and one pass over the data.

:func:`prepare` checks the options and lists the layers; :func:`run_pass` feeds every
statistic the report shows (evaluation, class firing profile, channel statistics) and
keeps the maps it draws (probe images, the first images' conv maps) from one
:func:`convscope.analysis.scan`, so the model sees each image of the split once;
:func:`section_computes` then gives each section exactly the arrays it needs.

Example:
    >>> import numpy as np, convscope as cs
    >>> data = cs.data.load("mnist5k")
    >>> model = cs.models.build("mnist_convnet")
    >>> plan = prepare(model, data, "test", images=[3], metric="multiply", similarity_images=2)
    >>> done = run_pass(model, plan)
    >>> done.evaluation.num_samples == len(data.x_test), done.probe_maps["conv2d"].shape
    (True, (1, 32, 26, 26))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from ..adapters import adapter_for
from ..adapters.base import LayerInfo, default_firing_layer, resolve_layers, spatial_layers
from ..analysis import MapSampler, output_layer, scan
from ..capturing import capture, layers
from ..data import class_examples
from ..errors import ConvscopeError, UnknownNameError
from ..metrics.evaluation import EvaluationAccumulator, EvaluationMetrics
from ..metrics.firing import FiringAccumulator, FiringProfile
from ..metrics.similarity import available_metrics
from ..metrics.stats import ChannelStats, LayerStats
from ..metrics.topk import TopKAccumulator
from ..validation import check_int
from . import sections as S
from .nonfinite import NonFiniteCounter

ATLAS_K = 9
"""Exemplars per channel in the report's atlas (the deepest conv layer)."""

__all__ = [
    "ATLAS_K",
    "Plan",
    "ProbeImages",
    "SplitPass",
    "default_probe_indices",
    "prepare",
    "run_pass",
    "section_computes",
]


@dataclass(frozen=True)
class ProbeImages:
    """The user's own images as the report's probes (``convscope report --image``).

    Attributes:
        pixels: (P, C, H, W) in [0, 1], as drawn.
        inputs: (P, C, H, W) as the model takes them (normalised, if it was trained so).
        names: one name per image (its file name).
    """

    pixels: np.ndarray
    inputs: np.ndarray
    names: tuple[str, ...] = ()


def default_probe_indices(labels: np.ndarray, count: int = 4) -> list[int]:
    """The first image of each of ``count`` different classes, in class order.

    Example:
        >>> default_probe_indices(np.array([3, 3, 1, 0, 1, 2]), count=3)
        [3, 2, 5]
    """
    labels = np.asarray(labels)
    return [int(np.flatnonzero(labels == cls)[0]) for cls in np.unique(labels)[:count]]


MAX_DRAWN_LAYERS = 24
"""Spatial layers whose probe maps the report draws; a deeper model gets an even spread."""
MAX_COMPARED_LAYERS = 12
"""Conv layers the report computes channel-similarity matrices for."""


def display_subset(names: Sequence[str], limit: int, keep: Sequence[str] = ()) -> tuple[str, ...]:
    """At most ``limit`` of ``names``, spread evenly from the first to the last, ``keep`` in.

    A ResNet-50 has 161 spatial layers: drawing each for every probe image takes minutes
    and a page nobody scrolls. The report draws an even spread, says which, and leaves
    every layer to ``convscope maps`` and the explorer.

    Example:
        >>> display_subset([f"c{i}" for i in range(10)], 4, keep=["c8"])
        ('c0', 'c4', 'c8', 'c9')
        >>> display_subset(["a", "b"], 4)
        ('a', 'b')
    """
    names = list(names)
    if len(names) <= limit:
        return tuple(names)
    kept = {n for n in keep if n in names}
    others = [n for n in names if n not in kept]
    spread = max(limit - len(kept), 2)
    picks = {others[int(i)] for i in np.linspace(0, len(others) - 1, spread).round()} | kept
    return tuple(n for n in names if n in picks)


@dataclass(frozen=True)
class Plan:
    """The checked options of one report: the split, probes and layers to look at."""

    split: str
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    probes: tuple[int, ...]
    infos: tuple[LayerInfo, ...]
    spatial: tuple[str, ...]
    convs: tuple[str, ...]
    firing_layer: str | None
    similarity_images: int
    own_probes: ProbeImages | None = None
    drawn: tuple[str, ...] = ()
    compared: tuple[str, ...] = ()

    @property
    def probed(self) -> tuple[str, ...]:
        """The layers whose probe maps are kept: those drawn and those compared."""
        wanted = {*self.drawn, *self.compared}
        return tuple(n for n in self.spatial if n in wanted)

    def kind(self, layer: str | None) -> str:
        """The kind of ``layer`` (``other`` when unknown)."""
        return next((i.kind for i in self.infos if i.name == layer), "other")


def _own_probes(images: Any, x: np.ndarray) -> ProbeImages | None:
    """The user's probe images, checked against the split's image shape; None for indices."""
    if isinstance(images, np.ndarray) and images.ndim == 4 and images.dtype.kind == "f":
        images = ProbeImages(images, images)
    if not isinstance(images, ProbeImages):
        return None
    if images.inputs.shape[1:] != x.shape[1:] or len(images.inputs) == 0:
        raise ConvscopeError(
            f"the probe images have shape {images.inputs.shape[1:]} but the model's images "
            f"are {x.shape[1:]} (C, H, W); read them at the model's size (read_images)"
        )
    return images


def _probes(images: Sequence[int] | None, y: np.ndarray, split: str) -> list[int]:
    if images is None:
        return default_probe_indices(y)
    probe = [int(i) for i in images]
    bad = [i for i in probe if not 0 <= i < len(y)]
    if bad:
        raise ConvscopeError(
            f"probe image indices {bad} are out of range: the {split} split has {len(y)} "
            f"images (0..{len(y) - 1})"
        )
    return probe


def _firing_layer(selection: Any, infos: Sequence[LayerInfo]) -> str | None:
    if selection is None:
        try:
            return default_firing_layer(infos)
        except ConvscopeError:  # no layer before the output: the section says so
            return None
    chosen = resolve_layers(selection, infos)
    if len(chosen) != 1:
        raise ConvscopeError(f"firing_layer {selection!r} selects {len(chosen)} layers; name one")
    return chosen[0]


def prepare(
    model: Any,
    data: Any,
    split: str,
    *,
    images: Sequence[int] | None,
    metric: str,
    similarity_images: int,
    firing_layer: Any = None,
) -> Plan:
    """Check every option before any work; list the model's layers.

    Args:
        images: probe indices into the split (default one per class, four); or the
            user's own probe images, an (P, C, H, W) float array or a
            :class:`ProbeImages` (pixels to draw, inputs for the model).

    Raises:
        UnknownNameError: unknown metric or firing layer.
        ConvscopeError: bad ``similarity_images``, empty split, probe out of range, probe
            images of another shape than the split's.
    """
    if metric not in available_metrics():
        raise UnknownNameError("similarity metric", [metric], available_metrics())
    check_int(similarity_images, "similarity_images", minimum=1)
    x, y = data.split(split)
    if len(x) == 0:
        raise ConvscopeError(f"the {split} split of {data.name} is empty; pick another split")
    own = _own_probes(images, x)
    probes = list(range(len(own.inputs))) if own is not None else _probes(images, y, split)
    with adapter_for(model) as adapter:  # a torch model without its input shape: the data's
        shape = None if adapter.input_shape is not None else tuple(x.shape[1:])
    infos = layers(model, input_shape=shape)
    spatial = tuple(spatial_layers(infos))
    convs = tuple(spatial_layers(infos, ("conv",)))
    return Plan(
        split=split,
        x=x,
        y=y,
        class_names=tuple(data.class_names),
        probes=tuple(probes),
        infos=tuple(infos),
        spatial=spatial,
        convs=convs,
        firing_layer=_firing_layer(firing_layer, infos),
        similarity_images=min(similarity_images, len(x)),
        own_probes=own,
        drawn=display_subset(spatial, MAX_DRAWN_LAYERS, keep=convs[-1:]),
        compared=display_subset(convs, MAX_COMPARED_LAYERS),
    )


@dataclass(frozen=True)
class SplitPass:
    """What the pass gathered (``None`` / empty for what was not asked)."""

    evaluation: EvaluationMetrics | None = None
    firing: FiringProfile | None = None
    channels: dict[str, LayerStats] = field(default_factory=dict)
    probe_maps: dict[str, np.ndarray] = field(default_factory=dict)
    similarity_maps: dict[str, np.ndarray] = field(default_factory=dict)
    probe_predictions: np.ndarray | None = None
    atlas: dict = field(default_factory=dict)
    nonfinite: dict = field(default_factory=dict)


def run_pass(
    model: Any,
    plan: Plan,
    *,
    evaluate: bool = True,
    batch_size: int = 256,
    engine: Any = None,
) -> SplitPass:
    """Scan the split once for every statistic and map the report needs.

    Args:
        evaluate: evaluate the model too (not when an evaluation is given).
        batch_size: images per forward pass.
        engine: where the pass runs (None: this process; a
            :class:`convscope.engine.RayEngine` shards it over workers).
    """
    names = list(plan.class_names)
    wanted: dict[str, Any] = {}
    if evaluate:
        wanted["evaluation"] = EvaluationAccumulator(class_names=names, keep_predictions=True)
    if plan.firing_layer is not None:
        wanted["firing"] = FiringAccumulator(len(names), layer=plan.firing_layer, class_names=names)
    if plan.convs:
        wanted["channels"] = ChannelStats(layers=list(plan.convs))
        wanted["similarity_maps"] = MapSampler(list(plan.compared), first=plan.similarity_images)
        wanted["atlas"] = TopKAccumulator(ATLAS_K, layers=[plan.convs[-1]])
    if plan.spatial and plan.own_probes is None:
        wanted["probe_maps"] = MapSampler(list(plan.probed), indices=plan.probes)
    watched = [*plan.spatial, *([plan.firing_layer] if plan.firing_layer else [])]
    wanted["nonfinite"] = NonFiniteCounter(list(dict.fromkeys(watched)), output=True)
    found: dict[str, Any] = {}
    if wanted:
        results = scan(
            model, (plan.x, plan.y), *wanted.values(), batch_size=batch_size, engine=engine
        )
        found = dict(zip(wanted, results, strict=True))
    if plan.own_probes is not None:  # the user's images: not in the split, captured apart
        found.update(_own_probe_maps(model, plan))
    return SplitPass(**found)


def _own_probe_maps(model: Any, plan: Plan) -> dict[str, Any]:
    """The spatial maps and predicted classes of the user's own probe images."""
    output = output_layer(plan.infos)
    names = [*plan.probed, output] if output not in plan.probed else list(plan.probed)
    maps = capture(model, plan.own_probes.inputs, names)
    scores = maps[output]
    predictions = (
        scores.reshape(len(scores), -1).argmax(axis=1)
        if scores.ndim >= 2 and scores.shape[1] == len(plan.class_names)
        else np.zeros(len(scores), np.int64)
    )
    return {
        "probe_maps": {name: maps[name] for name in plan.probed},
        "probe_predictions": predictions,
    }


def section_computes(
    model: Any,
    plan: Plan,
    done: SplitPass,
    *,
    data: S.model.DataSummary,
    history: Mapping[str, Sequence[Any]] | None,
    evaluation: Any,
    metric: str,
) -> dict[ModuleType, Callable[[], Any]]:
    """Each section's compute call with exactly its arguments, to run in page order.

    Args:
        evaluation: a given :class:`convscope.train.Evaluation`, else the pass's own.
    """
    x, y, names, probes = plan.x, plan.y, list(plan.class_names), list(plan.probes)
    scores = evaluation if evaluation is not None else done.evaluation
    predictions = np.asarray(scores.predictions)
    probe_maps = {n: m[:1] for n, m in done.probe_maps.items() if n in plan.compared}
    probe_x, probe_labels, probe_predictions = x[probes], y[probes], predictions[probes]
    if plan.own_probes is not None:
        # the user's images have no true class: each is shown as its predicted one
        probe_x = plan.own_probes.pixels
        probe_predictions = np.asarray(done.probe_predictions)
        probe_labels = probe_predictions
    return {
        S.model: lambda: S.model.compute(
            plan.infos,
            arch=getattr(model, "arch", type(model).__name__),
            input_shape=getattr(model, "input_shape", None) or tuple(x.shape[1:]),
            data=data,
        ),
        S.training: lambda: S.training.compute(history),
        S.evaluation: lambda: S.evaluation.compute(scores, x, y, names, plan.split),
        S.feature_maps: lambda: S.feature_maps.compute(
            probe_x,
            {n: m for n, m in done.probe_maps.items() if n in plan.drawn},
            {i.name: i.kind for i in plan.infos},
            indices=probes,
            labels=probe_labels,
            predictions=probe_predictions,
            class_names=names,
            split=plan.split,
            left_out=[n for n in plan.spatial if n not in plan.drawn],
        ),
        S.kernels: lambda: S.kernels.compute(model, plan.infos),
        S.similarity: lambda: S.similarity.compute(
            done.similarity_maps,
            probe_maps,
            probe_x[0],
            probe_index=probes[0],
            metric=metric,
            split=plan.split,
            images=plan.similarity_images,
            left_out=[n for n in plan.convs if n not in plan.compared],
        ),
        S.firing: lambda: S.firing.compute(
            done.firing, class_examples(x, y, len(names)), plan.kind(plan.firing_layer)
        ),
        S.channels: lambda: S.channels.compute(done.channels, split=plan.split, count=len(x)),
        S.atlas: lambda: S.atlas.compute(model, x, done.atlas or None, split=plan.split),
    }
