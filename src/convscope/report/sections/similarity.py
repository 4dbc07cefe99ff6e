"""Similarity section: how alike each conv layer's channels are (seed 000), and redundancy.

Example:
    >>> import numpy as np
    >>> maps = {"conv": np.random.default_rng(0).random((3, 4, 5, 5), dtype=np.float32)}
    >>> result = compute(maps, {"conv": maps["conv"][:1]}, np.zeros((1, 5, 5)),
    ...                  probe_index=0, metric="multiply", split="test")
    >>> entry = result.to_json()["similarity"]["layers"]["conv"]
    >>> entry["channels"], len(entry["per_image"])
    (4, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import render
from ..._io import json_safe
from ...metrics import similarity as sim
from .. import html as H

ID, TITLE, STEP = "similarity", "Channel similarity", "channel similarity"
METRICS = ("similarity",)


@dataclass(frozen=True)
class LayerSimilarity:
    """One conv layer: per-image mean similarity, the channel matrix, groups, extreme pairs.

    Attributes:
        matrix: (C, C) similarity, mean over the images.
        probe_maps: (C, H, W) maps of the probe image, for drawing the extreme pairs.
    """

    name: str
    channels: int
    per_image: np.ndarray
    matrix: np.ndarray
    groups: tuple[tuple[int, ...], ...]
    threshold: float
    distinct_maps: int
    effective_rank: float
    most: sim.Pair | None
    least: sim.Pair | None
    max_ratio: float
    probe_maps: np.ndarray

    def to_json(self) -> dict[str, Any]:
        """The layer's entry in ``metrics.json``."""
        return json_safe(
            {
                "mean": float(self.per_image.mean()),
                "std": float(self.per_image.std()),
                "per_image": self.per_image.astype(float),
                "channels": self.channels,
                "most": None if self.most is None else self.most._asdict(),
                "least": None if self.least is None else self.least._asdict(),
                "groups": [list(g) for g in self.groups],
                "threshold": self.threshold,
                "distinct_maps": self.distinct_maps,
                "effective_rank": self.effective_rank,
            }
        )


@dataclass(frozen=True)
class SimilarityResult:
    """Every conv layer's similarity on the first ``images`` images of the split."""

    metric: str
    images: int
    split: str
    probe_index: int
    probe_image: np.ndarray
    has_convs: bool
    layers: tuple[LayerSimilarity, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"similarity": {metric, images, layers: {name: entry}}}``."""
        return {
            "similarity": {
                "metric": self.metric,
                "images": self.images,
                "layers": {layer.name: layer.to_json() for layer in self.layers},
            }
        }


def _layer(name: str, maps: np.ndarray, probe: np.ndarray, metric: str) -> LayerSimilarity:
    per_image = np.asarray(sim.mean_similarity(maps, metric=metric, per_image=True, layer=name))
    matrix = sim.pairwise(maps, metric=metric)
    red = sim.redundancy(maps, metric=metric, similarity=matrix)
    ext = sim.extreme_pairs(probe, metric=metric)
    return LayerSimilarity(
        name=name,
        channels=int(maps.shape[1]),
        per_image=per_image,
        matrix=np.asarray(matrix),
        groups=tuple(tuple(int(c) for c in g) for g in red.groups),
        threshold=float(red.threshold),
        distinct_maps=int(red.n_distinct),
        effective_rank=float(red.effective_rank),
        most=ext.most,
        least=ext.least,
        max_ratio=float(ext.max_ratio),
        probe_maps=np.asarray(probe[0]),
    )


def compute(
    maps: Mapping[str, np.ndarray],
    probe_maps: Mapping[str, np.ndarray],
    probe_image: np.ndarray,
    *,
    probe_index: int,
    metric: str,
    split: str,
    images: int | None = None,
) -> SimilarityResult:
    """Similarity of each conv layer with at least two channels.

    Args:
        maps: ``{conv layer: (n, C, H, W)}`` of the first ``n`` images of the split.
        probe_maps: ``{conv layer: (1, C, H, W)}`` of the probe image.
        probe_image: the probe image (C, H, W), drawn under its extreme pairs.
        probe_index: its position in the split.
        metric: a registered similarity metric.
        images: how many images were compared (default: the maps' count).
    """
    layers = tuple(
        _layer(name, layer_maps, probe_maps[name], metric)
        for name, layer_maps in maps.items()
        if layer_maps.shape[1] >= 2
    )
    if images is None:
        images = int(next(iter(maps.values())).shape[0]) if maps else 0
    return SimilarityResult(
        metric=metric,
        images=int(images),
        split=split,
        probe_index=int(probe_index),
        probe_image=np.asarray(probe_image),
        has_convs=bool(maps),
        layers=layers,
    )


def figures(result: SimilarityResult) -> dict[str, Any]:
    """``similarity_LAYER`` (clustered matrix) and ``pair_most_LAYER`` / ``pair_least_LAYER``."""
    out = {}
    for layer in result.layers:
        out[f"similarity_{layer.name}"] = render.similarity_matrix(
            layer.matrix,
            order="cluster",
            groups=[list(g) for g in layer.groups],
            title=f"{layer.name} · {result.metric} similarity",
        )
        for which, pair in (("most", layer.most), ("least", layer.least)):
            if pair is not None:
                i, j, value = pair
                out[f"pair_{which}_{layer.name}"] = render.pair(
                    result.probe_image,
                    layer.probe_maps[i],
                    layer.probe_maps[j],
                    similarity=value,
                    names=(f"#{i}", f"#{j}"),
                )
    return out


def _summary(result: SimilarityResult) -> str:
    rows = [
        (
            layer.name,
            layer.channels,
            f"{layer.per_image.mean():.4f}",
            f"{layer.per_image.std():.4f}",
            len(layer.groups),
            layer.distinct_maps,
            f"{layer.effective_rank:.1f}",
        )
        for layer in result.layers
    ]
    headers = [
        "layer",
        "channels",
        "mean similarity",
        "std over images",
        "redundant groups",
        "distinct maps",
        "effective rank",
    ]
    return H.table(headers, rows, numeric=(1, 2, 3, 4, 5, 6)) if rows else ""


def _layer_html(layer: LayerSimilarity, result: SimilarityResult, paths: dict[str, str]) -> str:
    name, n = layer.name, result.images
    parts = [
        H.heading(f"{name}: mean similarity {layer.per_image.mean():.4f}"),
        H.figure(
            paths[f"similarity_{name}"],
            f"{name}: channel × channel similarity, mean over {n} images, reordered so that "
            "redundant groups sit together.",
        ),
    ]
    for which, pair in (("most", layer.most), ("least", layer.least)):
        if pair is None:
            parts.append(
                H.para(
                    f"No {which} similar pair qualifies (all peaks differ by more than "
                    f"{layer.max_ratio}x or are zero).",
                    "note",
                )
            )
            continue
        parts.append(
            H.figure(
                paths[f"pair_{which}_{name}"],
                f"{name}: the {which} similar pair on image {result.probe_index}, #{pair[0]} "
                f"and #{pair[1]}, and their cell-wise product (seed 000).",
            )
        )
    if not layer.groups:
        parts.append(H.para(f"No redundant groups above {layer.threshold:.2f}.", "note"))
        return "".join(parts)
    rows = [(g + 1, ", ".join(map(str, grp)), len(grp)) for g, grp in enumerate(layer.groups)]
    parts += [
        H.table(["group", "channels", "size"], rows, numeric=(0, 2)),
        H.para(
            f"Groups of channels mutually similar above {layer.threshold:.2f}; "
            f"{layer.distinct_maps} distinct maps of {layer.channels} "
            f"(effective rank of the similarity matrix {layer.effective_rank:.1f}).",
            "note",
        ),
    ]
    return "".join(parts)


def html(result: SimilarityResult, paths: dict[str, str]) -> str:
    """A note on the metric, the summary table, then each layer's matrix, pairs and groups."""
    parts = [
        H.para(
            f"Metric '{result.metric}' over the first {result.images} images of the "
            f"{result.split} split (seed 000's similarity_multiply: the fraction of cells where "
            "the product of two min-max normalised maps is above its mean). Lower means less "
            "redundant maps.",
            "note",
        ),
        _summary(result),
    ]
    if not result.has_convs:
        parts.append(H.para("The model has no conv layer.", "note"))
    parts += [_layer_html(layer, result, paths) for layer in result.layers]
    return "".join(parts)
