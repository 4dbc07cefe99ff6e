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

from collections.abc import Mapping, Sequence
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

    Dead and constant (flat) channels are left out of the means, groups, distinct maps,
    effective rank and extreme pairs (see :func:`convscope.metrics.similarity.inactive_channels`)
    and listed in ``dead`` / ``constant``.

    Attributes:
        matrix: (C, C) similarity, mean over the images.
        probe_maps: (C, H, W) maps of the probe image, for drawing the extreme pairs.
        most_rank, least_rank: ``(rank, pairs)`` of the extreme pairs among the probe
            image's live pairs (rank 1 is the most similar).
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
    dead: tuple[int, ...] = ()
    constant: tuple[int, ...] = ()
    most_rank: tuple[int, int] | None = None
    least_rank: tuple[int, int] | None = None

    @property
    def excluded(self) -> tuple[int, ...]:
        """Dead and constant channels, sorted."""
        return tuple(sorted(self.dead + self.constant))

    @property
    def compared(self) -> int:
        """Channels compared (not dead, not flat)."""
        return self.channels - len(self.excluded)

    @property
    def mean(self) -> float:
        """Mean over the images of the per-image pair mean (NaN with fewer than 2 live channels)."""
        return float(self.per_image.mean()) if self.per_image.size else float("nan")

    def to_json(self) -> dict[str, Any]:
        """The layer's entry in ``metrics.json``."""

        def pair(p: sim.Pair | None, rank: tuple[int, int] | None) -> dict[str, Any] | None:
            if p is None:
                return None
            return {**p._asdict(), **({} if rank is None else {"rank": rank[0], "pairs": rank[1]})}

        return json_safe(
            {
                "mean": self.mean,
                "std": float(self.per_image.std()),
                "per_image": self.per_image.astype(float),
                "channels": self.channels,
                "compared": self.compared,
                "excluded": list(self.excluded),
                "dead": list(self.dead),
                "constant": list(self.constant),
                "most": pair(self.most, self.most_rank),
                "least": pair(self.least, self.least_rank),
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
    not_computable: tuple[tuple[str, int, int], ...] = ()
    """(layer, channels, NaN/Inf values) of the layers whose maps are not all finite."""
    left_out: tuple[str, ...] = ()
    """Conv layers not compared (a deep model: an even spread of them is)."""

    def to_json(self) -> dict[str, Any]:
        """``{"similarity": {metric, images, layers: {name: entry}, not_computable}}``."""
        return {
            "similarity": {
                "metric": self.metric,
                "images": self.images,
                "layers": {layer.name: layer.to_json() for layer in self.layers},
                "left_out": list(self.left_out),
                "not_computable": {
                    name: {"nonfinite": bad} for name, _c, bad in self.not_computable
                },
            }
        }


def _rank(matrix: np.ndarray, live: list[int], pair: sim.Pair | None) -> tuple[int, int] | None:
    """``(rank, pairs)`` of ``pair`` among the live channel pairs (1: the most similar)."""
    if pair is None or len(live) < 2:
        return None
    idx = np.array(live)
    iu, ju = np.triu_indices(len(idx), k=1)
    values = matrix[idx[iu], idx[ju]]
    return int((values > pair.value).sum()) + 1, int(values.size)


def _layer(name: str, maps: np.ndarray, probe: np.ndarray, metric: str) -> LayerSimilarity:
    per_image = np.asarray(sim.mean_similarity(maps, metric=metric, per_image=True, layer=name))
    matrix = sim.pairwise(maps, metric=metric)
    inactive = sim.inactive_channels(maps, layer=name)
    red = sim.redundancy(maps, metric=metric, similarity=matrix)
    probe_matrix = sim.pairwise(probe, metric=metric)
    ext = sim.extreme_pairs(probe, metric=metric, similarity=probe_matrix)
    live = [c for c in range(maps.shape[1]) if c not in set(ext.excluded)]
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
        dead=tuple(int(c) for c in inactive.dead),
        constant=tuple(int(c) for c in inactive.constant),
        most_rank=_rank(probe_matrix, live, ext.most),
        least_rank=_rank(probe_matrix, live, ext.least),
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
    left_out: Sequence[str] = (),
) -> SimilarityResult:
    """Similarity of each conv layer with at least two channels.

    Args:
        maps: ``{conv layer: (n, C, H, W)}`` of the first ``n`` images of the split.
        probe_maps: ``{conv layer: (1, C, H, W)}`` of the probe image.
        probe_image: the probe image (C, H, W), drawn under its extreme pairs.
        probe_index: its position in the split.
        metric: a registered similarity metric.
        images: how many images were compared (default: the maps' count).
        left_out: conv layers of the model not in ``maps`` (named on the page).
    """
    finite = {name: bool(np.isfinite(m).all() and np.isfinite(probe_maps[name]).all())
              for name, m in maps.items()}  # fmt: skip
    layers = tuple(
        _layer(name, layer_maps, probe_maps[name], metric)
        for name, layer_maps in maps.items()
        if layer_maps.shape[1] >= 2 and finite[name]
    )
    broken = tuple(
        (name, int(m.shape[1]), int(m.size - np.isfinite(m).sum()))
        for name, m in maps.items()
        if not finite[name]
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
        not_computable=broken,
        left_out=tuple(left_out),
    )


def figures(result: SimilarityResult) -> dict[str, Any]:
    """``similarity_LAYER`` (clustered matrix, dead/flat channels marked) and
    ``pair_most_LAYER`` / ``pair_least_LAYER`` (what the metric counts for the pair)."""
    out = {}
    for layer in result.layers:
        out[f"similarity_{layer.name}"] = render.similarity_matrix(
            layer.matrix,
            order="cluster",
            groups=[list(g) for g in layer.groups],
            title=f"{layer.name} · {result.metric} similarity, mean over {result.images} images",
            metric=result.metric,
            excluded=layer.excluded,
        )
        for which, pair, rank in (
            ("most", layer.most, layer.most_rank),
            ("least", layer.least, layer.least_rank),
        ):
            if pair is not None:
                i, j, value = pair
                out[f"pair_{which}_{layer.name}"] = render.pair(
                    result.probe_image, layer.probe_maps[i], layer.probe_maps[j],
                    similarity=value, names=(f"#{i}", f"#{j}"), layer=layer.name,
                    image_label=f"image {result.probe_index}", metric=result.metric, rank=rank,
                )  # fmt: skip
    return out


def _excluded_text(layer: LayerSimilarity) -> str:
    if not layer.excluded:
        return "no dead or flat channel"
    parts = []
    if layer.dead:
        parts.append(f"{len(layer.dead)} dead")
    if layer.constant:
        parts.append(f"{len(layer.constant)} flat")
    return f"{' and '.join(parts)} of {layer.channels} channels left out (†)"


def _summary_rows(result: SimilarityResult) -> list[tuple]:
    return [
        (layer.name, layer.channels, layer.compared, len(layer.excluded), H.fmt(layer.mean),
         H.fmt(layer.per_image.std() if layer.per_image.size else None), len(layer.groups),
         layer.distinct_maps, H.fmt(layer.effective_rank, 1))
        for layer in result.layers
    ] + [
        (name, channels, "–", "–", f"not computable: {bad} NaN/Inf values", "–", "–", "–", "–")
        for name, channels, bad in result.not_computable
    ]  # fmt: skip


def _pair_image(
    layer: LayerSimilarity, which: str, result: SimilarityResult, figs: H.Figures
) -> H.Image | str:
    pair = layer.most if which == "most" else layer.least
    rank = layer.most_rank if which == "most" else layer.least_rank
    if pair is None:
        return (
            f"No {which} similar pair qualifies on image {result.probe_index} (fewer than two live "
            f"channels, or every pair's peaks differ by more than {layer.max_ratio:g}x)."
        )
    i, j, value = pair
    h, w = layer.probe_maps.shape[1:]
    cells = int(round(value * h * w)) if result.metric == "multiply" else None
    where = f"rank {rank[0]} of {rank[1]} pairs" if rank else ""
    agree = f" agree on {cells} of {h * w} cells" if cells is not None else ""
    return figs.image(
        f"pair_{which}_{layer.name}",
        f"The {which} similar pair of {layer.name} on image {result.probe_index} "
        f"({where}{'' if which == 'most' else f', among pairs whose peaks are within {layer.max_ratio:g}x'}): "
        "the two maps min-max normalised, the cells the multiply metric counts "
        "(product above its mean) and the product on its own scale (seed 000).",
        f"Maps #{i} and #{j} of {layer.name}{agree}: {result.metric} similarity {value:.2f}, {where}.",
    )


def _layer_view(
    layer: LayerSimilarity, result: SimilarityResult, figs: H.Figures
) -> dict[str, Any]:
    gone = _excluded_text(layer)
    groups = "no redundant group" if not layer.groups else f"{len(layer.groups)} redundant group(s)"
    finding = (
        f"{layer.name}: mean {result.metric} similarity {H.fmt(layer.mean)} over {layer.compared} "
        f"compared channels; {gone}; {groups} above {layer.threshold:.2f}; "
        f"{layer.distinct_maps} distinct maps of {layer.compared} compared."
    )
    matrix = figs.image(
        f"similarity_{layer.name}",
        f"{layer.name}: channel × channel {result.metric} similarity, mean over {result.images} "
        "images, reordered so similar channels sit together; the diagonal (a map with itself) is "
        f"hidden; dead/flat channels last, hatched and marked †; redundant groups framed.",
        finding,
    )
    rows = [(g + 1, ", ".join(map(str, grp)), len(grp)) for g, grp in enumerate(layer.groups)]
    return {
        "name": layer.name, "finding": finding, "matrix": matrix, "rows": rows,
        "pairs": [_pair_image(layer, which, result, figs) for which in ("most", "least")],
        "note": f"Effective rank of the similarity matrix {layer.effective_rank:.1f}"
        + (f"; left out: {', '.join(map(str, layer.excluded))}" if layer.excluded else ""),
    }  # fmt: skip


def html(result: SimilarityResult, paths: dict[str, str]) -> str:
    """A note on the metric, the summary table, then each layer's matrix, pairs and groups."""
    figs = paths if isinstance(paths, H.Figures) else H.Figures(paths)
    note = (
        f"Metric '{result.metric}' over the first {result.images} images of the {result.split} "
        "split (seed 000's similarity_multiply: the fraction of cells where the product of two "
        "min-max normalised maps is above its mean). Lower means less redundant maps. Dead "
        "(never firing) and flat channels are left out of every number and counted: a broken "
        "channel has no map to compare."
    ) + (
        f" Not computable (NaN/Inf activations): {', '.join(n for n, _c, _b in result.not_computable)}."
        if result.not_computable else ""
    ) + H.spread_note(
        len(result.layers) + len(result.not_computable), result.left_out, "conv layers",
        "compared", "`convscope similarity RUN --layer NAME` or `convscope serve` compares any layer",
    )  # fmt: skip
    layers = [_layer_view(layer, result, figs) for layer in result.layers]
    headers = ["layer", "channels", "compared", "dead/flat left out", "mean similarity",
               "std over images", "redundant groups", "distinct maps", "effective rank"]  # fmt: skip
    return H.render(
        "sections/similarity.html", note=note, has_convs=result.has_convs, headers=headers,
        rows=_summary_rows(result), layers=layers,
    )  # fmt: skip
