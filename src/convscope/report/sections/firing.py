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


UNIT = "mean |Δ firing rate| (L1)"
"""The distance between two classes: the mean over units of the absolute difference of
their firing rates (seed 001's measure), in the nearest-classes table's units."""


def figures(result: FiringResult) -> dict[str, Any]:
    """``class_examples`` (seed 001's opening row), ``class_distance`` (the L1 distances,
    values printed) and ``class_ranking`` (seed 001's grid)."""
    if result.layer is None:
        return {}
    dist, names = result.distance, list(result.class_names)
    return {
        "class_examples": render.examples_row(result.examples, names),
        "class_distance": render.distance_matrix(
            dist, names, unit=UNIT, title=f"{result.layer}: distances between class firing profiles"
        ),
        "class_ranking": render.class_ranking(dist, result.examples, names, unit="L1 distance"),
    }


def _extremes(result: FiringResult) -> tuple[tuple[int, int, float], tuple[int, int, float]]:
    d = np.array(result.distance, dtype=np.float64)
    k = len(d)
    iu, ju = np.triu_indices(k, k=1)
    values = d[iu, ju]
    lo, hi = int(np.argmin(values)), int(np.argmax(values))
    return (int(iu[lo]), int(ju[lo]), float(values[lo])), (
        int(iu[hi]),
        int(ju[hi]),
        float(values[hi]),
    )


def html(result: FiringResult, paths: dict[str, str]) -> str:
    """A note on the method, the nearest-classes table and the three figures."""
    if result.layer is None:
        return H.render("sections/firing.html", layer=None)
    figs = paths if isinstance(paths, H.Figures) else H.Figures(paths)
    names = result.class_names
    units = result.rates.shape[1]
    rows = [
        (names[i], int(result.counts[i]), *[f"{names[j]} ({d:.3f})" for j, d in row[:3]])
        for i, row in enumerate(result.nearest)
    ]
    cells = (
        " in any cell of its map" if result.reduce == "any" and result.layer_kind != "dense" else ""
    )
    note = (
        f"Seed 001's experiment on layer {result.layer} ({units} units): a unit fires for an "
        f"image when its activation is above {result.threshold:g}{cells}; each class's firing "
        "rate is the fraction of its images in which the unit fires, over every image of the "
        "class (not a fixed 1000). Classes are compared by the mean absolute difference of "
        "their rates (L1, the numbers in the table and the figures)."
    )
    finding = "fewer than two classes"
    if len(names) >= 2:
        (a, b, near), (c, d, far) = _extremes(result)
        finding = (
            f"the closest classes are {names[a]} and {names[b]} ({near:.3f}); the farthest "
            f"{names[c]} and {names[d]} ({far:.3f})"
        )
    view = {
        "note": note, "rows": rows, "finding": finding,
        "examples": figs.image("class_examples", "The first image of each class in the split "
                               "(seed 001's opening row).",
                               f"One example image of each of the {len(names)} classes."),
        "distance": figs.image("class_distance", f"Class × class distance of the {result.layer} "
                               f"firing profiles, {UNIT}, clustered so close classes sit together; "
                               f"values printed; {finding}.", f"Class distances: {finding}."),
        "ranking": figs.image("class_ranking", "Each row: a class, then the other classes from "
                              "the nearest to the farthest in firing, with their distance "
                              "(seed 001's grid).", f"Classes ranked by firing distance: {finding}."),
    }  # fmt: skip
    return H.render("sections/firing.html", layer=result.layer, **view)
