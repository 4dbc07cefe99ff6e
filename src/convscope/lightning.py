"""convscope for Lightning users: the similarity tracker as a Lightning callback.

``import convscope.lightning`` imports Lightning (``lightning.pytorch``, else the older
``pytorch_lightning``); ``import convscope`` never does. Without either installed the
callback still works with any trainer that calls its hooks, which is how it is tested
without Lightning.

Example:
    >>> from convscope.lightning import SimilarityCallback  # doctest: +SKIP
    >>> trainer = lightning.Trainer(max_epochs=5, callbacks=[  # doctest: +SKIP
    ...     SimilarityCallback(probe=x_val[:32], tensorboard="runs/x/tensorboard")])
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .adapters.base import default_tracked_layer, resolve_layers
from .capturing import capture, layers
from .errors import ConvscopeError
from .train.tensorboard import TensorBoardWriter
from .train.tracker import similarity_logs
from .validation import as_numpy

__all__ = ["LIGHTNING", "SimilarityCallback"]

log = logging.getLogger("convscope.lightning")


def _base() -> tuple[type, str | None]:
    try:
        from lightning.pytorch import Callback

        return Callback, "lightning"
    except ImportError:
        pass
    try:
        from pytorch_lightning import Callback

        return Callback, "pytorch_lightning"
    except ImportError:
        return object, None


_Callback, LIGHTNING = _base()
"""Which Lightning package the callback subclasses (``None``: neither is installed)."""


class SimilarityCallback(_Callback):  # type: ignore[misc, valid-type]
    """Log the mean channel similarity of chosen layers after every training epoch.

    Each epoch it captures the tracked layers of the LightningModule on the probe images
    (in eval mode; every module gets its mode back) and logs what
    :class:`convscope.train.SimilarityTracker` logs: ``similarity/<layer>``, its ``/std``
    and ``/excluded``, and ``similarity`` (the deepest layer). The numbers go to the
    trainer's own loggers through ``pl_module.log_dict`` and into :attr:`history`; with
    ``tensorboard=LOGDIR`` they also go, with the trainer's epoch metrics and the
    deepest layer's mosaic and similarity matrix, to that TensorBoard folder.

    Args:
        probe: images as the module takes them ``(N, C, H, W)``.
        layers: layers to track (names, kinds, globs); default the last conv layer.
        metric: the similarity metric (``"multiply"``: seed 000's).
        tensorboard: a TensorBoard log folder (needs the ``tensorboard`` extra).
        images: with ``tensorboard``, also write the mosaic and the matrix.
        log_to_trainer: call ``pl_module.log_dict`` with the numbers.

    Raises:
        ConvscopeError: no probe images; unknown layers (at the start of fitting).
    """

    def __init__(
        self,
        probe: Any = None,
        layers: str | Sequence[str] | None = None,
        metric: str = "multiply",
        tensorboard: str | os.PathLike | None = None,
        images: bool = True,
        log_to_trainer: bool = True,
    ) -> None:
        super().__init__()
        if probe is None:
            raise ConvscopeError(
                "SimilarityCallback needs probe images: SimilarityCallback(probe=x_val[:32])"
            )
        self.probe = as_numpy(probe, dtype=np.float32)
        self.layers, self.metric = layers, metric
        self.tensorboard, self.images, self.log_to_trainer = (
            tensorboard,
            bool(images),
            log_to_trainer,
        )
        self.names: list[str] = []
        self.history: dict[str, list[float]] = {}
        self.writer: TensorBoardWriter | None = None

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """Resolve the tracked layers (bad names fail before the first epoch); open the log."""
        infos = layers(pl_module, input_shape=tuple(self.probe.shape[1:]))
        selection = self.layers if self.layers is not None else default_tracked_layer(infos)
        order = {info.name: k for k, info in enumerate(infos)}
        self.names = sorted(resolve_layers(selection, infos), key=order.__getitem__)
        if self.tensorboard is not None and self.writer is None:
            self.writer = TensorBoardWriter(self.tensorboard)

    def compute(self, pl_module: Any) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Score the tracked layers on the probe images now: the values and the maps."""
        if not self.names:
            self.on_fit_start(None, pl_module)
        maps = capture(pl_module, self.probe, layers=self.names, batch_size=64)
        return similarity_logs(maps, self.metric), maps

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Measure, log to the trainer, keep in :attr:`history`, write to TensorBoard."""
        values, maps = self.compute(pl_module)
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
        if self.log_to_trainer and hasattr(pl_module, "log_dict"):
            pl_module.log_dict(values, on_step=False, on_epoch=True)
        if self.writer is not None:
            step = int(getattr(trainer, "current_epoch", len(self.history["similarity"]) - 1)) + 1
            metrics = dict(getattr(trainer, "callback_metrics", {}) or {})
            self.writer.scalars({**{k: _number(v) for k, v in metrics.items()}, **values}, step)
            deepest = maps[self.names[-1]]
            if self.images and deepest.ndim == 4:
                self.writer.layer_images(deepest, self.names[-1], step, self.metric)
            self.writer.flush()
        log.debug("epoch end: mean similarity %.4f", values["similarity"])

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """Close the TensorBoard files."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def state_dict(self) -> dict[str, Any]:
        """The history so far (Lightning keeps it in its checkpoints)."""
        return {"history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :attr:`history` from a Lightning checkpoint."""
        self.history = {k: list(v) for k, v in (state_dict.get("history") or {}).items()}


def _number(value: Any) -> Any:
    """A trainer metric (often a 0-d tensor) as a Python number, else as it is."""
    item = getattr(value, "item", None)
    try:
        return item() if callable(item) else value
    except (RuntimeError, ValueError):
        return value
