"""Channels section: dead channels and data-set-wide channel statistics.

Example:
    >>> import numpy as np
    >>> from convscope.metrics.stats import ChannelStats
    >>> acc = ChannelStats(similarity_samples=0)
    >>> acc.update({"conv": np.array([[[[1.0]], [[0.0]]]])})
    >>> compute(acc.result(), split="test", count=1).to_json()["channels"]["conv"]["dead"]
    [1]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._io import json_safe
from ...metrics.stats import LayerStats
from .. import html as H

ID, TITLE, STEP = "channels", "Dead channels and data-set statistics", "dead channels"
METRICS = ("channels",)


@dataclass(frozen=True)
class ChannelsResult:
    """Per conv layer, its :class:`~convscope.metrics.stats.LayerStats` over the split."""

    split: str
    count: int
    layers: Mapping[str, LayerStats]

    def to_json(self) -> dict[str, Any]:
        """``{"channels": {layer: {dead, fire_fraction, mean_activation, mean_similarity, ...}}}``."""
        return json_safe(
            {
                "channels": {
                    name: {
                        "dead": [int(c) for c in st.dead],
                        "fire_fraction": np.round(st.fire_fraction, 6),
                        "mean_activation": np.round(st.mean, 6),
                        "mean_similarity": None
                        if st.mean_similarity is None
                        else float(st.mean_similarity),
                        "images": int(st.num_samples),
                        "similarity_images": int(st.similarity_samples),
                        "nonfinite": int(getattr(st, "nonfinite", 0)),
                    }
                    for name, st in self.layers.items()
                }
            }
        )


def compute(stats: Mapping[str, LayerStats], *, split: str, count: int) -> ChannelsResult:
    """Wrap the statistics of the conv layers (``{}`` when the model has none)."""
    return ChannelsResult(split=split, count=int(count), layers=dict(stats))


def figures(result: ChannelsResult) -> dict[str, Any]:
    """No figures: the section is a table."""
    return {}


def html(result: ChannelsResult, paths: dict[str, str]) -> str:
    """A note and one table row per layer."""
    rows = []
    for name, st in result.layers.items():
        dead = [int(c) for c in st.dead]
        bad = int(getattr(st, "nonfinite", 0))
        rows.append(
            (
                name if not bad else f"{name} ⚠ {bad} NaN/Inf values",
                len(st.fire_fraction),
                len(dead),
                ", ".join(map(str, dead[:20])) + (" …" if len(dead) > 20 else "") or "none",
                f"{float(np.mean(st.fire_fraction)):.3f}",
                ("not computable" if bad else "–")
                if st.mean_similarity is None
                else f"{st.mean_similarity:.4f}",
            )
        )
    headers = ["layer", "channels", "dead", "dead channels", "mean firing fraction",
               "data-set mean similarity"]  # fmt: skip
    note = (
        f"Over all {result.count} images of the {result.split} split, in one streaming pass. "
        "A dead channel never fires (never above 0) on any image; the similarity means leave "
        "dead and flat channels out."
    )
    return H.render("sections/channels.html", rows=rows, headers=headers, note=note)
