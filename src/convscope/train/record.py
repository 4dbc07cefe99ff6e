"""The run record (what a run trained, how far it got, how it ended) and its callback.

:class:`RunRecord` keeps the run folder's record current: ``"running"`` when training
begins and after every epoch, then ``"complete"``, ``"stopped early"``, ``"interrupted"``
(Ctrl-C) or ``"failed"`` (with the error) at the end. Only
:class:`~convscope.runfolder.RunFolder` knows the file's name.

Example:
    >>> read_run("/nonexistent")
    {}
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
from typing import Any

import numpy as np
import torch

from .._version import __version__
from ..runfolder import RunFolder
from .callbacks import BestWeights, Callback

__all__ = [
    "CHECKPOINT_FILE",
    "HISTORY_CSV",
    "HISTORY_JSON",
    "RUN_FILE",
    "RunRecord",
    "model_description",
    "new_record",
    "read_run",
    "run_seed",
]

# Compatibility names: the run folder's file names, as RunFolder spells them.
CHECKPOINT_FILE = RunFolder.CHECKPOINT
RUN_FILE = RunFolder.RECORD
HISTORY_JSON = RunFolder.HISTORY_JSON
HISTORY_CSV = RunFolder.HISTORY_CSV


def read_run(folder: str | os.PathLike) -> dict[str, Any]:
    """The run record of a run folder as a dict (empty when the folder has none).

    Same as ``RunFolder(folder).record()``.

    Raises:
        FormatError: the record exists but is not readable JSON.

    Example:
        >>> read_run("/nonexistent")
        {}
    """
    return RunFolder(folder).record()


def run_seed(folder: str | os.PathLike) -> int:
    """The seed a run was trained with (its split depends on it); 0 without a record.

    Same as ``RunFolder(folder).seed()``.

    Example:
        >>> run_seed("/nonexistent")
        0
    """
    return RunFolder(folder).seed()


def now() -> str:
    """The current UTC time, ISO 8601 to the second.

    Example:
        >>> now().endswith("+00:00")
        True
    """
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def model_description(model: torch.nn.Module) -> dict[str, Any]:
    """Architecture, input shape, classes, size and weights' layout of a model.

    Example:
        >>> model_description(torch.nn.Linear(2, 3))["parameters"]
        9
    """
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    signature = hashlib.sha1(repr(sorted(shapes.items())).encode()).hexdigest()[:16]
    return {
        "arch": getattr(model, "arch", None) or type(model).__name__,
        "input_shape": list(getattr(model, "input_shape", None) or []) or None,
        "num_classes": getattr(model, "num_classes", None),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "state_signature": signature,
    }


def new_record(
    *,
    model_desc: dict[str, Any],
    data_desc: dict[str, Any],
    class_names: list[str],
    options: dict[str, Any],
    epochs_completed: int = 0,
) -> dict[str, Any]:
    """A fresh run record for a run with these descriptions and options.

    Example:
        >>> record = new_record(model_desc={}, data_desc={"name": "toy"}, class_names=["a"],
        ...                     options={"seed": 3, "monitor": "loss"})
        >>> record["status"], record["seed"], record["best_loss"]
        ('running', 3, None)
    """
    monitor = options.get("monitor", "val_loss")
    return {
        "format": "convscope-run",
        "version": 1,
        "status": "running",
        "model": model_desc,
        "dataset": data_desc.get("name"),
        "data": data_desc,
        "class_names": list(class_names),
        "options": options,
        "seed": options.get("seed"),
        "versions": {
            "convscope": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "started": now(),
        "ended": None,
        "epochs_completed": int(epochs_completed),
        "best_epoch": None,
        f"best_{monitor}": None,
        "files": {
            "model": RunFolder.MODEL,
            "checkpoint": RunFolder.CHECKPOINT,
            "history": [RunFolder.HISTORY_JSON, RunFolder.HISTORY_CSV],
        },
    }


class RunRecord(Callback):
    """Keep a run folder's record current: status, epochs done, best epoch, times.

    Args:
        run: the :class:`~convscope.runfolder.RunFolder`.
        record: the record to keep (see :func:`new_record`).
        best: the run's :class:`BestWeights`, whose epoch and value the record shows.

    Example:
        >>> import tempfile
        >>> run = RunFolder(tempfile.mkdtemp())
        >>> options = {"seed": 0, "monitor": "loss"}
        >>> rec = RunRecord(run, new_record(model_desc={}, data_desc={}, class_names=[],
        ...                                 options=options))
        >>> rec.on_train_begin(None, None); rec.on_epoch_end(0, {"loss": 1.0}, None)
        >>> rec.on_train_end(None, {"status": "interrupted"})
        >>> run.record()["status"], run.record()["epochs_completed"]
        ('interrupted', 1)
    """

    def __init__(
        self, run: RunFolder, record: dict[str, Any], best: BestWeights | None = None
    ) -> None:
        self.run, self.record, self.best = run, record, best

    def _write(self, status: str) -> None:
        self.record["status"] = status
        if status != "running":
            self.record["ended"] = now()
        if self.best is not None:
            self.record["best_epoch"] = self.best.epoch
            value = self.best.value if self.best.epoch else None
            self.record[f"best_{self.best.monitor}"] = value
        self.run.write_record(self.record)

    def on_train_begin(self, model: Any, data: Any) -> None:
        """Mark the run ``"running"``."""
        self._write("running")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        """Count the epoch; the best epoch so far comes from ``best``."""
        self.record["epochs_completed"] = epoch + 1
        self._write("running")

    def on_train_end(self, model: Any, logs: dict[str, Any]) -> None:
        """Write how training ended (and the error, when it failed)."""
        if logs.get("error"):
            self.record["error"] = logs["error"]
        self._write(str(logs.get("status", "complete")))

    def state_dict(self) -> dict[str, Any]:
        """When the run started and when it was resumed."""
        return {"started": self.record["started"], "resumed": list(self.record.get("resumed", []))}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the saved run: keep its start time, add this resume."""
        self.record["started"] = state.get("started") or self.record["started"]
        self.record["resumed"] = [*state.get("resumed", []), now()]
