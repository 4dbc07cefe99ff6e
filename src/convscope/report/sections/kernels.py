"""Kernels section: the first conv layer's weights as heat maps (seed 003).

Example:
    >>> import convscope as cs
    >>> model = cs.models.build("mnist_convnet")
    >>> result = compute(model, cs.layers(model))
    >>> result.to_json()["kernels"]["layer"], result.to_json()["kernels"]["shape"]
    ('conv2d', [32, 1, 3, 3])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import render
from ..._io import json_safe
from ...adapters import adapter_for
from ...capturing import LayerInfo
from .. import html as H

ID, TITLE, STEP = "kernels", "First-layer kernels", "kernels"
METRICS: tuple[str, ...] = ()
"""The kernels are drawn, not written to ``metrics.json``."""


@dataclass(frozen=True)
class KernelsResult:
    """The first conv layer and its weights (out, in, kh, kw), ``None`` when unavailable."""

    layer: str | None
    weights: np.ndarray | None

    def to_json(self) -> dict[str, Any]:
        """``{"kernels": {layer, shape, weights}}`` (``None`` values without weights)."""
        weights = self.weights
        return {
            "kernels": json_safe(
                {
                    "layer": self.layer,
                    "shape": None if weights is None else list(weights.shape),
                    "weights": None if weights is None else np.round(weights, 6),
                }
            )
        }


def compute(model: Any, infos: Sequence[LayerInfo]) -> KernelsResult:
    """The weights of the model's first conv layer, from whatever backend runs it."""
    convs = [i.name for i in infos if i.kind == "conv"]
    if not convs:
        return KernelsResult(None, None)
    with adapter_for(model) as adapter:
        weights = adapter.kernels(convs[0])
    return KernelsResult(convs[0], None if weights is None else np.asarray(weights))


def figures(result: KernelsResult) -> dict[str, Any]:
    """``kernels``: RGB patches for colour inputs, else input channel 0 of every filter."""
    if result.weights is None:
        return {}
    return {"kernels": render.kernels(result.weights)}


def html(result: KernelsResult, paths: dict[str, str]) -> str:
    """The kernel figure, or a note when the backend gives no weights."""
    if result.weights is None:
        return H.render("sections/kernels.html", kernels=None)
    figs = paths if isinstance(paths, H.Figures) else H.Figures(paths)
    w = result.weights
    out_c, in_c = w.shape[:2]
    shape = "×".join(map(str, w.shape))
    if in_c == 3:
        how = (
            "each filter as an RGB patch (0.5 + w / (2·max|w|): grey is 0, colour what it prefers)"
        )
    else:
        how = f"input channel 0 of {in_c} of each filter, colours centred on zero (white is 0)"
    shown = min(out_c, 64)
    image = figs.image(
        "kernels",
        f"{result.layer} weights {shape} (out × in × height × width): {how}; the first "
        f"{shown} of {out_c} filters (seed 003).",
        f"{result.layer}: {out_c} kernels {w.shape[2]}×{w.shape[3]}, weights from "
        f"{float(w.min()):.2f} to {float(w.max()):.2f}.",
    )
    return H.render("sections/kernels.html", kernels=image)
