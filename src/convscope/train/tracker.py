"""Follow channel similarity while a model trains (seed 000's ``LogSimilarities``, fixed).

At each epoch end the tracker captures the tracked layers for a fixed probe set and logs
``similarity/<layer>`` (mean over probe images of the mean pair similarity),
``similarity/<layer>/std`` (its spread over the probe images) and ``similarity`` (the
deepest tracked layer's mean: seed 000 logs the last conv layer's number). It always logs, whether or not the
logs dict is empty (the seed logged only when it was not, and crashed on printing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConvscopeError
from .fit import Callback


def similarity_logs(maps: dict[str, np.ndarray], metric: str = "multiply") -> dict[str, float]:
    """Turn captured probe maps into the tracker's log entries.

    Shared by the torch tracker and the Keras callback so both log the same keys;
    ``similarity`` is the last layer of ``maps`` (callers pass them in model order, so it
    is the deepest tracked layer, the one seed 000 logs).

    Example:
        >>> import numpy as np
        >>> logs = similarity_logs({"conv": np.random.rand(4, 8, 5, 5).astype("f4")})
        >>> sorted(logs)
        ['similarity', 'similarity/conv', 'similarity/conv/std']
    """
    from ..metrics.similarity import mean_similarity

    logs: dict[str, float] = {}
    for name, layer_maps in maps.items():
        per_image = np.asarray(
            mean_similarity(layer_maps, metric=metric, per_image=True, layer=name)
        )
        logs[f"similarity/{name}"] = float(per_image.mean())
        logs[f"similarity/{name}/std"] = float(per_image.std())
        logs["similarity"] = logs[f"similarity/{name}"]  # the deepest layer, as seed 000
    return logs


def default_tracked_layer(model: Any) -> str:
    """The last conv layer: seed 000 tracks its CNN sub-model's output, conv2d_1.

    Example:
        >>> import convscope as cs
        >>> default_tracked_layer(cs.models.build("mnist_convnet"))
        'conv2d_1'
    """
    from ..capturing import layers

    convs = [i.name for i in layers(model) if i.kind == "conv"]
    if not convs:
        raise ConvscopeError("the model has no conv layer to track; pass layers=[...] explicitly")
    return convs[-1]


class SimilarityTracker(Callback):
    """Log the mean channel similarity of chosen layers on a fixed probe set every epoch.

    Args:
        layers: layers to track (names, kinds, globs); default the last conv layer.
        probe: number of held-out images (the first ``probe`` of the validation split;
            ``probe=1`` reproduces seed 000, which used one test image), or an array of
            images to use as they are.
        metric: a :mod:`convscope.metrics.similarity` metric (default ``multiply``).

    Example:
        >>> import numpy as np, convscope as cs
        >>> model = cs.models.build("mnist_convnet")
        >>> tracker = SimilarityTracker(probe=np.random.default_rng(0).random((4, 1, 28, 28)))
        >>> tracker.on_train_begin(model, data=None)
        >>> logs = {}
        >>> tracker.on_epoch_end(0, logs, model)
        >>> sorted(logs)
        ['similarity', 'similarity/conv2d_1', 'similarity/conv2d_1/std']
    """

    def __init__(
        self,
        layers: str | Sequence[str] | None = None,
        probe: int | np.ndarray = 32,
        metric: str = "multiply",
        batch_size: int = 256,
    ) -> None:
        self.layers = layers
        self.probe = probe
        self.metric = metric
        self.batch_size = batch_size
        self.probe_images_: np.ndarray | None = None
        self.layer_names_: list[str] | None = None

    def on_train_begin(self, model: Any, data: Any) -> None:
        from ..adapters import adapter_for, resolve_layers

        if isinstance(self.probe, (int, np.integer)):
            if self.probe < 1:
                raise ConvscopeError(f"probe must be at least 1 image, got {self.probe}")
            pool = getattr(data, "x_val", None)
            if pool is None or len(pool) == 0:
                pool = data.x_train
            self.probe_images_ = np.asarray(pool[: int(self.probe)], dtype=np.float32)
        else:
            self.probe_images_ = np.asarray(self.probe, dtype=np.float32)
        selection = self.layers if self.layers is not None else [default_tracked_layer(model)]
        adapter = adapter_for(model)
        infos = adapter.infos(shapes=False)
        order = {info.name: k for k, info in enumerate(infos)}
        # model order, so the last one ("similarity") is the deepest, as in seed 000
        self.layer_names_ = sorted(resolve_layers(selection, infos), key=order.__getitem__)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        from ..capturing import capture

        if self.probe_images_ is None or self.layer_names_ is None:
            raise ConvscopeError(
                "SimilarityTracker.on_train_begin was not called before on_epoch_end"
            )
        maps = capture(
            model, self.probe_images_, layers=self.layer_names_, batch_size=self.batch_size
        )
        logs.update(similarity_logs(maps, self.metric))
