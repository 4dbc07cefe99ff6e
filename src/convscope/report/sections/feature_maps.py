"""Feature-maps section: mosaics, belts and overlays of a few probe images (seeds 002-004).

Example:
    >>> import numpy as np
    >>> maps = {"conv": np.random.default_rng(0).random((1, 4, 6, 6), dtype=np.float32)}
    >>> result = compute(np.zeros((1, 1, 8, 8)), maps, {"conv": "conv"}, indices=[7],
    ...                  labels=[1], predictions=[0], class_names=["a", "b"], split="test")
    >>> result.to_json()["probes"], sorted(figures(result))
    ({'indices': [7], 'labels': [1], 'predictions': [0]}, ['belt_7', 'mosaic_7_conv', 'overlay_7_conv', 'samples_grid'])
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
) -> FeatureMapsResult:
    """Gather the probes: ``maps`` holds each spatial layer's maps of ``images``.

    Args:
        images: the probe images (P, C, H, W).
        maps: ``{layer: (P, C, H, W)}`` of the spatial layers (may be empty).
        kinds: layer name -> kind (``conv``, ``pool``...).
        indices: the probes' positions in the split.
        labels, predictions: the probes' true and predicted classes.
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
    )


def _shown(result: FeatureMapsResult) -> tuple[str, str]:
    """The layer of the samples grid (first conv) and of the overlays (last conv)."""
    names = list(result.maps)
    convs = result.convs or (names[0], names[-1])
    return convs[0], convs[-1]


def figures(result: FeatureMapsResult) -> dict[str, Any]:
    """``samples_grid``, then per probe ``belt_I``, ``mosaic_I_LAYER``, ``overlay_I_LAYER``."""
    if not result.maps:
        return {}
    first, last = _shown(result)
    out = {
        "samples_grid": render.samples_grid(
            result.images,
            result.maps[first],
            np.asarray(result.labels),
            np.asarray(result.predictions),
            cols=8,
            class_names=list(result.class_names),
        )
    }
    for p, index in enumerate(result.indices):
        out[f"belt_{index}"] = render.belt(result.maps, image_index=p)
        for name, layer_maps in result.maps.items():
            out[f"mosaic_{index}_{name}"] = render.mosaic(
                layer_maps, image_index=p, title=f"{name} · image {index}"
            )
        out[f"overlay_{index}_{last}"] = render.overlay(result.images[p], result.maps[last][p])
    return out


def html(result: FeatureMapsResult, paths: dict[str, str]) -> str:
    """A note, the samples grid, and for each probe its belt, mosaics and overlay."""
    if not result.maps:
        return H.para("The model has no layer with spatial (C, H, W) maps.", "note")
    first, last = _shown(result)
    names = result.class_names
    parts = [
        H.para(
            f"Probe images: {', '.join(str(i) for i in result.indices)} of the {result.split} "
            "split. Mosaics normalise each map to its own range; belts use seed 004's "
            "standardisation (flat maps are mid-grey).",
            "note",
        ),
        H.figure(
            paths["samples_grid"],
            f"Each probe image ('predict / actual') and its {first} maps (seed 003's plotOutputs).",
        ),
    ]
    for index, label, pred in zip(result.indices, result.labels, result.predictions, strict=True):
        parts.append(H.heading(f"Image {index}: actual {names[label]}, predicted {names[pred]}"))
        parts.append(
            H.figure(
                paths[f"belt_{index}"],
                f"Image belts of every conv and pool layer for image {index} (seed 004).",
            )
        )
        for name, layer_maps in result.maps.items():
            _n, channels, height, width = layer_maps.shape
            parts.append(
                H.figure(
                    paths[f"mosaic_{index}_{name}"],
                    f"{name}: {channels} maps of {height}×{width} for image {index} (seed 002).",
                )
            )
        parts.append(
            H.figure(
                paths[f"overlay_{index}_{last}"],
                f"{last} maps upsampled and blended over image {index} (seed 000's heatmaps).",
            )
        )
    return "".join(parts)
