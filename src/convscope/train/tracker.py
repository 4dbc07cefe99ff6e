"""Follow channel similarity while a model trains (seed 000's ``LogSimilarities``, fixed).

At each epoch end the tracker captures the tracked layers for a fixed probe set and logs
``similarity/<layer>`` (mean over probe images of the mean pair similarity),
``similarity/<layer>/std`` (its spread over the probe images) and ``similarity`` (the
deepest tracked layer's mean: seed 000 logs the last conv layer's number). It always
logs, whether or not the logs dict is empty (the seed logged only when it was not, and
crashed on printing).

It also keeps the first probe image's maps of the deepest tracked layer at a few epochs
(``keep_maps``, at most 8 by default: epoch 1, evenly spaced ones, the last), so a report
can show the maps themselves changing while the similarity falls: seed 000's argument in
one view. With ``out`` (a run folder) they are written to ``RunFolder.epoch_maps``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import write_bytes
from ..adapters import adapter_for, base, resolve_layers
from ..capturing import capture, layers
from ..errors import ConvscopeError, FormatError
from ..metrics.similarity import inactive_channels, mean_similarity
from ..runfolder import RunFolder
from ..validation import as_numpy, check_int
from .callbacks import Callback


def similarity_logs(
    maps: dict[str, np.ndarray], metric: str = "multiply", *, include_dead: bool = False
) -> dict[str, float]:
    """Turn captured probe maps into the tracker's log entries.

    Shared by the torch tracker and the Keras callback so both log the same keys;
    ``similarity`` is the last layer of ``maps`` (callers pass them in model order, so it
    is the deepest tracked layer, the one seed 000 logs). Dead and constant channels are
    left out of the mean and counted in ``similarity/<layer>/excluded``;
    ``include_dead=True`` averages their pairs too, as seed 000's loop does (see
    :func:`convscope.metrics.similarity.mean_similarity`).

    Example:
        >>> import numpy as np
        >>> logs = similarity_logs({"conv": np.random.rand(4, 8, 5, 5).astype("f4")})
        >>> sorted(logs)
        ['similarity', 'similarity/conv', 'similarity/conv/excluded', 'similarity/conv/std']
    """
    logs: dict[str, float] = {}
    for name, layer_maps in maps.items():
        if not include_dead:
            excluded = len(inactive_channels(layer_maps, layer=name).excluded)
            logs[f"similarity/{name}/excluded"] = float(excluded)
        per_image = np.asarray(
            mean_similarity(
                layer_maps, metric=metric, per_image=True, include_dead=include_dead, layer=name
            )
        )
        logs[f"similarity/{name}"] = float(per_image.mean())
        logs[f"similarity/{name}/std"] = float(per_image.std())
        logs["similarity"] = logs[f"similarity/{name}"]  # the deepest layer, as seed 000
    return logs


def default_tracked_layer(model: Any) -> str:
    """The last spatial conv layer: seed 000 tracks its CNN sub-model's output, conv2d_1.

    The policy is :func:`convscope.adapters.base.default_tracked_layer`, shared by every
    room that picks a layer to track or show.

    Raises:
        ConvscopeError: the model has no conv layer (pass ``layers=[...]`` then).

    Example:
        >>> import convscope as cs
        >>> default_tracked_layer(cs.models.build("mnist_convnet"))
        'conv2d_1'
    """
    return base.default_tracked_layer(layers(model))


class SimilarityTracker(Callback):
    """Log the mean channel similarity of chosen layers on a fixed probe set every epoch.

    Args:
        layers: layers to track (names, kinds, globs); default the last conv layer.
        probe: number of held-out images (the first ``probe`` of the validation split;
            ``probe=1`` reproduces seed 000, which used one test image), or an array of
            images to use as they are.
        metric: a :mod:`convscope.metrics.similarity` metric (default ``multiply``).
        batch_size: probe images per forward pass.
        include_dead: average every channel pair, dead and constant channels too, as
            seed 000's loop does (so ``probe=1`` gives its number exactly); by default
            they are left out, as everywhere in convscope, and counted per epoch in
            ``similarity/<layer>/excluded``.
        keep_maps: keep the first probe image's maps of the deepest tracked layer at up
            to this many epochs (epoch 1, evenly spaced ones, the latest; 0: none). They
            are small (e.g. 8 x 64 x 11 x 11 floats) and in ``epoch_maps_``.
        out: a run folder to write them to after every epoch
            (:attr:`convscope.runfolder.RunFolder.epoch_maps`, an ``.npz`` of plain
            arrays, written atomically); read them with :func:`load_epoch_maps`.

    Example:
        >>> import numpy as np, convscope as cs
        >>> model = cs.models.build("mnist_convnet")
        >>> tracker = SimilarityTracker(probe=np.random.default_rng(0).random((4, 1, 28, 28)))
        >>> tracker.on_train_begin(model, data=None)
        >>> logs = {}
        >>> tracker.on_epoch_end(0, logs, model)
        >>> sorted(logs)
        ['similarity', 'similarity/conv2d_1', 'similarity/conv2d_1/excluded', 'similarity/conv2d_1/std']
    """

    def __init__(
        self,
        layers: str | Sequence[str] | None = None,
        probe: int | np.ndarray = 32,
        metric: str = "multiply",
        batch_size: int = 256,
        include_dead: bool = False,
        keep_maps: int = 8,
        out: str | os.PathLike | None = None,
    ) -> None:
        self.layers = layers
        self.probe = probe
        self.metric = metric
        self.batch_size = batch_size
        self.include_dead = include_dead
        self.keep_maps = keep_maps
        self.out = out
        self.probe_images_: np.ndarray | None = None
        self.layer_names_: list[str] | None = None
        self.kept_: _KeptMaps = _KeptMaps()

    def on_train_begin(self, model: Any, data: Any) -> None:
        """Pick the probe images and resolve the tracked layers (fails before training)."""
        check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.keep_maps, "keep_maps", minimum=0)
        if self.keep_maps == 1:
            raise ConvscopeError("keep_maps must be 0 (keep none) or at least 2 (first and last)")
        self.probe_images_ = self._probe_images(data)
        adapter = adapter_for(model)
        try:
            infos = adapter.infos(shapes=self.layers is None)  # shapes only for the default
        finally:
            adapter.close()
        selection = self.layers if self.layers is not None else base.default_tracked_layer(infos)
        order = {info.name: k for k, info in enumerate(infos)}
        # model order, so the last one ("similarity") is the deepest, as in seed 000
        self.layer_names_ = sorted(resolve_layers(selection, infos), key=order.__getitem__)

    def _probe_images(self, data: Any) -> np.ndarray:
        if isinstance(self.probe, bool):
            raise ConvscopeError(f"probe must be a number of images or images, got {self.probe}")
        if not isinstance(self.probe, (int, np.integer)):
            return as_numpy(self.probe, dtype=np.float32)
        if self.probe < 1:
            raise ConvscopeError(f"probe must be at least 1 image, got {self.probe}")
        pool = getattr(data, "x_val", None)
        if pool is None or len(pool) == 0:
            pool = getattr(data, "x_train", None)
        if pool is None:
            raise ConvscopeError(
                f"probe={self.probe} takes the first images of the data's validation (else "
                "training) split, but there is no data; pass the probe images themselves"
            )
        return as_numpy(pool[: int(self.probe)], dtype=np.float32)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        """Capture the probe images and add the similarity numbers to ``logs``."""
        if self.probe_images_ is None or self.layer_names_ is None:
            raise ConvscopeError(
                "SimilarityTracker.on_train_begin was not called before on_epoch_end"
            )
        maps = capture(
            model, self.probe_images_, layers=self.layer_names_, batch_size=self.batch_size
        )
        logs.update(similarity_logs(maps, self.metric, include_dead=self.include_dead))
        deepest = self.layer_names_[-1]
        if self.keep_maps and maps[deepest].ndim == 4:
            self.kept_.add(epoch, maps[deepest][0], logs[f"similarity/{deepest}"], self.keep_maps)
            if self.out is not None:
                self._write()

    @property
    def epoch_maps_(self) -> EpochMaps | None:
        """The kept maps so far (``None`` before the first epoch or with ``keep_maps=0``)."""
        if not self.kept_.epochs or self.layer_names_ is None or self.probe_images_ is None:
            return None
        return self.kept_.as_epoch_maps(self.layer_names_[-1], self.probe_images_[0], self.metric)

    def _write(self) -> None:
        kept = self.epoch_maps_
        if kept is not None:
            write_bytes(RunFolder(self.out).epoch_maps, kept.to_npz())

    def state_dict(self) -> dict[str, Any]:
        """The kept maps, so a resumed run's strip still starts at epoch 1."""
        return self.kept_.state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the kept maps of :meth:`state_dict`."""
        self.kept_ = _KeptMaps.from_state(state)


@dataclass(frozen=True)
class EpochMaps:
    """One probe image's maps of one layer at several epochs (see :class:`SimilarityTracker`).

    Attributes:
        layer: the tracked layer; ``metric``: the similarity metric.
        epochs: ``(K,)`` 1-based epoch numbers.
        values: ``(K,)`` the layer's mean similarity at those epochs.
        maps: ``(K, C, H, W)`` float32; ``image``: the probe image ``(C, H, W)``.
    """

    layer: str
    metric: str
    epochs: np.ndarray
    values: np.ndarray
    maps: np.ndarray
    image: np.ndarray

    def to_npz(self) -> bytes:
        """The arrays as ``.npz`` bytes (strings as numpy unicode: no pickle needed)."""
        buf = io.BytesIO()
        np.savez(
            buf, layer=np.array(self.layer), metric=np.array(self.metric), epochs=self.epochs,
            values=self.values, maps=self.maps, image=self.image,
        )  # fmt: skip
        return buf.getvalue()


def load_epoch_maps(path: str | os.PathLike) -> EpochMaps | None:
    """Read what :class:`SimilarityTracker` wrote (``None`` when the file does not exist).

    Accepts a run folder or the ``.npz`` file; never unpickles.

    Raises:
        FormatError: the file is not such an archive (the path is named).

    Example:
        >>> load_epoch_maps("/nonexistent/run") is None
        True
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = RunFolder(path).epoch_maps
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return EpochMaps(
                layer=str(z["layer"]), metric=str(z["metric"]), epochs=z["epochs"].astype(np.int64),
                values=z["values"].astype(np.float64), maps=z["maps"].astype(np.float32),
                image=z["image"].astype(np.float32),
            )  # fmt: skip
    except (OSError, ValueError, KeyError) as exc:
        raise FormatError(
            f"{path} is not an epoch-maps archive ({exc}); delete it or retrain"
        ) from None


class _KeptMaps:
    """Maps at epoch 0, every ``stride``-th epoch and the latest; the stride doubles when
    more than the budget would be kept, so memory stays bounded however long the run."""

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.maps: list[np.ndarray] = []
        self.values: list[float] = []
        self.stride = 1

    def add(self, epoch: int, maps: np.ndarray, value: float, budget: int) -> None:
        epoch = int(epoch)
        while self.epochs and self.epochs[-1] >= epoch:  # an epoch again (a rewind): the new maps
            self._drop(len(self.epochs) - 1)
        if self.epochs and self.epochs[-1] % self.stride:  # kept only as "the latest"
            self._drop(len(self.epochs) - 1)
        self.epochs.append(epoch)
        self.maps.append(np.array(maps, dtype=np.float32))
        self.values.append(float(value))
        while len(self.epochs) > max(budget, 2):
            self.stride *= 2
            for k in reversed(range(len(self.epochs) - 1)):
                if self.epochs[k] % self.stride:
                    self._drop(k)

    def _drop(self, k: int) -> None:
        del self.epochs[k], self.maps[k], self.values[k]

    def as_epoch_maps(self, layer: str, image: np.ndarray, metric: str) -> EpochMaps:
        return EpochMaps(
            layer=layer, metric=metric, epochs=np.array(self.epochs, np.int64) + 1,
            values=np.array(self.values, np.float64), maps=np.stack(self.maps),
            image=np.asarray(image, np.float32),
        )  # fmt: skip

    def state(self) -> dict[str, Any]:
        if not self.epochs:
            return {}
        return {
            "epochs": list(self.epochs), "values": list(self.values), "stride": self.stride,
            "maps": torch.from_numpy(np.stack(self.maps)),
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _KeptMaps:
        kept = cls()
        if state and state.get("epochs"):
            kept.epochs = [int(e) for e in state["epochs"]]
            kept.values = [float(v) for v in state["values"]]
            kept.stride = int(state.get("stride", 1))
            kept.maps = list(np.asarray(state["maps"], dtype=np.float32))
        return kept
