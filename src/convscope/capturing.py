"""The capture verbs: ``capture``, ``capture_iter`` and ``layers``, for every backend.

An ordinary module (not a package), so ``convscope.capture`` is always the function
below with its real signature, whatever else was imported first.

Example:
    >>> import numpy as np, convscope as cs
    >>> model = cs.models.build("mnist_convnet")
    >>> maps = cs.capture(model, np.zeros((2, 1, 28, 28), np.float32), layers=["conv2d_1"])
    >>> maps["conv2d_1"].shape
    (2, 64, 11, 11)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ._batching import batch_slices
from .adapters import adapter_for
from .adapters.base import LayerInfo, Selection, format_summary, resolve_layers
from .errors import ConvscopeError
from .validation import as_numpy

__all__ = [
    "LayerInfo",
    "capture",
    "capture_iter",
    "format_summary",
    "layers",
    "resolve_layers",
    "summary",
]


def layers(model: Any, input_shape: tuple[int, ...] | None = None) -> list[LayerInfo]:
    """List a model's layers with kind, output shape (batch axis left out) and parameters.

    Args:
        model: a torch module, Keras model or ONNX model.
        input_shape: one image's shape as the model takes it ((C, H, W) for torch and ONNX,
            the Keras input shape for Keras); zoo, Keras and ONNX models know their own.

    Example:
        >>> import convscope as cs
        >>> [(i.name, i.output_shape) for i in cs.layers(cs.models.build("mnist_convnet"))][:2]
        [('conv2d', (32, 26, 26)), ('max_pooling2d', (32, 13, 13))]
    """
    adapter = adapter_for(model)
    try:
        return adapter.infos(input_shape=input_shape)
    finally:
        adapter.close()


def summary(model: Any, input_shape: tuple[int, ...] | None = None) -> str:
    """A Keras-style summary table (layer, output shape, params) of any model, as text.

    Args:
        model: a torch module, Keras model or ONNX model.
        input_shape: as for :func:`layers`; zoo, Keras and ONNX models know their own.

    Example:
        >>> import convscope as cs
        >>> print(summary(cs.models.build("mnist_convnet")))  # doctest: +ELLIPSIS
        Model: "mnist_convnet"...
    """
    title = getattr(model, "arch", None) or getattr(model, "name", None)
    return format_summary(layers(model, input_shape=input_shape), title=title)


def capture(
    model: Any,
    x: Any,
    layers: Selection = None,
    *,
    batch_size: int = 256,
    device: Any = None,
) -> dict[str, np.ndarray]:
    """Run ``x`` through ``model`` and return the chosen layers' outputs.

    Args:
        model: a torch module, Keras model or ONNX model.
        x: images as a numpy array or torch tensor, NCHW for torch and ONNX models (what
            the model takes for Keras); one image without a batch axis is accepted.
        layers: names, indices, kinds (``"conv"``, ``"pool"``, ``"dense"``, ``"all"``) or
            globs; ``None`` means every layer. Every item must match a layer.
        batch_size: images per forward pass; memory is bounded by this.
        device: torch device to run on (default: where the model is).

    Returns:
        ``{name: ndarray}`` in the order the layers were resolved; conv maps (N, C, H, W)
        float32, dense outputs (N, units).

    Raises:
        UnknownNameError: a requested layer does not exist (all misses are listed).
        ShapeError: the images do not fit the model (both shapes are named).

    Example:
        >>> import numpy as np, convscope as cs
        >>> model = cs.models.build("mnist_convnet")
        >>> sorted(cs.capture(model, np.zeros((1, 1, 28, 28)), layers="conv"))
        ['conv2d', 'conv2d_1']
    """
    adapter = adapter_for(model, device=device)
    try:
        names = resolve_layers(layers, adapter.infos(shapes=False))
        batch = adapter.to_input(x)
        n = len(batch)
        if n == 0:
            raise ConvscopeError("no images to capture: x is empty")
        if n <= batch_size:
            return adapter.run(batch, names)
        out: dict[str, np.ndarray] = {}
        for part in batch_slices(n, batch_size):
            maps = adapter.run(batch[part], names)
            for name, value in maps.items():
                if name not in out:
                    out[name] = np.empty((n, *value.shape[1:]), dtype=value.dtype)
                out[name][part] = value
        return out
    finally:
        adapter.close()


def capture_iter(
    model: Any,
    data: Any,
    layers: Selection = None,
    *,
    batch_size: int = 256,
    device: Any = None,
) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray | None]]:
    """Stream a data set through ``model``, yielding ``(maps, labels)`` one batch at a time.

    Memory stays bounded by one batch of maps, whatever the size of ``data``. The arrays
    yielded may be reused views into the model's outputs: copy what you keep.

    Args:
        data: an array or tensor of images; an ``(images, labels)`` pair (a tuple, or a
            list ``[x, y]`` whose ``y`` holds one label per image); or an iterable of
            batches, each an array or an ``(images, labels)`` pair (a DataLoader).

    Raises:
        ConvscopeError: empty data, or labels that are not one per image.

    Example:
        >>> import numpy as np, convscope as cs
        >>> model = cs.models.build("mnist_convnet")
        >>> x, y = np.zeros((10, 1, 28, 28), np.float32), np.arange(10)
        >>> [m["dense"].shape for m, _ in cs.capture_iter(model, (x, y), "dense", batch_size=4)]
        [(4, 10), (4, 10), (2, 10)]
    """
    adapter = adapter_for(model, device=device)
    try:
        names = resolve_layers(layers, adapter.infos(shapes=False))
        for images, labels in _batches(data, batch_size):
            batch = adapter.to_input(images)
            if len(batch) == 0:
                continue
            yield adapter.run(batch, names), labels
    finally:
        adapter.close()


def _batches(data: Any, batch_size: int) -> Iterable[tuple[Any, np.ndarray | None]]:
    pair = _as_pair(data)
    if pair is not None:
        images, labels = pair
        for part in batch_slices(len(images), batch_size):
            yield images[part], None if labels is None else labels[part]
    elif _is_array(data):
        if _ndim(data) == 0 or len(data) == 0:
            raise ConvscopeError(
                f"the data is empty: no images to capture (got shape {tuple(data.shape)})"
            )
        for part in batch_slices(len(data), batch_size):
            yield data[part], None
    else:
        for item in data:
            if isinstance(item, (tuple, list)) and len(item) == 2:
                yield item[0], as_numpy(item[1])
            else:
                yield item, None


def _as_pair(data: Any) -> tuple[Any, np.ndarray | None] | None:
    """``(images, labels)`` when ``data`` is an ``(x, y)`` pair, else None (checked).

    A tuple ``(x, y)`` whose ``x`` is an array is a pair. A list ``[x, y]`` of two arrays
    is a pair when ``y`` has fewer axes than ``x`` (labels, not a second batch of images);
    a list of two batches of images stays an iterable of batches. ``(x, None)`` is
    images without labels.
    """
    if not isinstance(data, (tuple, list)) or len(data) != 2 or not _is_array(data[0]):
        return None
    images, labels = data
    what = "(x, y)" if isinstance(data, tuple) else "[x, y]"
    if isinstance(data, list):
        if not _is_array(labels) or _ndim(labels) >= _ndim(images):
            return None  # two batches of images
        if _ndim(images) < 2:
            raise ConvscopeError(
                f"a list {what}: x of shape {tuple(images.shape)} is not a batch of images; "
                "pass images as (N, C, H, W)"
            )
    if _ndim(images) == 0 or len(images) == 0:
        raise ConvscopeError(
            f"the data is empty: no images to capture (x in the {what} pair has shape "
            f"{tuple(images.shape)})"
        )
    if labels is None:  # (x, None): images without labels
        return images, None
    try:
        labels = as_numpy(labels)
    except (TypeError, ValueError) as exc:
        raise ConvscopeError(
            f"the labels y of the {what} pair are not an array ({type(labels).__name__}: {exc}); "
            "pass one integer label per image"
        ) from None
    if labels.ndim == 0:
        raise ConvscopeError(
            f"the labels y of the {what} pair are a scalar ({labels.item()!r}); pass one label "
            f"per image, an array of length {len(images)}"
        )
    if len(labels) != len(images):
        also = (
            " (a list of two batches of images needs the batch axis on both)"
            if isinstance(data, list)
            else ""
        )
        raise ConvscopeError(
            f"{len(images)} images but {len(labels)} labels in the {what} pair; pass one label "
            f"per image{also}"
        )
    return images, labels


def _ndim(array: Any) -> int:
    return len(array.shape)


def _is_array(obj: Any) -> bool:
    return isinstance(obj, np.ndarray) or type(obj).__name__ == "Tensor"
