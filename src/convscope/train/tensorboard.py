"""What the similarity tracker measures, in TensorBoard, where many users already look.

:class:`TensorBoardWriter` writes, per epoch, every number of the epoch's logs as a scalar
(``loss``, ``val_accuracy``, ``similarity/<layer>``...) and, for the tracked layer, two
images: the mosaic of its maps for the first probe image and its clustered channel ×
channel similarity matrix. :class:`TensorBoard` is the callback for
:func:`convscope.train.fit`; the Keras callback (:class:`convscope.keras.SimilarityCallback`,
``tensorboard=``) and the Lightning callback (:mod:`convscope.lightning`) write through
the same writer. It needs ``tensorboardX`` (the ``tensorboard`` extra); the event files
are the standard ones, read by TensorBoard itself or by :func:`read_scalars` here.

Example:
    >>> import numpy as np, tempfile, convscope as cs
    >>> model = cs.models.build("mnist_convnet")
    >>> tracker = cs.train.SimilarityTracker(probe=np.random.default_rng(0).random((4, 1, 28, 28)))
    >>> board = TensorBoard(tempfile.mkdtemp(), tracker=tracker)
    >>> for hook in (tracker, board):
    ...     hook.on_train_begin(model, data=None)
    >>> logs = {"loss": 2.3}
    >>> tracker.on_epoch_end(0, logs, model); board.on_epoch_end(0, logs, model)
    >>> board.on_train_end(model, {"status": "complete"})
    >>> sorted(read_scalars(board.logdir))
    ['loss', 'similarity', 'similarity/conv2d_1', 'similarity/conv2d_1/excluded', 'similarity/conv2d_1/std']
"""

from __future__ import annotations

import io
import logging
import math
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .. import render
from ..adapters import adapter_for, base
from ..capturing import capture
from ..errors import BackendMissingError, FormatError
from ..metrics import similarity as sim
from ..validation import as_numpy
from .callbacks import Callback

__all__ = ["TensorBoard", "TensorBoardWriter", "read_events", "read_images", "read_scalars"]

log = logging.getLogger("convscope.train")


def _summary_writer() -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise BackendMissingError(
            "writing TensorBoard logs needs tensorboardX: pip install 'convscope[tensorboard]'"
        ) from None
    return SummaryWriter


class TensorBoardWriter:
    """Scalars and the tracked layer's pictures into one TensorBoard log folder.

    Args:
        logdir: the folder (created); TensorBoard reads it (``tensorboard --logdir``).
        purge_step: on a resumed run, the first epoch written again: events at or after
            it from the interrupted run are hidden.

    Raises:
        BackendMissingError: tensorboardX is not installed.
    """

    def __init__(self, logdir: str | os.PathLike, purge_step: int | None = None) -> None:
        self.logdir = Path(logdir)
        self.writer = _summary_writer()(str(self.logdir), purge_step=purge_step, flush_secs=10)

    def scalars(self, logs: Mapping[str, Any], step: int) -> list[str]:
        """Write every finite number of ``logs`` (``epoch`` left out); returns the tags."""
        written = []
        for key, value in logs.items():
            if key == "epoch" or isinstance(value, bool):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                self.writer.add_scalar(str(key), number, int(step))
                written.append(str(key))
        return written

    def layer_images(
        self, maps: np.ndarray, layer: str, step: int, metric: str = "multiply"
    ) -> None:
        """The layer's mosaic (first image) and its clustered similarity matrix (all images).

        Args:
            maps: ``(N, C, H, W)`` maps of the probe images.
        """
        maps = as_numpy(maps, dtype=np.float32)
        mosaic = render.mosaic(maps, image_index=0, title=f"{layer} · epoch {step}")
        self.writer.add_image(
            f"maps/{layer}", render.to_uint8(mosaic), int(step), dataformats="HWC"
        )
        if maps.shape[1] >= 2:
            matrix = sim.pairwise(maps, metric=metric, layer=layer)
            figure = render.similarity_matrix(
                matrix, order="cluster", title=f"{layer} · {metric} similarity · epoch {step}"
            )
            image = render.to_uint8(figure)
            self.writer.add_image(f"similarity_matrix/{layer}", image, int(step), dataformats="HWC")

    def text(self, tag: str, text: str, step: int) -> None:
        """A note (how training ended, what was tracked)."""
        self.writer.add_text(tag, text, int(step))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class TensorBoard(Callback):
    """A :func:`convscope.train.fit` callback writing the run to TensorBoard each epoch.

    Put it **after** the :class:`~convscope.train.SimilarityTracker` in ``callbacks``, so
    the epoch's logs already hold the similarity numbers; give it the tracker to draw the
    tracked layer (its deepest) on the tracker's probe images.

    Args:
        logdir: the log folder (e.g. ``runs/x/tensorboard``).
        tracker: the run's :class:`~convscope.train.SimilarityTracker` (its layer, probe
            images and metric are used for the pictures).
        layer: the layer to draw without a tracker (default: the last conv layer).
        probe: images to draw it on without a tracker (default: the first 8 validation
            images of the data).
        images: draw the mosaic and the similarity matrix (``False``: scalars only).
        every: draw the pictures every ``every`` epochs (scalars are written every epoch).

    Example:
        >>> cs.train.fit(model, data, out="runs/x", callbacks=[  # doctest: +SKIP
        ...     tracker := cs.train.SimilarityTracker(out="runs/x"),
        ...     TensorBoard("runs/x/tensorboard", tracker=tracker)])
    """

    def __init__(
        self,
        logdir: str | os.PathLike,
        *,
        tracker: Any = None,
        layer: str | None = None,
        probe: Any = None,
        images: bool = True,
        every: int = 1,
    ) -> None:
        self.logdir = Path(logdir)
        self.tracker, self.layer, self.probe = tracker, layer, probe
        self.images, self.every = bool(images), max(1, int(every))
        self.epochs_written = 0
        self.writer: TensorBoardWriter | None = None
        self._purge_step: int | None = None
        self._warned = False

    def on_train_begin(self, model: Any, data: Any) -> None:
        """Open the log folder; resolve the layer and probe images to draw."""
        self.writer = TensorBoardWriter(self.logdir, purge_step=self._purge_step)
        if not self.images or self.tracker is not None:
            return
        if self.probe is None:
            pool = getattr(data, "x_val", None)
            pool = pool if pool is not None and len(pool) else getattr(data, "x_train", None)
            self.probe = None if pool is None else as_numpy(pool[:8], dtype=np.float32)
        if self.layer is None:
            with adapter_for(model) as adapter:
                self.layer = base.default_tracked_layer(adapter.infos())

    def _what_to_draw(self) -> tuple[str | None, Any, str]:
        tracker = self.tracker
        if tracker is not None:
            names = getattr(tracker, "layer_names_", None) or [None]
            return names[-1], getattr(tracker, "probe_images_", None), tracker.metric
        return self.layer, self.probe, "multiply"

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        """Write the epoch's numbers and, every ``every`` epochs, the pictures."""
        if self.writer is None:
            self.on_train_begin(model, None)
        step = int(epoch) + 1
        written = self.writer.scalars(logs, step)
        if self.tracker is not None and "similarity" not in written and not self._warned:
            log.warning("TensorBoard found no similarity in the logs: put it after the "
                        "SimilarityTracker in callbacks")  # fmt: skip
            self._warned = True
        layer, probe, metric = self._what_to_draw()
        if self.images and layer is not None and probe is not None and step % self.every == 0:
            maps = capture(model, probe, layers=[layer])[layer]
            if maps.ndim == 4:
                self.writer.layer_images(maps, layer, step, metric)
        self.writer.flush()
        self.epochs_written = step

    def on_train_end(self, model: Any, logs: dict[str, Any]) -> None:
        """Note how training ended; close the files."""
        if self.writer is not None:
            self.writer.text("status", str(logs.get("status", "complete")), self.epochs_written)
            self.writer.close()
            self.writer = None

    def state_dict(self) -> dict[str, Any]:
        """The last epoch written, so a resumed run hides what came after it."""
        return {"epochs_written": self.epochs_written}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: events from epoch ``epochs_written + 1`` on are purged on reopening."""
        self.epochs_written = int(state.get("epochs_written", 0))
        self._purge_step = self.epochs_written + 1


# -- reading the event files back ---------------------------------------------------------
def _records(path: Path) -> list[bytes]:
    from tensorboardX.record_writer import masked_crc32c

    data, out, at = path.read_bytes(), [], 0
    while at + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[at : at + 8])
        (length_crc,) = struct.unpack("<I", data[at + 8 : at + 12])
        body = data[at + 12 : at + 12 + length]
        if masked_crc32c(data[at : at + 8]) != length_crc or len(body) != length:
            raise FormatError(f"{path} is not a TensorBoard event file (bad record at {at})")
        (body_crc,) = struct.unpack("<I", data[at + 12 + length : at + 16 + length])
        if masked_crc32c(body) != body_crc:
            raise FormatError(f"{path}: record at byte {at} fails its checksum")
        out.append(body)
        at += 16 + length
    return out


def read_events(logdir: str | os.PathLike) -> list[Any]:
    """Every event of every event file in ``logdir``, oldest file first (checksums checked).

    Returns:
        tensorboardX ``Event`` protobufs (``step``, ``wall_time``, ``summary.value``...).

    Raises:
        FormatError: a file that is not an event file, or a corrupt record.
    """
    from tensorboardX.proto.event_pb2 import Event

    files = sorted(Path(logdir).glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime_ns)
    return [Event.FromString(record) for path in files for record in _records(path)]


def read_scalars(logdir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` of the scalars in ``logdir`` (later writes of a step win).

    Example:
        >>> read_scalars("/nonexistent")
        {}
    """
    out: dict[str, dict[int, float]] = {}
    for event in read_events(logdir):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                out.setdefault(value.tag, {})[int(event.step)] = float(value.simple_value)
    return {tag: sorted(steps.items()) for tag, steps in out.items()}


def read_images(logdir: str | os.PathLike) -> dict[str, list[tuple[int, np.ndarray]]]:
    """``{tag: [(step, uint8 image (H, W, C)), ...]}`` of the images in ``logdir``."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for event in read_events(logdir):
        for value in event.summary.value:
            if value.HasField("image"):
                pixels = np.asarray(Image.open(io.BytesIO(value.image.encoded_image_string)))
                out.setdefault(value.tag, {})[int(event.step)] = pixels
    return {tag: sorted(steps.items()) for tag, steps in out.items()}
