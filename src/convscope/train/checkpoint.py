"""The training state a run can resume from, and the callback that saves it every epoch.

A checkpoint is one ``torch.save`` dict (tensors, numbers, strings, lists and dicts only,
so ``torch.load(path, weights_only=True)`` reads it): the model and optimizer states,
every random state that training draws from, the history, the callbacks' own states
(:meth:`CallbackList.state_dict`) and what the run was trained on, so ``resume`` can
refuse another model or data set. Restoring all of it makes a resumed run bit-identical
to an uninterrupted one on CPU.

Version 1 (convscope 0.x before the callback protocol) kept the best weights and the
early-stopping counters at the top level; :func:`load_checkpoint` still reads it.

Example:
    >>> from convscope.runfolder import RunFolder
    >>> load_checkpoint(RunFolder("runs/demo").checkpoint)["epoch"]  # doctest: +SKIP
    7
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write
from ..errors import ConvscopeError, FormatError
from .callbacks import Callback, CallbackList, cpu_state
from .history import History

__all__ = ["FORMAT", "VERSION", "Checkpoint", "TrainState", "load_checkpoint"]

logger = logging.getLogger("convscope.train")

FORMAT = "convscope-train-checkpoint"
VERSION = 2


class Checkpoint(Callback):
    """Save the training state after every epoch, atomically (the last one wins).

    Args:
        path: the checkpoint file (a run folder's ``RunFolder.checkpoint``).
        state: ``state(epoch)`` returns the dict to save (see :meth:`TrainState.checkpoint`).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "state.ckpt"
        >>> save = Checkpoint(path, lambda epoch: {"format": FORMAT, "version": VERSION,
        ...                                        "epoch": epoch})
        >>> save.on_epoch_end(0, {}, None)
        >>> torch.load(path, weights_only=True)["epoch"]
        0
    """

    def __init__(self, path: str | os.PathLike, state: Callable[[int], dict[str, Any]]) -> None:
        self.path = Path(path)
        self.state = state

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        """Write ``state(epoch)`` over the previous checkpoint."""
        payload = self.state(epoch)
        atomic_write(self.path, lambda f: torch.save(payload, f))


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every random state training draws from: torch's, the shuffle generator, numpy's, CUDA's.

    Example:
        >>> generator = torch.Generator().manual_seed(0)
        >>> saved = rng_state(generator)
        >>> first = torch.rand(1), torch.randperm(5, generator=generator), np.random.rand()
        >>> set_rng_state(saved, generator)
        >>> again = torch.rand(1), torch.randperm(5, generator=generator), np.random.rand()
        >>> all(bool(np.all(np.asarray(a) == np.asarray(b))) for a, b in zip(first, again))
        True
    """
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "shuffle": generator.get_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    """Restore what :func:`rng_state` returned (see its example)."""
    torch.set_rng_state(state["torch"])
    generator.set_state(state["shuffle"])
    np.random.set_state(
        (
            "MT19937",
            state["numpy_keys"].numpy().astype(np.uint32),
            int(state["numpy_pos"]),
            int(state["numpy_has_gauss"]),
            float(state["numpy_gauss"]),
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class TrainState:
    """What the loop itself carries from epoch to epoch (callbacks carry the rest).

    Attributes:
        model, optimizer, generator: the trained module, its optimizer, the shuffle RNG.
        history: the per-epoch record (it is also the callback that records it).
        model_desc, data_desc, options: what the run trains; a resume must match them.
        epoch: the next epoch to train (0-based); ``stopped``: a callback asked to stop.
        callbacks: every callback of the run, in order (the checkpoint keeps their states).
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    model_desc: dict[str, Any]
    data_desc: dict[str, Any]
    options: dict[str, Any]
    history: History = field(default_factory=History)
    epoch: int = 0
    stopped: bool = False
    callbacks: CallbackList = field(default_factory=CallbackList)

    def checkpoint(self, epoch: int) -> dict[str, Any]:
        """The checkpoint after ``epoch`` (0-based), callbacks' states included."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "epoch": epoch,
            "model": cpu_state(self.model),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng_state(self.generator),
            "history": self.history.history,
            "stopped": self.callbacks.stop_training,
            "callbacks": self.callbacks.state_dict(),
            "model_desc": self.model_desc,
            "data_desc": self.data_desc,
            "options": self.options,
        }

    def resume(self, path: Path) -> dict[str, Any]:
        """Load ``path`` into this state (not the random states: the caller sets them last).

        Returns:
            The checkpoint, for its ``callbacks`` and ``rng`` entries.

        Raises:
            FormatError: not a readable convscope checkpoint.
            ConvscopeError: written for another model or data set.
        """
        ckpt = load_checkpoint(path)
        check_resumable(ckpt, self.model_desc, self.data_desc, path)
        for key in ("batch_size", "lr", "seed"):
            if ckpt["options"].get(key) != self.options[key]:
                logger.warning(
                    "resuming with %s=%r (the checkpoint used %r): the result will differ "
                    "from an uninterrupted run",
                    key,
                    self.options[key],
                    ckpt["options"].get(key),
                )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        for group in self.optimizer.param_groups:
            group["lr"] = float(self.options["lr"])
        self.history.history = History(ckpt["history"]).history  # in place: it is a callback
        self.epoch = int(ckpt["epoch"]) + 1
        self.stopped = bool(ckpt["stopped"])
        logger.info("resuming %s after epoch %d", path.parent, self.epoch)
        return ckpt


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint (any version) in the current layout.

    Raises:
        FormatError: unreadable, not a convscope checkpoint, or from a newer convscope.

    Example:
        >>> load_checkpoint("/nonexistent.ckpt")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        convscope.errors.FormatError: /nonexistent.ckpt is not a readable training checkpoint ...
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise FormatError(
            f"{path} is not a readable training checkpoint ({exc}); start a new run without resume"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise FormatError(f"{path} is not a convscope training checkpoint")
    version = ckpt.get("version")
    if version == 1:
        return _upgrade_v1(ckpt)
    if version != VERSION:
        raise FormatError(
            f"{path} is a version {version} training checkpoint; this convscope reads versions "
            f"1 to {VERSION}. Upgrade convscope to resume it, or start a new run."
        )
    return ckpt


def _upgrade_v1(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the callbacks' states at the top level: move them under ``callbacks``."""
    epoch, value = ckpt.pop("best_epoch"), float(ckpt.pop("best_value"))
    run = ckpt.pop("run", None) or {}
    ckpt["callbacks"] = {
        "BestWeights": {"epoch": epoch, "value": value, "state": ckpt.pop("best_state")},
        "EarlyStopping": {
            "wait": int(ckpt.pop("wait")),
            "best": value,
            "best_epoch": epoch,
            "stopped": bool(ckpt["stopped"]),
        },
        "RunRecord": {"started": run.get("started"), "resumed": list(run.get("resumed", []))},
    }
    ckpt["version"] = VERSION
    return ckpt


def check_resumable(
    ckpt: dict[str, Any], model_desc: dict[str, Any], data_desc: dict[str, Any], path: Path
) -> None:
    """Refuse a checkpoint of another model or data set, naming both.

    Raises:
        ConvscopeError: the architecture, input shape, classes or weights' layout differ,
            or the data set does (name, size, shape or fingerprint).

    Example:
        >>> from pathlib import Path
        >>> model = {"arch": "a", "input_shape": [1, 8, 8], "num_classes": 2}
        >>> data = {"name": "toy", "n_train": 4}
        >>> check_resumable({"model_desc": model, "data_desc": data}, model, {**data, "n_train": 5},
        ...                 Path("last.ckpt"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        convscope.errors.ConvscopeError: cannot resume: last.ckpt was trained on data 'toy' (4 ...
    """
    old_m, old_d = ckpt["model_desc"], ckpt["data_desc"]
    model_keys = ("arch", "input_shape", "num_classes", "state_signature")
    if any(old_m.get(k) != model_desc.get(k) for k in model_keys):
        raise ConvscopeError(
            f"cannot resume: {path} was written for model {old_m['arch']} "
            f"(input {old_m['input_shape']}, {old_m['num_classes']} classes), but this run "
            f"trains {model_desc['arch']} (input {model_desc['input_shape']}, "
            f"{model_desc['num_classes']} classes). Resume with the same model, or train "
            "into a new run folder without resume."
        )
    if old_d != data_desc:
        raise ConvscopeError(
            f"cannot resume: {path} was trained on data {old_d.get('name')!r} "
            f"({old_d.get('n_train')} training images of shape {old_d.get('input_shape')}, "
            f"fingerprint {old_d.get('fingerprint')}), but this run passes "
            f"{data_desc.get('name')!r} ({data_desc.get('n_train')} images of shape "
            f"{data_desc.get('input_shape')}, fingerprint {data_desc.get('fingerprint')}). "
            "Resume with the same data set and seed, or train into a new run folder."
        )
