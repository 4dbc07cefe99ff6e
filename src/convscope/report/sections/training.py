"""Training section: the history curves of a run and the tracked channel similarity.

Example:
    >>> result = compute({"loss": [0.9, 0.5], "val_loss": [1.0, float("nan")]})
    >>> result.to_json()["training"]["history"]["val_loss"]
    [1.0, None]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ... import render
from ..._io import json_safe
from .. import html as H

ID, TITLE, STEP = "training", "Training", "training curves"
METRICS = ("training",)


@dataclass(frozen=True)
class TrainingResult:
    """A run's history, or ``None`` when the report was made from a model file.

    Attributes:
        history: ``{key: per-epoch values}``.
        epochs: number of epochs.
        tracked: the ``similarity/<layer>`` keys of the similarity tracker.
    """

    history: Mapping[str, tuple] | None
    epochs: int = 0
    tracked: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """``{"training": {"epochs", "history"}}`` (``None`` without history); NaN as null."""
        if self.history is None:
            return {"training": None}
        history = {key: list(values) for key, values in self.history.items()}
        return {"training": json_safe({"epochs": self.epochs, "history": history})}


def _tracked(history: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(k for k in history if k.startswith("similarity/") and not k.endswith("/std"))


def compute(history: Mapping[str, Sequence[Any]] | None) -> TrainingResult:
    """Keep a history that has a loss curve; anything else means no training section."""
    if not history or not any(history.get(k) for k in ("loss", "val_loss")):
        return TrainingResult(None)
    kept = {key: tuple(values) for key, values in history.items()}
    epochs = len(next(iter(v for v in history.values() if isinstance(v, list | tuple))))
    return TrainingResult(kept, epochs, _tracked(kept))


def _shows_similarity(result: TrainingResult) -> bool:
    return bool(result.tracked) or "similarity" in (result.history or {})


def figures(result: TrainingResult) -> dict[str, Any]:
    """``history`` (accuracy and loss) and, with a tracker, ``similarity_vs_loss``."""
    if result.history is None:
        return {}
    history = {key: list(values) for key, values in result.history.items()}
    out = {"history": render.history(history)}
    if _shows_similarity(result):
        out["similarity_vs_loss"] = render.similarity_vs_loss(
            history, key=list(result.tracked) or None
        )
    return out


def html(result: TrainingResult, paths: dict[str, str]) -> str:
    """The curves and the first/last tracked similarity, or a note without a run."""
    if result.history is None:
        return H.para(
            "No training history: this report was made from a model file, not a run folder.",
            "note",
        )
    parts = [
        H.figure(
            paths["history"],
            "Accuracy and loss per epoch, train against validation (seeds 001, 002).",
        )
    ]
    if _shows_similarity(result):
        parts.append(
            H.figure(
                paths["similarity_vs_loss"],
                "Mean channel similarity of the tracked layer per epoch against val_loss "
                "(seed 000): feature maps decorrelate as the model learns.",
            )
        )
        rows = [
            (k, f"{v[0]:.4f}", f"{v[-1]:.4f}")
            for k, v in result.history.items()
            if k in result.tracked and v
        ]
        parts.append(H.table(["tracked", "first epoch", "last epoch"], rows, numeric=(1, 2)))
    return "".join(parts)
