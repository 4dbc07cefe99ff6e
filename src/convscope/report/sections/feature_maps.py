"""Feature-maps section: mosaics, belts and overlays of a few probe images (seeds 002-004).

Each probe image gets a tab (no script: the first one shows without any); each layer is
drawn once, as a mosaic, the first one open and the others folded in ``<details>``; the
overlay of the last conv layer and the belts of every layer are folded too.

Example:
    >>> import numpy as np
    >>> maps = {"conv": np.random.default_rng(0).random((1, 4, 6, 6), dtype=np.float32)}
    >>> result = compute(np.zeros((1, 1, 8, 8)), maps, {"conv": "conv"}, indices=[7],
    ...                  labels=[1], predictions=[0], class_names=["a", "b"], split="test")
    >>> result.to_json()["probes"], sorted(figures(result))
    ({'indices': [7], 'labels': [1], 'predictions': [0]}, ['belt_7', 'mosaic_7_conv', 'overlay_7_conv', 'samples_grid'])
    >>> "image 7" in html(result, {k: k + ".png" for k in figures(result)})
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import render
from .. import html as H

ID, TITLE, STEP = "feature-maps", "Feature maps of probe images", "feature maps"
METRICS = ("probes",)


@dataclass(frozen=True)
class FeatureMapsResult:
    """The probe images and their maps in every spatial (conv and pool) layer.

    Attributes:
        maps: ``{layer: (P, C, H, W)}``, one row per probe image, in layer order.
        convs: the conv layers among them.
    """

    indices: tuple[int, ...]
    labels: tuple[int, ...]
    predictions: tuple[int, ...]
    class_names: tuple[str, ...]
    split: str
    images: np.ndarray
    maps: Mapping[str, np.ndarray]
    convs: tuple[str, ...]
    left_out: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """``{"probes": {indices, labels, predictions}}``."""
        return {
            "probes": {
                "indices": list(self.indices),
                "labels": list(self.labels),
                "predictions": list(self.predictions),
            }
        }


def compute(
    images: np.ndarray,
    maps: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    *,
    indices: Sequence[int],
    labels: Sequence[int],
    predictions: Sequence[int],
    class_names: Sequence[str],
    split: str,
    left_out: Sequence[str] = (),
) -> FeatureMapsResult:
    """Gather the probes: ``maps`` holds each spatial layer's maps of ``images``.

    Args:
        images: the probe images (P, C, H, W).
        maps: ``{layer: (P, C, H, W)}`` of the spatial layers (may be empty).
        kinds: layer name -> kind (``conv``, ``pool``...).
        indices: the probes' positions in the split.
        labels, predictions: the probes' true and predicted classes.
        left_out: spatial layers not drawn (a deep model: an even spread of them is).
    """
    return FeatureMapsResult(
        indices=tuple(int(i) for i in indices),
        labels=tuple(int(v) for v in labels),
        predictions=tuple(int(v) for v in predictions),
        class_names=tuple(class_names),
        split=split,
        images=np.asarray(images),
        maps=dict(maps),
        convs=tuple(n for n in maps if kinds.get(n) == "conv"),
        left_out=tuple(left_out),
    )


OVERLAY_MAX_MAPS = 64
"""Heat maps over the input (seed 000 drew 64, eight by eight); the title says "first 64 of N"."""

BELT_MAX_MAPS = 64
"""Maps per layer in the belt (seed 004's layers had at most 64; a 2048-channel layer
would make one figure 100,000 px tall): the strip says "first 64 of 2048"."""

SEED_003_LAYERS = 3
"""Seed 003 looks at its samples after conv 1, the pool and conv 2: the first three layers."""


def _overlay_layer(result: FeatureMapsResult) -> str:
    """The layer drawn over the input: the last conv layer (seed 000's), else the last one."""
    return (result.convs or tuple(result.maps))[-1]


def _sample_key(k: int, name: str) -> str:
    return "samples_grid" if k == 0 else f"samples_grid_{name}"


def figures(result: FeatureMapsResult) -> dict[str, Any]:
    """``samples_grid`` (and ``samples_grid_LAYER`` for seed 003's next layers), ``belt_I``
    of the first probe (seed 004: every layer once more, so only for one image), then per
    probe ``mosaic_I_LAYER`` and ``overlay_I_LAYER``."""
    if not result.maps:
        return {}
    out = {}
    labels, predictions = np.asarray(result.labels), np.asarray(result.predictions)
    for k, name in enumerate(list(result.maps)[:SEED_003_LAYERS]):
        out[_sample_key(k, name)] = render.samples_grid(
            result.images, result.maps[name], labels, predictions, cols=8,
            class_names=list(result.class_names), title=f"{name} maps of the probe images",
        )  # fmt: skip
    last = _overlay_layer(result)
    for p, index in enumerate(result.indices):
        for name, layer_maps in result.maps.items():
            out[f"mosaic_{index}_{name}"] = render.mosaic(layer_maps, image_index=p)
        chw = result.maps[last][p]
        shown = chw[:OVERLAY_MAX_MAPS]
        title = None
        if len(shown) < len(chw):
            title = (
                f"first {len(shown)} of {len(chw)} maps over the input · one colour scale "
                "for the maps shown"
            )
        out[f"overlay_{index}_{last}"] = render.overlay(result.images[p], shown, title=title)
    out[f"belt_{result.indices[0]}"] = render.belt(
        result.maps, image_index=0, max_maps=BELT_MAX_MAPS
    )
    return out


def _flat(chw: np.ndarray) -> int:
    return len(render.flat_channels(chw))  # the maps the mosaic hatches


def _strongest(chw: np.ndarray) -> tuple[int, float]:
    peaks = chw.reshape(len(chw), -1).max(axis=1)
    return int(np.argmax(peaks)), float(peaks.max())


def _layer_views(
    result: FeatureMapsResult, p: int, index: int, figs: H.Figures
) -> list[tuple[str, H.Image]]:
    views = []
    for name, layer_maps in result.maps.items():
        chw = layer_maps[p]
        c, h, w = chw.shape
        flat = _flat(chw)
        k, peak = _strongest(chw)
        summary = f"{name}: {c} maps {h}×{w}" + (f", {flat} flat (hatched)" if flat else "")
        image = figs.image(
            f"mosaic_{index}_{name}",
            f"{summary}; each map on its own scale; channel = row label + column label (seed 002).",
            f"{name} maps of image {index}: {c} maps, {flat} flat; the strongest is #{k} "
            f"(peak {peak:.2f}).",
        )
        views.append((summary, image))
    return views


def _every(chw: np.ndarray, cap: int) -> str:
    """'Every' or 'The first 64 of 2048' (maps of a layer drawn up to ``cap``)."""
    return "Every" if len(chw) <= cap else f"The first {cap} of {len(chw)} maps: each"


def _probe_view(result: FeatureMapsResult, p: int, figs: H.Figures) -> dict[str, Any]:
    index, names = result.indices[p], result.class_names
    label, pred = names[result.labels[p]], names[result.predictions[p]]
    last = _overlay_layer(result)
    k, peak = _strongest(result.maps[last][p])
    wrong = label != pred
    return {
        "tab": f"image {index} ({label})",
        "heading": f"Image {index}: actual {label}, predicted {pred}"
        + (" (wrong)" if wrong else ""),
        "layers": _layer_views(result, p, index, figs),
        "overlay_summary": f"{last} over the input (seed 000's heat maps)",
        "overlay": figs.image(
            f"overlay_{index}_{last}",
            f"{_every(result.maps[last][p], OVERLAY_MAX_MAPS)} {last} map upsampled and blended "
            f"over image {index}, one colour scale for all of them (as keract, which seed 000 "
            "used, scales), so a near-silent map stays dark; the legend gives the scale in "
            "activation units.",
            f"{last} heat maps over image {index}: the strongest map is #{k} (peak {peak:.2f}).",
        ),
    }


def html(result: FeatureMapsResult, paths: dict[str, str]) -> str:
    """Seed 003's grids, then one tab per probe image with its maps, overlay and belts."""
    if not result.maps:
        return H.render("sections/feature_maps.html", maps=False)
    figs = paths if isinstance(paths, H.Figures) else H.Figures(paths)
    wrong = sum(a != b for a, b in zip(result.labels, result.predictions, strict=True))
    samples = []
    for k, name in enumerate(list(result.maps)[:SEED_003_LAYERS]):
        c, h, w = result.maps[name].shape[1:]
        samples.append((
            f"{name}: {c} maps {h}×{w} of each probe image",
            figs.image(
                _sample_key(k, name),
                f"Each probe image ('predict / actual'; vermillion when wrong) and its {name} "
                "maps (seed 003's plotOutputs).",
                f"{name} maps of {len(result.indices)} probe images; {wrong} of them misclassified.",
            ),
        ))  # fmt: skip
    probes = [_probe_view(result, p, figs) for p in range(len(result.indices))]
    first = result.indices[0]
    belt = figs.image(
        f"belt_{first}",
        f"{'Every' if not result.left_out else 'Each drawn'} conv and pool layer of image "
        f"{first} as belts (at most {BELT_MAX_MAPS} maps each), standardised per map as seed "
        "004 does (colour −2 to +2 standard deviations; flat maps hatched).",
        f"Belts of {len(result.maps)} layers for image {first}.",
    )
    note = (
        f"Probe images {', '.join(str(i) for i in result.indices)} of the {result.split} split. "
        "Pick an image; each layer's maps are one mosaic (the first layer open, the others "
        "folded). Click an image to open it full size."
    )
    note += H.spread_note(
        len(result.maps), result.left_out, "conv and pool layers", "drawn",
        "`convscope maps RUN IMAGE --layers NAME` or `convscope serve` draws any layer",
    )  # fmt: skip
    return H.render(
        "sections/feature_maps.html", maps=True, note=note, samples=samples, probes=probes,
        tabs=len(probes) <= MAX_TABS, belt=belt, belt_summary=f"{'Every' if not result.left_out else 'Each drawn'} layer of image {first} as belts (seed 004)",
    )  # fmt: skip


MAX_TABS = 24
"""The stylesheet styles up to this many tabs; more probe images are listed one after another."""
