"""The one callback protocol of :func:`convscope.train.fit`, and the callbacks it builds.

``fit`` is a short loop; everything else a run does is a callback on one protocol:
recording the history (:class:`~convscope.train.History` is itself a callback), writing
it (:class:`HistoryWriter`), keeping the best epoch's weights (:class:`BestWeights`),
stopping early (:class:`EarlyStopping`), saving the training state
(:class:`~convscope.train.checkpoint.Checkpoint`), writing the run record
(:class:`~convscope.train.record.RunRecord`) and following channel similarity
(:class:`~convscope.train.SimilarityTracker`).

The protocol (every hook is optional; any object with some of them works):

* ``on_train_begin(model, data)``: once, before the first (or first resumed) epoch.
* ``on_epoch_end(epoch, logs, model)``: after every epoch (0-based ``epoch``), with the
  model in eval mode; keys added to ``logs`` reach the history if the callback comes
  before it (user callbacks always do).
* ``on_train_end(model, logs)``: once, with ``logs["status"]`` one of ``"complete"``,
  ``"stopped early"``, ``"interrupted"`` or ``"failed"`` (then ``logs["error"]`` too).
* ``stop_training``: set it to ``True`` to end training after the current epoch.
* ``state_dict()`` / ``load_state_dict(state)``: what a checkpoint keeps of the callback
  (plain dicts, lists, numbers, strings and tensors: the checkpoint is loaded with
  ``torch.load(weights_only=True)``). On resume ``load_state_dict`` is called **before**
  ``on_train_begin``, so keep fresh state in ``__init__``, not in ``on_train_begin``.

Example:
    >>> stop = EarlyStopping("val_loss", patience=2)
    >>> for epoch, loss in enumerate([0.9, 0.5, 0.6, 0.7, 0.4]):
    ...     stop.on_epoch_end(epoch, {"val_loss": loss}, model=None)
    ...     if stop.stop_training:
    ...         break
    >>> epoch, stop.best_epoch
    (3, 2)
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from .._io import atomic_write
from ..errors import ConvscopeError
from ..models import ZooModel, save_model
from ..validation import check_int, check_real

__all__ = ["BestWeights", "Callback", "CallbackList", "EarlyStopping", "HistoryWriter"]

logger = logging.getLogger("convscope.train")

_HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end")


class Callback:
    """Base class of training callbacks; override the hooks you need.

    Any object with some of these methods works (they are looked up with ``getattr``).
    ``on_epoch_end`` runs with the model in eval mode, after validation; keys it adds
    to ``logs`` go into the history (and its files).

    Example:
        >>> class LogNorm(Callback):
        ...     def on_epoch_end(self, epoch, logs, model):
        ...         logs["weight_norm"] = float(sum(p.norm() for p in model.parameters()))
    """

    #: Set to ``True`` to end training after the current epoch.
    stop_training: bool = False

    def on_train_begin(self, model: torch.nn.Module, data: Any) -> None:
        """Called once before the first (or first resumed) epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: torch.nn.Module) -> None:
        """Called after every epoch; ``epoch`` is 0-based, ``logs`` this epoch's numbers."""

    def on_train_end(self, model: torch.nn.Module, logs: dict[str, Any]) -> None:
        """Called once at the end; ``logs["status"]`` says how training ended."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of this callback (empty: nothing)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (called before ``on_train_begin``)."""


class CallbackList:
    """Calls every callback's hooks in order; gathers and restores their states.

    States are keyed by class name (``EarlyStopping``; a second one of the same class
    is ``EarlyStopping#2``), so a resumed run may add or drop stateless callbacks.

    Raises:
        ConvscopeError: an item has none of the hooks (not a callback).

    Example:
        >>> callbacks = CallbackList([EarlyStopping("loss", patience=1)])
        >>> callbacks.on_epoch_end(0, {"loss": 1.0}, None)
        >>> callbacks.on_epoch_end(1, {"loss": 2.0}, None)
        >>> callbacks.stop_training, sorted(callbacks.state_dict())
        (True, ['EarlyStopping'])
    """

    def __init__(self, callbacks: Iterable[Any] = ()) -> None:
        self.callbacks = list(callbacks)
        self.keys: list[str] = []
        seen: dict[str, int] = {}
        for index, callback in enumerate(self.callbacks):
            if not any(callable(getattr(callback, hook, None)) for hook in _HOOKS):
                raise ConvscopeError(
                    f"callbacks[{index}] ({type(callback).__name__}) is not a training "
                    f"callback: it has none of {', '.join(_HOOKS)}. Subclass "
                    "convscope.train.Callback and override the hooks you need."
                )
            name = type(callback).__name__
            seen[name] = seen.get(name, 0) + 1
            self.keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")

    def __iter__(self) -> Iterator[Any]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(*args)

    def on_train_begin(self, model: Any, data: Any) -> None:
        """Call every ``on_train_begin``."""
        self._call("on_train_begin", model, data)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        """Call every ``on_epoch_end``, in order, on the same ``logs``."""
        self._call("on_epoch_end", epoch, logs, model)

    def on_train_end(self, model: Any, logs: dict[str, Any]) -> None:
        """Call every ``on_train_end``."""
        self._call("on_train_end", model, logs)

    @property
    def stop_training(self) -> bool:
        """Whether some callback asked to stop."""
        return any(bool(getattr(c, "stop_training", False)) for c in self.callbacks)

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """``{key: state}`` of every callback with a non-empty ``state_dict()``."""
        states = {}
        for key, callback in zip(self.keys, self.callbacks, strict=True):
            method = getattr(callback, "state_dict", None)
            state = method() if callable(method) else None
            if state:
                states[key] = state
        return states

    def load_state_dict(self, states: dict[str, dict[str, Any]]) -> None:
        """Give each callback its saved state; callbacks without one keep their own."""
        for key, callback in zip(self.keys, self.callbacks, strict=True):
            method = getattr(callback, "load_state_dict", None)
            if key in states and callable(method):
                method(states[key])
        unused = sorted(set(states) - set(self.keys))
        if unused:
            logger.debug("resume: no callback takes the saved state of %s", ", ".join(unused))


class _Monitor:
    """A logged quantity and which way is better (lower for ``min``, higher for ``max``)."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        if mode not in ("min", "max"):
            raise ConvscopeError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode = str(monitor), mode
        self.min_delta = check_real(min_delta, "min_delta", minimum=0)
        self.initial = math.inf if mode == "min" else -math.inf

    def value(self, logs: dict[str, Any]) -> float:
        if self.monitor not in logs:
            raise ConvscopeError(
                f"{self.monitor!r} is not in this epoch's logs ({', '.join(logs) or 'none'}); "
                "monitor one of those (without a validation split, monitor 'loss')"
            )
        return float(logs[self.monitor])

    def improved(self, value: float, best: float) -> bool:
        """Strictly better by more than ``min_delta`` (NaN never is)."""
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras' EarlyStopping).

    Args:
        monitor: the logged quantity to follow (``val_loss``, or ``loss`` without a
            validation split).
        patience: epochs without improvement before stopping (at least 1).
        mode: ``"min"`` (lower is better) or ``"max"``.
        min_delta: an improvement must beat the best by more than this.

    Example:
        >>> stop = EarlyStopping("loss", patience=1)
        >>> stop.on_epoch_end(0, {"loss": 1.0}, None); stop.on_epoch_end(1, {"loss": 1.0}, None)
        >>> stop.stop_training, stop.wait
        (True, 1)
    """

    def __init__(
        self, monitor: str = "val_loss", patience: int = 5, mode: str = "min", min_delta: float = 0
    ) -> None:
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.monitor = self._monitor.monitor
        self.patience = check_int(patience, "patience", minimum=1)
        self.wait = 0
        self.best = self._monitor.initial
        self.best_epoch: int | None = None
        self.stop_training = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        """Count epochs without improvement; ask to stop at ``patience``."""
        value = self._monitor.value(logs)
        if self._monitor.improved(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
        else:
            self.wait += 1
        if self.wait >= self.patience:
            self.stop_training = True

    def on_train_end(self, model: Any, logs: dict[str, Any]) -> None:
        """Log why training stopped, when it stopped here."""
        if self.stop_training and logs.get("status") == "stopped early":
            logger.info(
                "early stopping: %s has not improved for %d epochs (best %.4f at epoch %s)",
                self.monitor,
                self.patience,
                self.best,
                self.best_epoch,
            )

    def state_dict(self) -> dict[str, Any]:
        """Wait count, best value and epoch, and whether it asked to stop."""
        return {
            "wait": self.wait,
            "best": float(self.best),
            "best_epoch": self.best_epoch,
            "stopped": bool(self.stop_training),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.wait = int(state["wait"])
        self.best = float(state["best"])
        self.best_epoch = None if state.get("best_epoch") is None else int(state["best_epoch"])
        self.stop_training = bool(state.get("stopped", False))


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the model's ``state_dict`` (independent of later training steps).

    Example:
        >>> state = cpu_state(torch.nn.Linear(2, 1))
        >>> sorted(state), state["weight"].device.type
        (['bias', 'weight'], 'cpu')
    """
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def save_weights(
    model: torch.nn.Module,
    path: str | os.PathLike,
    *,
    class_names: list[str] | None = None,
    dataset: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Save weights as safetensors, atomically: a zoo model with its description
    (:func:`convscope.models.save_model`), any other module as weights only (read them
    with ``safetensors.torch.load_file``).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
        >>> save_weights(torch.nn.Linear(2, 1), path)
        >>> path.exists()
        True
    """
    if isinstance(model, ZooModel):
        save_model(model, path, class_names=class_names, dataset=dataset, extra=extra)
        return
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = safetensors_bytes(state)
    atomic_write(path, lambda f: f.write(blob))


class BestWeights(Callback):
    """Keep the best epoch's weights, write them when they improve, restore them at the end.

    Args:
        monitor: the logged quantity that picks the best epoch.
        path: where to write the best weights each time they improve (a run folder's
            model file); ``None`` keeps them in memory only.
        mode: ``"min"`` (lower is better) or ``"max"``.
        class_names, dataset: stored with a zoo model's weights.
        extra: more metadata for the file; ``epoch`` and the monitored value are added.

    At ``on_train_end`` of a complete or early-stopped run the model gets the best
    weights back (an interrupted or failed run keeps its last weights).

    Example:
        >>> model = torch.nn.Linear(1, 1)
        >>> best = BestWeights("val_loss")
        >>> for epoch, loss in enumerate([0.5, 0.3, 0.4]):
        ...     with torch.no_grad():
        ...         _ = model.weight.fill_(float(epoch))
        ...     best.on_epoch_end(epoch, {"val_loss": loss}, model)
        >>> best.on_train_end(model, {"status": "complete"})
        >>> best.epoch, model.weight.item()
        (2, 1.0)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        path: str | os.PathLike | None = None,
        *,
        mode: str = "min",
        class_names: list[str] | None = None,
        dataset: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._monitor = _Monitor(monitor, mode)
        self.monitor = self._monitor.monitor
        self.path = path
        self.class_names, self.dataset, self.extra = class_names, dataset, dict(extra or {})
        self.epoch: int | None = None  # 1-based, as in the history
        self.value = self._monitor.initial
        self.state: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: torch.nn.Module) -> None:
        """Copy the weights (and write them) when the monitored value improves."""
        value = self._monitor.value(logs)
        if not self._monitor.improved(value, self.value):
            return
        self.epoch, self.value, self.state = epoch + 1, value, cpu_state(model)
        if self.path is not None:
            extra = {"epoch": self.epoch, self.monitor: self.value, **self.extra}
            save_weights(
                model, self.path, class_names=self.class_names, dataset=self.dataset, extra=extra
            )

    def on_train_end(self, model: torch.nn.Module, logs: dict[str, Any]) -> None:
        """Put the best weights back into the model (complete or early-stopped runs)."""
        if self.state is not None and logs.get("status") in ("complete", "stopped early"):
            model.load_state_dict(self.state)

    def state_dict(self) -> dict[str, Any]:
        """The best epoch, its value and its weights."""
        return {"epoch": self.epoch, "value": float(self.value), "state": self.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.epoch = None if state.get("epoch") is None else int(state["epoch"])
        self.value = float(state["value"])
        self.state = state.get("state")


class HistoryWriter(Callback):
    """Write the history to a run folder's JSON and CSV files after every epoch.

    Args:
        run: the :class:`~convscope.runfolder.RunFolder` (it names the files).
        history: the :class:`~convscope.train.History` being recorded; put this callback
            after it, so each write holds the epoch just recorded.

    Example:
        >>> import tempfile
        >>> from convscope.runfolder import RunFolder
        >>> from convscope.train import History
        >>> run, history = RunFolder(tempfile.mkdtemp()), History()
        >>> history.on_epoch_end(0, {"loss": 0.5}, None)
        >>> HistoryWriter(run, history).on_epoch_end(0, {"loss": 0.5}, None)
        >>> run.history()["loss"]
        [0.5]
    """

    def __init__(self, run: Any, history: Any) -> None:
        self.run, self.history = run, history

    def _write(self) -> None:
        self.history.to_json(self.run.history_json)
        self.history.to_csv(self.run.history_csv)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        """Write both files, atomically."""
        self._write()

    def on_train_end(self, model: Any, logs: dict[str, Any]) -> None:
        """Write the files if no epoch did (a resumed run that had nothing left to train)."""
        if len(self.history) and not self.run.history_json.exists():
            self._write()
