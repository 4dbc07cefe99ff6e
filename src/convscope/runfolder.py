"""A training run's folder: the one place that knows a run's file names.

``convscope train`` and :func:`convscope.train.fit` write a run folder; every other verb
reads one (``convscope report RUN``, ``evaluate RUN``...). Only :class:`RunFolder`
spells the file names, so a layout change is one edit here.

Layout::

    RUN/
      run.json            the run record: model, data set, seed, options, status
      model.safetensors   the best weights so far (safe format, no pickle)
      last.ckpt           the training state after the last completed epoch (resume)
      history.json        per-epoch numbers; history.csv the same as a table
      evaluation.json     the run's own evaluation (test split of its data and seed)
      predictions.npz     its predictions
      epoch_maps.npz      the similarity tracker's probe maps at chosen epochs
      evaluations/        every other evaluation asked for, one folder per request:
        test-mnist5k-seed1/evaluation.json, predictions.npz
      report/             the HTML report

The record's ``split`` holds how the run's data was split (seed, val and test
fractions): every verb that reads the run loads the same split, so its test split stays
the held-out one.

Example:
    >>> run = RunFolder("runs/demo/run")
    >>> run.model.name, run.history_json.name
    ('model.safetensors', 'history.json')
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ._io import safe_filename, write_json
from .errors import FormatError

__all__ = ["RunFolder"]


class RunFolder:
    """Paths and records of one run folder (nothing is read until asked).

    Args:
        path: the run folder (it need not exist yet).
    """

    RECORD = "run.json"
    MODEL = "model.safetensors"
    CHECKPOINT = "last.ckpt"
    HISTORY_JSON = "history.json"
    HISTORY_CSV = "history.csv"
    EVALUATION = "evaluation.json"
    PREDICTIONS = "predictions.npz"
    EVALUATIONS = "evaluations"
    REPORT = "report"
    EPOCH_MAPS = "epoch_maps.npz"
    SPLIT = "split"
    SPLIT_DEFAULTS = {"val_fraction": 0.1, "test_fraction": 0.2}
    """The record key of the split fractions, and the fractions of runs without one."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # -- paths ----------------------------------------------------------------------
    @property
    def record_path(self) -> Path:
        """``run.json``: the run record."""
        return self.path / self.RECORD

    @property
    def model(self) -> Path:
        """``model.safetensors``: the best weights."""
        return self.path / self.MODEL

    @property
    def checkpoint(self) -> Path:
        """``last.ckpt``: the state to resume from."""
        return self.path / self.CHECKPOINT

    @property
    def history_json(self) -> Path:
        """``history.json``."""
        return self.path / self.HISTORY_JSON

    @property
    def history_csv(self) -> Path:
        """``history.csv``."""
        return self.path / self.HISTORY_CSV

    @property
    def epoch_maps(self) -> Path:
        """``epoch_maps.npz``: one probe image's maps of the tracked layer at chosen epochs
        (written by :class:`convscope.train.SimilarityTracker`; numpy arrays, no pickle)."""
        return self.path / self.EPOCH_MAPS

    @property
    def report_dir(self) -> Path:
        """``report/``: where ``convscope report RUN`` writes by default."""
        return self.path / self.REPORT

    @property
    def evaluation_dir(self) -> Path:
        """The folder holding the run's own evaluation (the run folder itself)."""
        return self.path

    @property
    def evaluation(self) -> Path:
        """``evaluation.json``: the run's own evaluation."""
        return self.path / self.EVALUATION

    @property
    def evaluations_dir(self) -> Path:
        """``evaluations/``: one folder per evaluation asked for (:meth:`request_dir`)."""
        return self.path / self.EVALUATIONS

    def request_dir(self, split: str, dataset: str, seed: int) -> Path:
        """The folder of an evaluation asked for on ``split`` of ``dataset`` with ``seed``.

        Example:
            >>> RunFolder("r").request_dir("test", "mnist5k", 1).as_posix()
            'r/evaluations/test-mnist5k-seed1'
        """
        return self.path / self.EVALUATIONS / safe_filename(f"{split}-{dataset}-seed{seed}")

    def is_own_request(self, split: str, dataset: str | None, seed: int) -> bool:
        """Whether an evaluation of ``split``/``dataset``/``seed`` is the run's own one:
        the test split of the data it was trained on, split with its seed.

        Example:
            >>> RunFolder("/nonexistent").is_own_request("test", None, 0)
            False
        """
        own = self.dataset()
        return split == "test" and own is not None and dataset == own and seed == self.seed()

    def split_options(self) -> dict[str, Any]:
        """How the run's data was split: ``{"seed", "val_fraction", "test_fraction"}``.

        Runs recorded before the fractions were kept used the defaults (0.1, 0.2).

        Raises:
            FormatError: the recorded fractions are not numbers.

        Example:
            >>> RunFolder("/nonexistent").split_options()
            {'seed': 0, 'val_fraction': 0.1, 'test_fraction': 0.2}
        """
        recorded = self.record().get(self.SPLIT) or {}
        out: dict[str, Any] = {"seed": self.seed()}
        for key, default in self.SPLIT_DEFAULTS.items():
            value = recorded.get(key, default) if isinstance(recorded, dict) else default
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FormatError(f"{self.record_path}: split {key} {value!r} is not a number")
            out[key] = float(value)
        return out

    def record_split(self, val_fraction: float, test_fraction: float) -> Path | None:
        """Keep the split fractions in the run record (nothing without a record)."""
        split = {"val_fraction": val_fraction, "test_fraction": test_fraction}
        return self._add_to_record(self.SPLIT, split)

    def record_track(self, layers: str, probe: int) -> Path | None:
        """Keep ``convscope train --track``'s options in the run record, so ``--resume``
        tracks the same layers (nothing without a record)."""
        return self._add_to_record("track", {"layers": layers, "probe": int(probe)})

    def _add_to_record(self, key: str, value: Any) -> Path | None:
        record = self.record()
        if not record:
            return None
        record[key] = value
        return self.write_record(record)

    def files(self) -> dict[str, Any]:
        """The file names a run record lists (what the folder holds)."""
        return {
            "model": self.MODEL,
            "checkpoint": self.CHECKPOINT,
            "history": [self.HISTORY_JSON, self.HISTORY_CSV],
            "evaluation": self.EVALUATION,
            "evaluations": self.EVALUATIONS,
        }

    def owned_paths(self) -> list[Path]:
        """Every file and folder of the run this class names (what ``--force`` replaces).

        Example:
            >>> [p.name for p in RunFolder("r").owned_paths()][:3]
            ['run.json', 'model.safetensors', 'last.ckpt']
        """
        names = [self.RECORD, self.MODEL, self.CHECKPOINT, self.HISTORY_JSON, self.HISTORY_CSV,
                 self.EVALUATION, self.PREDICTIONS, self.EPOCH_MAPS, self.EVALUATIONS,
                 self.REPORT]  # fmt: skip
        return [self.path / name for name in names]

    # -- state ----------------------------------------------------------------------
    def is_run(self) -> bool:
        """Whether the folder holds a run (a record, weights or a checkpoint)."""
        return any(p.exists() for p in (self.record_path, self.model, self.checkpoint))

    def has_training(self) -> bool:
        """Whether the folder holds trained weights or a resumable checkpoint."""
        return self.model.exists() or self.checkpoint.exists()

    def record(self) -> dict[str, Any]:
        """``run.json`` as a dict (empty when the folder has none).

        Raises:
            FormatError: the file exists but is not a JSON object.
        """
        path = self.record_path
        if not path.is_file():
            return {}
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path} is not readable JSON: {exc}") from None
        if not isinstance(record, dict):
            raise FormatError(f"{path} does not hold a run record (a JSON object)")
        return record

    def write_record(self, record: dict[str, Any]) -> Path:
        """Write ``run.json`` atomically."""
        return write_json(self.record_path, record)

    def seed(self) -> int:
        """The seed the run was trained with (its split depends on it); 0 without a record.

        Raises:
            FormatError: the record's seed is not an integer.
        """
        record = self.record()
        try:
            return int((record.get("options") or {}).get("seed", record.get("seed", 0)) or 0)
        except (TypeError, ValueError):
            raise FormatError(f"{self.record_path} has a seed that is not an integer") from None

    def status(self) -> str | None:
        """How the run stands: ``"running"``, ``"complete"``, ``"stopped early"``,
        ``"interrupted"`` or ``"failed"``; None without a record.

        Example:
            >>> RunFolder("/nonexistent").status() is None
            True
        """
        value = self.record().get("status")
        return str(value) if value is not None else None

    def dataset(self) -> str | None:
        """The data set the run was trained on, from its record."""
        value = self.record().get("dataset")
        return str(value) if value else None

    def history(self) -> dict[str, list] | None:
        """The per-epoch history as ``{key: [values]}``, or None when there is none.

        Raises:
            FormatError: ``history.json`` exists but is not a history (the path is named).
        """
        path = self.history_json
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path} is not readable JSON ({exc}); delete it or rerun") from None
        if not isinstance(record, dict) or not all(isinstance(v, list) for v in record.values()):
            raise FormatError(f"{path} does not hold a training history ({{key: [values]}})")
        return record
