"""The epoch loop of ``fit``: train, validate, hand the numbers to the callbacks.

Example:
    >>> from convscope.train.callbacks import CallbackList
    >>> from convscope.train.checkpoint import TrainState
    >>> from convscope.train.inputs import TrainingData
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> state = TrainState(model, torch.optim.Adam(model.parameters()),
    ...                    torch.Generator().manual_seed(0), {}, {}, {})
    >>> split = TrainingData(torch.rand(8, 1, 2, 2), torch.tensor([0, 1] * 4))
    >>> state.callbacks = CallbackList([state.history])
    >>> run_epochs(state, split, None, epochs=2, batch_size=4, device=torch.device("cpu"),
    ...            progress=False)
    'complete'
    >>> state.history["epoch"]
    [1, 2]
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._batching import batch_slices
from .checkpoint import TrainState, set_rng_state
from .inputs import TrainingData

__all__ = ["ProgressFn", "run_epochs"]

logger = logging.getLogger("convscope.train")

#: ``progress`` callables are called as ``progress(epoch, step, steps, logs)`` after
#: every training batch (0-based ``epoch`` and ``step``; ``logs`` holds the running
#: ``loss`` and ``accuracy`` of the epoch so far).
ProgressFn = Callable[[int, int, int, dict], None]


@contextlib.contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """cuDNN in deterministic mode for the duration of training (CPU ops already are).

    Example:
        >>> with deterministic(torch.device("cpu")):
        ...     pass
    """
    if device.type != "cuda":
        yield
        return
    old = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old


def _maybe_to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    # Small data sets live on the accelerator for the whole run (no per-batch copies).
    if device.type != "cpu" and t.numel() * t.element_size() <= 1 << 30:
        return t.to(device)
    return t


class _Running:
    """Running sums of one training epoch, kept on the device (no sync per batch)."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.seen = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        n = int(y.shape[0])
        self.loss_sum += loss.detach().double() * n
        self.correct += (logits.detach().argmax(dim=1) == y).sum()
        self.seen += n

    def logs(self) -> dict[str, float]:
        seen = max(self.seen, 1)
        return {"loss": float(self.loss_sum) / seen, "accuracy": float(self.correct) / seen}


class _Progress:
    """A tqdm bar per epoch (``progress=True``), a user callable, or nothing."""

    def __init__(self, progress: bool | ProgressFn, epoch: int, epochs: int, steps: int):
        self.fn = progress if callable(progress) else None
        self.bar = None
        self.epoch, self.steps = epoch, steps
        self.every = max(1, steps // 50)
        if progress is True:
            self.bar = tqdm(
                total=steps,
                desc=f"Epoch {epoch + 1}/{epochs}",
                unit="batch",
                file=sys.stderr,
                leave=False,
                disable=None,  # off when stderr is not a terminal
                dynamic_ncols=True,
            )

    @property
    def wants_numbers(self) -> bool:
        return self.fn is not None or (self.bar is not None and not self.bar.disable)

    def update(self, step: int, running: Callable[[], dict[str, float]]) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if not self.wants_numbers:
            return
        if self.fn is not None:
            self.fn(self.epoch, step, self.steps, running())
        elif step % self.every == 0 or step == self.steps - 1:
            logs = running()
            self.bar.set_postfix(
                loss=f"{logs['loss']:.4f}", acc=f"{logs['accuracy']:.4f}", refresh=False
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train_epoch(
    state: TrainState,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    device: torch.device,
    bar: _Progress,
    penalty: Callable[[], torch.Tensor] | None = None,
) -> dict[str, float]:
    """One pass over the shuffled training split in train mode; its mean loss and accuracy.

    ``bar`` reports progress (``_Progress(False, ...)`` reports nothing); see
    :func:`run_epochs` for the whole loop. ``penalty()``, if given, is called after each
    forward pass and its scalar is added to the loss that is minimised (the logged
    ``loss`` stays the cross-entropy).
    """
    model, optimizer = state.model, state.optimizer
    n = int(x.shape[0])
    model.train()
    perm = torch.randperm(n, generator=state.generator).to(x.device)
    running = _Running(device)
    try:
        for step, sl in enumerate(batch_slices(n, batch_size)):
            idx = perm[sl]
            xb = x[idx].to(device, non_blocking=True)
            yb = y[idx].to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            (loss if penalty is None else loss + penalty()).backward()
            optimizer.step()
            running.add(loss, logits, yb)
            bar.update(step, running.logs)
    finally:
        bar.close()
    return running.logs()


def validate(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device
) -> dict[str, float]:
    """``val_loss`` and ``val_accuracy`` in eval mode, without gradients.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> logs = validate(model, torch.rand(6, 1, 2, 2), torch.tensor([0, 1] * 3), 4,
        ...                 torch.device("cpu"))
        >>> sorted(logs)
        ['val_accuracy', 'val_loss']
    """
    n = int(x.shape[0])
    loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    model.eval()
    with torch.no_grad():
        for sl in batch_slices(n, batch_size):
            xb, yb = x[sl].to(device), y[sl].to(device)
            logits = model(xb)
            loss += F.cross_entropy(logits, yb, reduction="sum").double()
            correct += (logits.argmax(dim=1) == yb).sum()
    return {"val_loss": float(loss) / n, "val_accuracy": float(correct) / n}


def _log_epoch(epoch: int, epochs: int, logs: dict[str, Any]) -> None:
    numbers = (
        f"{k}: {v:.4f}" if k != "time_s" else f"{v:.1f}s"
        for k, v in logs.items()
        if isinstance(v, (int, float)) and k != "lr"
    )
    logger.info("Epoch %d/%d - %s", epoch + 1, epochs, " - ".join(numbers))


def run_epochs(
    state: TrainState,
    split: TrainingData,
    data: Any,
    *,
    epochs: int,
    batch_size: int,
    device: torch.device,
    progress: bool | ProgressFn,
    rng: dict[str, Any] | None = None,
    penalty: Callable[[], torch.Tensor] | None = None,
) -> str:
    """Train from ``state.epoch`` up to ``epochs`` unless a callback stops it; the status.

    ``penalty`` is an extra loss term (see :func:`train_epoch`).

    ``state.callbacks`` see every epoch's logs with the model in eval mode, and ``on_train_end``
    always runs: ``"interrupted"`` on Ctrl-C, ``"failed"`` on an error (both re-raised).
    ``rng`` (a resumed run's random states) is set after ``on_train_begin``, so nothing a
    callback draws there changes the training that follows.
    """
    model, callbacks = state.model, state.callbacks
    x_train = _maybe_to_device(split.x_train, device)
    y_train = _maybe_to_device(split.y_train, device)
    steps = -(-split.n_train // batch_size)
    try:
        callbacks.on_train_begin(model, data)
        if rng is not None:
            set_rng_state(rng, state.generator)
        with deterministic(device):
            for epoch in range(state.epoch, epochs):
                if state.stopped:
                    break
                started = time.perf_counter()
                bar = _Progress(progress, epoch, epochs, steps)
                logs: dict[str, Any] = train_epoch(
                    state, x_train, y_train, batch_size=batch_size, device=device, bar=bar,
                    penalty=penalty,
                )  # fmt: skip
                if split.x_val is not None:
                    logs.update(validate(model, split.x_val, split.y_val, batch_size, device))
                model.eval()
                logs["lr"] = float(state.optimizer.param_groups[0]["lr"])
                logs["time_s"] = time.perf_counter() - started
                callbacks.on_epoch_end(epoch, logs, model)
                state.epoch, state.stopped = epoch + 1, callbacks.stop_training
                _log_epoch(epoch, epochs, logs)
    except KeyboardInterrupt:
        callbacks.on_train_end(model, {"status": "interrupted"})
        raise
    except BaseException as exc:
        callbacks.on_train_end(model, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
        raise
    status = "stopped early" if state.stopped else "complete"
    callbacks.on_train_end(model, {"status": status})
    model.eval()
    return status
