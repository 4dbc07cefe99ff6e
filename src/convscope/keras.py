"""convscope for Keras 3 users: a similarity callback, kernels in torch layout, zoo -> Keras.

``import convscope.keras`` imports Keras (on the torch backend unless ``KERAS_BACKEND`` is
already set); ``import convscope`` alone never does.

Example:
    >>> from convscope.keras import SimilarityCallback  # doctest: +SKIP
    >>> history = model.fit(x, y, epochs=30, callbacks=[SimilarityCallback(probe=x_test[:1])])  # doctest: +SKIP
    >>> history.history["similarity"]  # one value per epoch  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

from .adapters.base import default_tracked_layer, resolve_layers  # noqa: E402
from .adapters.keras import KerasAdapter, conv_kernels, keras  # noqa: E402
from .errors import ConvscopeError  # noqa: E402
from .train.tensorboard import TensorBoardWriter  # noqa: E402

__all__ = ["SimilarityCallback", "conv_kernels", "from_zoo"]

log = logging.getLogger(__name__)


class SimilarityCallback(keras.callbacks.Callback):
    """Log the mean feature-map similarity of some layers at the end of every epoch.

    Seed 000's ``LogSimilarities`` done right: the tracked layers are captured on the probe
    images through :class:`~convscope.adapters.keras.KerasAdapter` (nested sub-model layers
    included, no separate sub-model needed), scored with
    :func:`convscope.metrics.similarity.mean_similarity` per image, and written into
    ``logs`` so that Keras puts them into ``history.history``:

    - ``similarity``: the deepest tracked layer's mean over the probe images (seed 000's number);
    - ``similarity/<layer>`` and ``similarity/<layer>/std`` for every tracked layer.

    The same values are kept in :attr:`history` (a dict of lists) as well. With
    ``tensorboard=LOGDIR`` every epoch's numbers (Keras's ``loss``, ``val_accuracy``... and
    the similarity) go to TensorBoard too, with the deepest tracked layer's mosaic and
    similarity matrix as images (:class:`convscope.train.tensorboard.TensorBoardWriter`;
    needs the ``tensorboard`` extra).

    Args:
        layers: a layer selection (names with "/" for nested layers, kinds, globs, indices);
            default: the model's last conv layer.
        probe: the images to score, as the model takes them (NHWC for channels-last).
        metric: the similarity metric (``"multiply"`` is seed 000's).
        tensorboard: a TensorBoard log folder to write to (default: none).
        images: with ``tensorboard``, also write the mosaic and the similarity matrix.

    Example:
        >>> cb = SimilarityCallback(probe=x_test[:8])  # doctest: +SKIP
        >>> h = parent_model.fit(x, y, epochs=2, callbacks=[cb])  # doctest: +SKIP
        >>> len(h.history["similarity"])  # doctest: +SKIP
        2
    """

    def __init__(
        self,
        layers: str | int | list[str | int] | None = None,
        probe: Any = None,
        metric: str = "multiply",
        tensorboard: str | os.PathLike | None = None,
        images: bool = True,
    ) -> None:
        super().__init__()
        if probe is None:
            raise ConvscopeError(
                "SimilarityCallback needs probe images: SimilarityCallback(probe=x_test[:16])"
            )
        if hasattr(probe, "detach"):
            probe = probe.detach().cpu().numpy()
        self.probe = np.asarray(probe, dtype=np.float32)
        self.layers = layers
        self.metric = metric
        self.names: list[str] = []
        self.history: dict[str, list[float]] = {}
        self.tensorboard = tensorboard
        self.images = bool(images)
        self.maps_: dict[str, np.ndarray] = {}
        self._writer: Any = None
        self._adapter: KerasAdapter | None = None
        self._model: Any = None

    def _prepare(self) -> KerasAdapter:
        model = self.model
        if self._adapter is None or self._model is not model:
            adapter = KerasAdapter(model)
            infos = adapter.infos(shapes=self.layers is None)  # shapes only for the default
            if self.layers is None:
                self.names = [default_tracked_layer(infos)]
            else:
                order = {info.name: i for i, info in enumerate(infos)}
                self.names = sorted(resolve_layers(self.layers, infos), key=order.__getitem__)
            self.probe = adapter.to_input(self.probe)
            self._adapter, self._model = adapter, model
        return self._adapter

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._prepare()  # bad layer names or probe shapes fail before the first epoch
        if self.tensorboard is not None and self._writer is None:
            self._writer = TensorBoardWriter(self.tensorboard)

    def compute(self) -> dict[str, float]:
        """Score the tracked layers on the probe images now; returns the values logged."""
        from .capturing import capture
        from .train.tracker import similarity_logs

        adapter = self._prepare()
        maps = capture(adapter, self.probe, self.names, batch_size=64)
        self.maps_ = maps
        return similarity_logs(maps, self.metric)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        values = self.compute()
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
        if logs is not None:
            logs.update(values)
        log.debug("epoch %d: mean similarity %.4f", epoch + 1, values["similarity"])
        if self._writer is not None:
            self._writer.scalars({**(logs or {}), **values}, epoch + 1)
            deepest = self.maps_.get(self.names[-1]) if self.names else None
            if self.images and deepest is not None and deepest.ndim == 4:
                self._writer.layer_images(deepest, self.names[-1], epoch + 1, self.metric)
            self._writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def from_zoo(model: Any, name: str | None = None) -> Any:
    """Build the Keras twin of a zoo model, same layer names, weights copied across.

    Conv kernels go from torch (out, in, kh, kw) to Keras (kh, kw, in, out); the dense
    layer after ``Flatten`` gets its rows permuted, since Keras flattens (H, W, C) where
    torch flattens (C, H, W). The Keras model takes NHWC images and gives the same maps
    (up to float rounding) as the torch model does in NCHW.

    Example:
        >>> import convscope as cs  # doctest: +SKIP
        >>> twin = from_zoo(cs.models.build("mnist_convnet"))  # doctest: +SKIP
        >>> twin.input_shape  # doctest: +SKIP
        (None, 28, 28, 1)
    """
    import torch

    from .adapters.torch import TorchAdapter
    from .models.zoo import GlobalAveragePooling2D

    c, h, w = (int(v) for v in model.input_shape)
    infos = {i.name: i for i in TorchAdapter(model).infos()}
    layers: list[Any] = [keras.Input(shape=(h, w, c))]
    weights: list[tuple[Any, list[np.ndarray]]] = []
    previous_shape: tuple[int, ...] = (c, h, w)
    flat_shape: tuple[int, ...] | None = None
    for key, module in model.named_children():
        params = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
        activation = getattr(module, "activation", None)
        if isinstance(module, torch.nn.Conv2d):
            if module.padding not in (0, (0, 0)) or module.groups != 1:
                raise ConvscopeError(f"{key}: only 'valid' ungrouped convolutions are supported")
            layer = keras.layers.Conv2D(
                module.out_channels,
                module.kernel_size,
                strides=module.stride,
                activation=activation,
                name=key,
            )
            weights.append((layer, [params["weight"].transpose(2, 3, 1, 0), params["bias"]]))
        elif isinstance(module, torch.nn.MaxPool2d):
            layer = keras.layers.MaxPooling2D(module.kernel_size, strides=module.stride, name=key)
        elif isinstance(module, torch.nn.BatchNorm2d):
            layer = keras.layers.BatchNormalization(
                epsilon=module.eps, momentum=1.0 - (module.momentum or 0.01), name=key
            )
            weights.append(
                (layer, [params[k] for k in ("weight", "bias", "running_mean", "running_var")])
            )
        elif isinstance(module, torch.nn.Flatten):
            layer = keras.layers.Flatten(name=key)
            flat_shape = previous_shape
        elif isinstance(module, torch.nn.Dropout):
            layer = keras.layers.Dropout(module.p, name=key)
        elif isinstance(module, GlobalAveragePooling2D):
            layer = keras.layers.GlobalAveragePooling2D(name=key)
        elif isinstance(module, torch.nn.Linear):
            layer = keras.layers.Dense(module.out_features, activation=activation, name=key)
            kernel = params["weight"]  # (out, in)
            if flat_shape is not None and len(flat_shape) == 3:
                ch, hh, ww = flat_shape
                kernel = (
                    kernel.reshape(-1, ch, hh, ww).transpose(0, 2, 3, 1).reshape(len(kernel), -1)
                )
                flat_shape = None
            weights.append((layer, [kernel.T, params["bias"]]))
        else:
            raise ConvscopeError(f"{key}: no Keras twin for {type(module).__name__}")
        layers.append(layer)
        if infos.get(key) is not None and infos[key].output_shape is not None:
            previous_shape = infos[key].output_shape
    twin = keras.Sequential(layers, name=name or getattr(model, "arch", "zoo_model"))
    for layer, values in weights:
        layer.set_weights([np.ascontiguousarray(v, dtype=np.float32) for v in values])
    return twin
