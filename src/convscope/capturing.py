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

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ._batching import batch_slices
from .adapters import adapter_for
from .adapters.base import Adapter, LayerInfo, Selection, format_summary, resolve_layers
from .adapters.inputs import ModelInputs, model_inputs
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
    inputs: str | None = None,
    batch_size: int = 256,
    device: Any = None,
) -> dict[str, np.ndarray]:
    """Run ``x`` through ``model`` and return the chosen layers' outputs.

    The model runs in eval mode without gradients, in its own dtype (a half or bfloat16
    model takes half or bfloat16 input), and every module gets its own ``training`` flag
    back: a BatchNorm frozen in eval stays frozen. Each output is copied once, into
    arrays allocated for all ``x`` in advance.

    What a torch forward pass does is traced first: a module that does not run (a
    drop-path of a block without residual) is left out of kinds, globs and the default
    with one :class:`~convscope.adapters.selection.LayerSkipWarning`, and is an error
    only when named; a module called twice is captured at each call (``relu``,
    ``relu#1``); a tuple, list or dict output is captured as its tensors (``lstm/0``,
    ``lstm/1/0``); a channels-last output of a ``Linear``/``LayerNorm`` over the last
    axis of an (N, H, W, C) tensor comes back in NCHW.

    Args:
        model: a torch module, Keras model or ONNX model.
        x: images as a numpy array or torch tensor, NCHW for torch and ONNX models (what
            the model takes for Keras); one image without a batch axis is accepted, and
            a list of single images is stacked.
        layers: names (torch's dotted ``layer3.0.conv1`` too), indices, kinds (``"conv"``,
            ``"pool"``, ``"dense"``, ``"all"``) or globs; ``None`` means every layer.
            Every item must match a layer.
        inputs: for a torch model whose ``forward`` takes several tensors:
            ``"positional"`` (``x`` is a tuple of arrays, one per argument) or
            ``"keyword"`` (``x`` is a dict ``{argument name: array}``).
        batch_size: images per forward pass; memory is bounded by this plus the maps.
        device: torch device to run on (default: where the model is).

    Returns:
        ``{name: ndarray}`` in the order the layers were resolved; conv maps (N, C, H, W)
        float32, dense outputs (N, units).

    Raises:
        UnknownNameError: a requested layer does not exist (all misses are listed).
        ShapeError: the images do not fit the model (both shapes are named).
        ConvscopeError: a named layer did not run; inputs that do not match the model's
            ``forward`` (its signature is printed); the forward's own error, with the
            layer it came from.

    Example:
        >>> import numpy as np, convscope as cs
        >>> model = cs.models.build("mnist_convnet")
        >>> sorted(cs.capture(model, np.zeros((1, 1, 28, 28)), layers="conv"))
        ['conv2d', 'conv2d_1']
    """
    adapter = adapter_for(model, device=device)
    try:
        batch = adapter.to_input(_model_input(adapter, x, inputs))
        n = len(batch)
        if n == 0:
            raise ConvscopeError("no images to capture: x is empty")
        adapter.bind(batch)
        names = resolve_layers(layers, adapter.infos(shapes=False))
        out: dict[str, np.ndarray] | None = None
        for part in batch_slices(n, batch_size):
            out = adapter.run_into(batch[part], names, out, part.start, n)
        return out or {}
    finally:
        adapter.close()


def capture_iter(
    model: Any,
    data: Any,
    layers: Selection = None,
    *,
    inputs: str | None = None,
    batch_size: int = 256,
    device: Any = None,
) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray | None]]:
    """Stream a data set through ``model``, yielding ``(maps, labels)`` one batch at a time.

    Memory stays bounded by one batch of maps, whatever the size of ``data``: each batch
    gets fresh arrays, the previous ones are freed unless kept. The model runs as in
    :func:`capture`.

    Args:
        data: an array or tensor of images; an ``(images, labels)`` pair (a tuple, or a
            list ``[x, y]`` whose ``y`` holds one label per image); or an iterable of
            batches, each an array or an ``(images, labels)`` pair (a DataLoader). With
            ``inputs="positional"`` (``"keyword"``) the images are a tuple of arrays (a
            dict), alone or as ``(inputs, labels)``, or an iterable of those.
        inputs: how several inputs of a torch model are given, as for :func:`capture`.

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
        names = None
        for images, labels in iter_batches(data, batch_size, inputs):
            batch = adapter.to_input(_model_input(adapter, images, inputs))
            if len(batch) == 0:
                continue
            adapter.bind(batch)
            if names is None:
                names = resolve_layers(layers, adapter.infos(shapes=False))
            yield adapter.run(batch, names), labels
    finally:
        adapter.close()


def _model_input(adapter: Adapter, x: Any, inputs: str | None) -> Any:
    """``x`` as the adapter takes it: one batch, or several inputs when ``inputs`` says so.

    A tuple, list or dict of batches without ``inputs`` is an error that shows the
    model's signature; a list of single images is stacked into a batch.
    """
    if inputs is not None:
        return model_inputs(x, inputs)
    if isinstance(x, ModelInputs):  # several inputs, given explicitly
        return x
    signature = adapter.signature()
    hint = f" ({signature})" if signature else ""
    if isinstance(x, Mapping):
        raise ConvscopeError(
            f"x is a dict of {len(x)} arrays ({', '.join(map(str, x))}); a model that takes "
            f"keyword inputs{hint} gets them with inputs='keyword'"
        )
    if isinstance(x, (tuple, list)) and x and all(_is_array(v) for v in x):
        per_image = len(adapter.input_shape) if adapter.input_shape else 3
        if all(_ndim(v) == per_image for v in x):
            return np.stack([as_numpy(v) for v in x])  # a list of single images
        shapes = ", ".join(str(tuple(v.shape)) for v in x)
        raise ConvscopeError(
            f"x is a {type(x).__name__} of {len(x)} arrays of shapes {shapes}; pass the images "
            f"as one array, or, for a model with several inputs{hint}, pass "
            "inputs='positional'"
        )
    return x


def iter_batches(
    data: Any, batch_size: int, inputs: str | None = None
) -> Iterable[tuple[Any, np.ndarray | None]]:
    """``(images, labels or None)`` per batch of any data ``capture_iter`` takes: an
    array, an ``(x, y)`` pair, an iterable of batches or pairs, or several inputs.

    The one reading of a data argument, for the host pass and the device pass alike.

    Example:
        >>> import numpy as np
        >>> [(len(x), y.tolist()) for x, y in iter_batches((np.zeros((3, 1, 2, 2)), np.arange(3)), 2)]
        [(2, [0, 1]), (1, [2])]
    """
    given = isinstance(data, ModelInputs) or (
        isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], ModelInputs)
    )
    if inputs is not None or given:
        yield from _several_batches(data, batch_size, inputs)
        return
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


def _several_batches(
    data: Any, batch_size: int, mode: str | None
) -> Iterable[tuple[ModelInputs, np.ndarray | None]]:
    """Batches of several inputs: ``inputs``, ``(inputs, labels)``, or an iterable of those.

    ``mode`` None: the inputs are :class:`~convscope.adapters.inputs.ModelInputs` already.
    """
    container: Any = (
        ModelInputs if mode is None else (tuple, list) if mode == "positional" else Mapping
    )
    whole: ModelInputs | None = None
    labels = None
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], container):
        whole = _as_inputs(data[0], mode)
        if data[1] is not None:
            labels = _check_labels(data[1], len(whole), "(inputs, y)", False)
    elif isinstance(data, ModelInputs) or (
        isinstance(data, container)
        and all(_is_array(v) for v in (data.values() if isinstance(data, Mapping) else data))
    ):
        whole = _as_inputs(data, mode)
    if whole is None:
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], container):
                yield _as_inputs(item[0], mode), as_numpy(item[1])
            else:
                yield _as_inputs(item, mode), None
        return
    if len(whole) == 0:
        raise ConvscopeError(f"the data is empty: no samples to capture ({whole.describe()})")
    for part in batch_slices(len(whole), batch_size):
        yield whole[part], None if labels is None else labels[part]


def _as_inputs(x: Any, mode: str | None) -> ModelInputs:
    if isinstance(x, ModelInputs):
        return x
    if mode is None:
        raise ConvscopeError(
            f"a batch of several inputs must be a ModelInputs too; got a {type(x).__name__}"
        )
    return model_inputs(x, mode)


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
    return images, _check_labels(labels, len(images), what, isinstance(data, list))


def _check_labels(labels: Any, n: int, what: str, is_list: bool) -> np.ndarray:
    """One label (or one-hot row) per image, as an array; else an error that says why."""
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
            f"per image, an array of length {n}"
        )
    if labels.ndim > 2:
        raise ConvscopeError(
            f"y in the {what} pair has shape {labels.shape}: not one label per image. For a "
            "model with two inputs pass them with inputs='positional'"
        )
    if len(labels) != n:
        also = " (a list of two batches of images needs the batch axis on both)" if is_list else ""
        raise ConvscopeError(
            f"{n} images but {len(labels)} labels in the {what} pair; pass one label "
            f"per image{also}"
        )
    return labels


def _ndim(array: Any) -> int:
    return len(array.shape)


def _is_array(obj: Any) -> bool:
    return isinstance(obj, np.ndarray) or type(obj).__name__ == "Tensor"
