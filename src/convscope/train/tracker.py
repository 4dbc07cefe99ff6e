"""Follow channel similarity while a model trains (seed 000's ``LogSimilarities``, fixed).

At each epoch end the tracker captures the tracked layers for a fixed probe set and logs
``similarity/<layer>`` (mean over probe images of the mean pair similarity),
``similarity/<layer>/std`` (its spread over the probe images) and ``similarity`` (the
deepest tracked layer's mean: seed 000 logs the last conv layer's number). It always
logs, whether or not the logs dict is empty (the seed logged only when it was not, and
crashed on printing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..adapters import adapter_for, base, resolve_layers
from ..capturing import capture, layers
from ..errors import ConvscopeError
from ..metrics.similarity import inactive_channels, mean_similarity
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
    ) -> None:
        self.layers = layers
        self.probe = probe
        self.metric = metric
        self.batch_size = batch_size
        self.include_dead = include_dead
        self.probe_images_: np.ndarray | None = None
        self.layer_names_: list[str] | None = None

    def on_train_begin(self, model: Any, data: Any) -> None:
        """Pick the probe images and resolve the tracked layers (fails before training)."""
        check_int(self.batch_size, "batch_size", minimum=1)
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
