"""Firing section: which units fire for which class, and which classes fire alike (seed 001).

Example:
    >>> import numpy as np
    >>> from convscope.metrics.firing import FiringAccumulator
    >>> acc = FiringAccumulator(2, layer="dense", class_names=["a", "b"])
    >>> acc.update(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]))
    >>> result = compute(acc.result(), np.zeros((2, 1, 4, 4)), layer_kind="dense")
    >>> result.to_json()["firing"]["distance"]
    [[0.0, 1.0], [1.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import render
from ..._io import json_safe
from ...metrics.firing import FiringProfile, class_distance, nearest
from .. import html as H

ID, TITLE, STEP = "classes", "Class firing profile", "class firing profile"
METRICS = ("firing",)


@dataclass(frozen=True)
class FiringResult:
    """A layer's class firing profile and the L1 distances between classes.

    ``layer`` is ``None`` when the model has no layer before its output to profile.

    Attributes:
        examples: (K, C, H, W) the first image of each class, for the ranking figure.
        layer_kind: the profiled layer's kind (the note explains ``any`` for maps).
    """

    layer: str | None
    threshold: float = 0.0
    reduce: str = "any"
    class_names: tuple[str, ...] = ()
    counts: np.ndarray | None = None
    rates: np.ndarray | None = None
    distance: np.ndarray | None = None
    nearest: tuple[tuple[tuple[int, float], ...], ...] = ()
    examples: np.ndarray | None = None
    layer_kind: str = "other"

    def to_json(self) -> dict[str, Any]:
        """``{"firing": {layer, threshold, reduce, class_names, counts, rates, distance, nearest}}``."""
        if self.layer is None:
            return {"firing": None}
        names = self.class_names
        return json_safe(
            {
                "firing": {
                    "layer": self.layer,
                    "threshold": float(self.threshold),
                    "reduce": self.reduce,
                    "class_names": list(names),
                    "counts": [int(c) for c in self.counts],
                    "rates": np.round(self.rates, 6),
                    "distance": np.round(self.distance, 6),
                    "nearest": {
                        names[i]: [[names[j], round(d, 6)] for j, d in row]
                        for i, row in enumerate(self.nearest)
                    },
                }
            }
        )


def compute(
    profile: FiringProfile | None, examples: np.ndarray | None = None, layer_kind: str = "other"
) -> FiringResult:
    """Distances (mean absolute difference of rates) and each class's nearest classes.

    Args:
        profile: the layer's profile, or ``None`` when there is no layer to profile.
        examples: the first image of each class (zeros for a class without one).
        layer_kind: the layer's kind (``dense``, ``flatten``, ``conv``...).
    """
    if profile is None:
        return FiringResult(None)
    dist = class_distance(profile, metric="l1")
    return FiringResult(
        layer=profile.layer,
        threshold=float(profile.threshold),
        reduce=profile.reduce,
        class_names=tuple(profile.class_names),
        counts=profile.counts,
        rates=profile.rates,
        distance=dist,
        nearest=tuple(tuple(row) for row in nearest(dist)),
        examples=examples,
        layer_kind=layer_kind,
    )


def figures(result: FiringResult) -> dict[str, Any]:
    """``class_distance`` (clustered class similarity) and ``class_ranking`` (seed 001's grid)."""
    if result.layer is None:
        return {}
    dist, names = result.distance, list(result.class_names)
    return {
        "class_distance": render.similarity_matrix(
            1.0 - dist / max(float(dist.max()), 1e-12),
            order="cluster",
            labels=names,
            title=f"class similarity of {result.layer} firing (1 - normalised L1)",
        ),
        "class_ranking": render.class_ranking(dist, result.examples, names),
    }


def html(result: FiringResult, paths: dict[str, str]) -> str:
    """A note on the method, the nearest-classes table and the two figures."""
    if result.layer is None:
        return H.para("No layer before the output to profile.", "note")
    names = result.class_names
    units = result.rates.shape[1]
    rows = [
        (names[i], int(result.counts[i]), *[f"{names[j]} ({d:.3f})" for j, d in row[:3]])
        for i, row in enumerate(result.nearest)
    ]
    return "".join(
        [
            H.para(
                f"Seed 001's experiment on layer {result.layer} ({units} units): a unit fires "
                f"for an image when its activation is above {result.threshold:g}"
                + (
                    " in any cell of its map"
                    if result.reduce == "any" and result.layer_kind != "dense"
                    else ""
                )
                + "; each class's firing rate is the fraction of its images in which the unit "
                "fires, over every image of the class (not a fixed 1000). Classes are compared "
                "by the mean absolute difference of their rates.",
                "note",
            ),
            H.table(["class", "images", "nearest", "2nd", "3rd"], rows, numeric=(1,)),
            '<div class="grid2">',
            H.figure(
                paths["class_distance"],
                "Classes × classes: how alike their firing patterns are, clustered.",
            ),
            H.figure(
                paths["class_ranking"],
                "Each row: a class, then the other classes from most to least alike in firing "
                "(seed 001's grid).",
            ),
            "</div>",
        ]
    )
