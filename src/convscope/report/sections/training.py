"""Training section: the history curves of a run, the tracked channel similarity and the
tracked maps across epochs (seed 000's story: similarity against val_loss, and the maps).

Example:
    >>> result = compute({"loss": [0.9, 0.5], "val_loss": [1.0, float("nan")]})
    >>> result.to_json()["training"]["history"]["val_loss"]
    [1.0, None]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import render
from ..._io import json_safe
from ...history_keys import tracked_layers
from ...train.tracker import EpochMaps
from .. import html as H

ID, TITLE, STEP = "training", "Training", "training curves"
METRICS = ("training",)
SVG = ("history", "similarity_vs_loss")
"""Line charts, saved as SVG (sharp at any zoom, small)."""


@dataclass(frozen=True)
class TrainingResult:
    """A run's history, or ``None`` when the report was made from a model file.

    Attributes:
        history: ``{key: per-epoch values}``.
        epochs: number of epochs.
        tracked: the ``similarity/<layer>`` keys of the similarity tracker (model order).
        trends: each tracked layer's :class:`convscope.render.curves.Trend`.
        epoch_maps: the tracker's probe maps at chosen epochs, if the run kept them.
    """

    history: Mapping[str, tuple] | None
    epochs: int = 0
    tracked: tuple[str, ...] = ()
    trends: tuple[Any, ...] = ()
    epoch_maps: EpochMaps | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"training": {"epochs", "history", "trends", "epoch_maps"}}`` (``None`` without
        a history); NaN as null."""
        if self.history is None:
            return {"training": None}
        history = {key: list(values) for key, values in self.history.items()}
        trends = {
            t.layer: {"first": t.first, "last": t.last, "change": t.change, "spearman_loss": t.rho,
                      "loss_key": t.loss_key, "excluded_last": t.excluded}
            for t in self.trends
        }  # fmt: skip
        kept = self.epoch_maps
        maps = None
        if kept is not None:
            maps = {"layer": kept.layer, "epochs": kept.epochs, "similarity": kept.values,
                    "shape": list(kept.maps.shape[1:])}  # fmt: skip
        payload = {"epochs": self.epochs, "history": history, "trends": trends, "epoch_maps": maps}
        return {"training": json_safe(payload)}


def compute(
    history: Mapping[str, Sequence[Any]] | None, epoch_maps: EpochMaps | None = None
) -> TrainingResult:
    """Keep a history that has a loss curve; anything else means no training section.

    Args:
        history: the run's per-epoch numbers.
        epoch_maps: what the similarity tracker kept of the probe's maps (optional).
    """
    if not history or not any(history.get(k) for k in ("loss", "val_loss")):
        return TrainingResult(None)
    kept = {key: tuple(values) for key, values in history.items()}
    epochs = len(next(iter(v for v in history.values() if isinstance(v, list | tuple))))
    layers = tracked_layers(kept)
    tracked = tuple(f"similarity/{layer}" for layer in layers)
    trends: tuple[Any, ...] = ()
    if tracked or "similarity" in kept:
        trends = tuple(render.similarity_trends(dict(kept), key="all"))
    return TrainingResult(kept, epochs, tracked, trends, epoch_maps)


def figures(result: TrainingResult) -> dict[str, Any]:
    """``history``, ``similarity_vs_loss`` (every tracked layer) and ``maps_over_epochs``."""
    if result.history is None:
        return {}
    history = {key: list(values) for key, values in result.history.items()}
    out = {"history": render.history(history)}
    if result.trends:
        out["similarity_vs_loss"] = render.similarity_vs_loss(history, key="all")
    kept = result.epoch_maps
    if kept is not None:
        out["maps_over_epochs"] = render.maps_over_epochs(
            kept.maps, kept.epochs.tolist(), values=kept.values.tolist(), layer=kept.layer
        )
    return out


def _history_finding(history: Mapping[str, tuple]) -> str:
    parts = []
    for key in ("val_accuracy", "val_acc", "accuracy"):
        values = np.array([np.nan if v is None else v for v in history.get(key, ())], float)
        if values.size and np.isfinite(values).any():
            best = int(np.nanargmax(values))
            parts.append(f"{key} peaks at {values[best]:.3f} in epoch {best + 1} of {values.size}")
            break
    for key in ("val_loss", "loss"):
        values = np.array([np.nan if v is None else v for v in history.get(key, ())], float)
        if values.size and np.isfinite(values).any():
            best = int(np.nanargmin(values))
            parts.append(f"{key} is lowest ({values[best]:.3f}) in epoch {best + 1}")
            break
    return "; ".join(parts) or "training curves"


def _trend_rows(result: TrainingResult) -> list[tuple]:
    return [
        (t.layer, f"{t.first:.4f}", f"{t.last:.4f}", H.signed_percent(t.change),
         "–" if t.rho is None else f"{t.rho:.2f}".replace("-", "\u2212"),
         "–" if t.excluded is None else int(t.excluded))
        for t in reversed(result.trends)
    ]  # fmt: skip


def _strip_caption(kept: EpochMaps) -> str:
    values = ", ".join(f"{v:.3f}" for v in kept.values)
    return (
        f"{kept.layer}'s {kept.maps.shape[1]} maps of the tracker's first probe image at epochs "
        f"{', '.join(str(int(e)) for e in kept.epochs)}; the layer's mean {kept.metric} "
        f"similarity at those epochs: {values}. Each map is on its own scale; hatched maps are "
        "flat at that epoch."
    )


def html(result: TrainingResult, paths: dict[str, str]) -> str:
    """The curves, what the tracked similarity did (from the numbers) and the maps strip."""
    if result.history is None:
        return H.render("sections/training.html", history=None)
    figs = paths if isinstance(paths, H.Figures) else H.Figures(paths)
    finding = _history_finding(result.history)
    view: dict[str, Any] = {
        "history": figs.image(
            "history", "Accuracy and loss per epoch, train against validation (seeds 001, 002).",
            f"Training curves: {finding}.",
        ),
        "chart": None, "strip": None, "rows": _trend_rows(result), "caption": "",
    }  # fmt: skip
    if result.trends:
        caption = render.similarity_caption(dict(result.history), key="all")
        view["caption"] = caption
        view["chart"] = figs.image(
            "similarity_vs_loss",
            "Mean channel similarity of each tracked layer per epoch (left axis; the band: "
            f"± std over the probe images) against {result.trends[-1].loss_key or 'the loss'} "
            "(right axis), seed 000's chart; dead and flat channels left out.",
            caption,
        )
    kept = result.epoch_maps
    if kept is not None and "maps_over_epochs" in figs:
        first, last = kept.values[0], kept.values[-1]
        moved = "falls" if last < first else "rises" if last > first else "stays"
        view["strip"] = figs.image(
            "maps_over_epochs", _strip_caption(kept),
            f"{kept.layer} maps of one image at epochs {int(kept.epochs[0])} to "
            f"{int(kept.epochs[-1])}, while its mean similarity {moved} from {first:.3f} to "
            f"{last:.3f}.",
        )  # fmt: skip
    return H.render("sections/training.html", **view)
