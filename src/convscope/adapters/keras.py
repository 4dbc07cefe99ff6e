"""Keras 3 capture: replay the model's graph on a fresh input and read any layer's output.

A Keras model only exposes its final output, and the layers of a nested sub-model (seed
000's ``CNN_sub_model`` inside ``Parent_model``) live in their own graph, disconnected from
the outer input. :class:`KerasAdapter` therefore *replays* the model once: it calls every
layer, in order, on a new ``keras.Input`` (descending into nested Sequential and
Functional models), records each layer's symbolic output under its "/"-joined name, and
builds one multi-output ``keras.Model`` per requested tuple of layers. The layers (and so
the weights) are shared with the original model; nothing is copied.

Works with any Keras 3 backend. Channels-last maps are transposed to NCHW here, at the
boundary, and nowhere else.

Example:
    >>> import os; os.environ.setdefault("KERAS_BACKEND", "torch")  # doctest: +SKIP
    >>> import keras, numpy as np, convscope as cs  # doctest: +SKIP
    >>> model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3)])  # doctest: +SKIP
    >>> cs.capture(model, np.zeros((2, 28, 28, 1)), "conv")["conv2d"].shape  # doctest: +SKIP
    (2, 8, 26, 26)
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..errors import ConvscopeError, ShapeError, UnknownNameError
from ..models.keras_io import keras_module, load_keras_file
from ..validation import as_numpy
from .base import Adapter, LayerInfo, arrange_batch, check_float_images, refuse_several_inputs
from .base import fits as _fits

keras = keras_module()  # KERAS_BACKEND defaults to torch; BackendMissingError without Keras

__all__ = ["KerasAdapter", "conv_kernels", "keras_kind"]

# Class names (anywhere in a layer's MRO) for each kind; names rather than classes so that
# private Keras base classes (BaseConv, BasePooling...) can be used across Keras versions.
_KIND_BY_CLASS: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (kind, frozenset(names.split()))
    for kind, names in (
        ("block", "Model Sequential Functional"),
        (
            "conv",
            "BaseConv BaseDepthwiseConv BaseSeparableConv BaseConvTranspose Conv1D Conv2D "
            "Conv3D DepthwiseConv2D SeparableConv2D Conv1DTranspose Conv2DTranspose "
            "Conv3DTranspose",
        ),
        (
            "pool",
            "BasePooling BaseGlobalPooling MaxPooling1D MaxPooling2D MaxPooling3D "
            "AveragePooling1D AveragePooling2D AveragePooling3D GlobalAveragePooling1D "
            "GlobalAveragePooling2D GlobalAveragePooling3D GlobalMaxPooling1D "
            "GlobalMaxPooling2D GlobalMaxPooling3D",
        ),
        ("dense", "Dense EinsumDense"),
        ("norm", "BatchNormalization LayerNormalization GroupNormalization UnitNormalization"),
        (
            "dropout",
            "Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianDropout "
            "AlphaDropout",
        ),
        ("flatten", "Flatten"),
        ("activation", "Activation ReLU LeakyReLU PReLU ELU Softmax"),
    )
)


def keras_kind(layer: Any) -> str:
    """Classify a Keras layer as conv, pool, dense, norm, activation, dropout, flatten, block or other.

    Example:
        >>> keras_kind(keras.layers.MaxPooling2D())  # doctest: +SKIP
        'pool'
    """
    names = {cls.__name__ for cls in type(layer).__mro__}
    for kind, classes in _KIND_BY_CLASS:
        if names & classes:
            return kind
    return "other"


def _is_model(layer: Any) -> bool:
    return isinstance(layer, keras.Model)


def _is_input_layer(layer: Any) -> bool:
    return isinstance(layer, keras.layers.InputLayer)


def _children(model: Any) -> list[Any]:
    return [layer for layer in model.layers if not _is_input_layer(layer)]


def _walk(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every layer as ``(name, layer)`` in pre-order: a sub-model before its own layers."""
    out: list[tuple[str, Any]] = []
    for layer in _children(model):
        name = prefix + layer.name
        out.append((name, layer))
        if _is_model(layer):
            out.extend(_walk(layer, name + "/"))
    return out


def _data_format(model: Any) -> str:
    for _, layer in _walk(model):
        fmt = getattr(layer, "data_format", None)
        if fmt in ("channels_last", "channels_first") and keras_kind(layer) in ("conv", "pool"):
            return fmt
    return keras.config.image_data_format()


class _Replay:
    """The model's graph called again on one fresh ``keras.Input``, every output recorded."""

    def __init__(self, model: Any, input_shape: tuple[int | None, ...]) -> None:
        self.input = keras.Input(shape=input_shape)
        self.outputs: dict[str, Any] = {}
        self.final = self._call_model(model, self.input, "")
        self._models: dict[tuple[str, ...], Any] = {}

    def _record(self, name: str, value: Any) -> None:
        if name not in self.outputs:  # a shared layer called twice: keep its first call
            self.outputs[name] = value

    def _call_layer(self, layer: Any, args: tuple, kwargs: dict, prefix: str) -> Any:
        name = prefix + layer.name
        plain = all(value is None for value in kwargs.values())  # e.g. mask=None
        if _is_model(layer) and len(args) == 1 and plain:
            out = self._call_model(layer, args[0], name + "/")
        else:
            out = layer(*args, **kwargs)
        self._record(name, out)
        return out

    def _call_model(self, model: Any, x: Any, prefix: str) -> Any:
        if isinstance(model, keras.Sequential):
            for layer in _children(model):
                x = self._call_layer(layer, (x,), {}, prefix)
            return x
        run_graph = getattr(model, "_run_through_graph", None)
        if run_graph is not None and len(getattr(model, "inputs", None) or []) == 1:

            def operation_fn(op: Any) -> Callable[..., Any]:
                def call(*args: Any, **kwargs: Any) -> Any:
                    return self._call_layer(op, args, kwargs, prefix)

                return call

            out = run_graph([x], operation_fn=operation_fn)
            return out[0] if isinstance(out, (list, tuple)) and len(out) == 1 else out
        if prefix == "":
            raise ConvscopeError(
                f"convscope cannot look inside the subclassed Keras model {model.name!r} "
                f"({type(model).__name__}): its layers are only known to its call(). "
                "Build it as a keras.Sequential or functional keras.Model."
            )
        return model(x)  # a subclassed sub-model: capturable as a whole only

    def model_for(self, names: tuple[str, ...]) -> tuple[Any, list[int]]:
        """A ``keras.Model`` computing ``names``, and for each name its output index."""
        if names not in self._models:
            tensors: list[Any] = []
            index: list[int] = []
            for name in names:
                value = self.outputs[name]
                if isinstance(value, (list, tuple, dict)):
                    raise ConvscopeError(
                        f"layer {name!r} returns several tensors; capture one of its sub-layers"
                    )
                pos = next((i for i, t in enumerate(tensors) if t is value), None)
                if pos is None:
                    pos = len(tensors)
                    tensors.append(value)
                index.append(pos)
            model = keras.Model(self.input, tensors, name="convscope_capture")
            self._models[names] = (model, index)
        return self._models[names]


# Replays are cached per model (weakly) so repeated captures do not call layers again.
_REPLAYS: weakref.WeakKeyDictionary[Any, dict[tuple, _Replay]] = weakref.WeakKeyDictionary()


class KerasAdapter(Adapter):
    """Capture from a Keras 3 ``Sequential`` or functional ``Model`` (any backend).

    Layer names are the Keras names; layers of nested sub-models are joined with "/"
    (``CNN_sub_model/conv2d``) and the sub-model itself is a ``"block"`` layer.
    ``input_shape`` is the Keras input shape, (H, W, C) for channels-last models; the
    images passed to ``run`` are what the Keras model takes. Outputs come back as
    float32 NumPy arrays, 4-D maps in NCHW.

    Example:
        >>> adapter = KerasAdapter(model)  # doctest: +SKIP
        >>> maps = adapter.run(adapter.to_input(x_nhwc), ["CNN_sub_model/conv2d_1"])  # doctest: +SKIP
    """

    backend = "keras"

    def __init__(self, model: Any) -> None:
        if not isinstance(model, keras.Model):
            raise ConvscopeError(
                f"KerasAdapter takes a keras.Model, got {type(model).__module__}."
                f"{type(model).__name__}"
            )
        self.model = model
        self.data_format = _data_format(model)
        self.channels_last = self.data_format == "channels_last"
        self.input_shape = self._model_input_shape()

    # -- shapes ----------------------------------------------------------------------
    def _model_input_shape(self) -> tuple[int, ...] | None:
        try:
            shape = self.model.input_shape
        except (AttributeError, ValueError):
            return None
        if isinstance(shape, list):
            if len(shape) != 1:
                raise ConvscopeError(
                    f"model {self.model.name!r} has {len(shape)} inputs; convscope captures "
                    "models with one image input"
                )
            shape = shape[0]
        return tuple(shape[1:]) if shape is not None else None

    def _replay(self, input_shape: tuple[int, ...] | None = None) -> _Replay:
        shape = tuple(input_shape) if input_shape is not None else self.input_shape
        if shape is None:
            raise ConvscopeError(
                f"the Keras model {self.model.name!r} has no input shape yet; pass "
                "input_shape=(H, W, C) or build the model with keras.Input(shape=...)"
            )
        key = (shape, tuple(name for name, _ in _walk(self.model)))
        try:
            cache = _REPLAYS.setdefault(self.model, {})
        except TypeError:  # unhashable model: no caching
            cache = {}
        if key not in cache:
            try:
                cache[key] = _Replay(self.model, shape)
            except ConvscopeError:
                raise
            except (ValueError, TypeError) as exc:
                raise ShapeError(
                    f"the Keras model {self.model.name!r} cannot take input of shape "
                    f"(N, {', '.join(map(str, shape))}): {exc}"
                ) from exc
        return cache[key]

    def _nchw_shape(self, shape: tuple[int | None, ...]) -> tuple[int, ...]:
        dims = tuple(-1 if d is None else int(d) for d in shape[1:])
        if len(dims) == 3 and self.channels_last:
            dims = (dims[2], dims[0], dims[1])
        return dims

    # -- Adapter interface -----------------------------------------------------------
    def kernels(self, layer: str) -> np.ndarray | None:
        found = dict(_walk(self.model))
        if layer not in found:
            raise UnknownNameError("layer", [layer], list(found))
        if keras_kind(found[layer]) != "conv":
            return None
        try:
            return conv_kernels(self.model, layer)
        except ConvscopeError:  # a 1-D or 3-D convolution
            return None

    def infos(
        self, input_shape: tuple[int, ...] | None = None, shapes: bool = True
    ) -> list[LayerInfo]:
        out_shapes: dict[str, tuple[int, ...]] = {}
        have_shape = input_shape is not None or self.input_shape is not None
        if have_shape and (shapes or not all(layer.built for _, layer in _walk(self.model))):
            replay = self._replay(input_shape)
            for name, value in replay.outputs.items():
                if hasattr(value, "shape") and not isinstance(value, (list, tuple, dict)):
                    out_shapes[name] = self._nchw_shape(tuple(value.shape))
        return [
            LayerInfo(
                name=name,
                kind=keras_kind(layer),
                output_shape=out_shapes.get(name) if shapes else None,
                params=int(layer.count_params()) if layer.built else 0,
                type=type(layer).__name__,
            )
            for name, layer in _walk(self.model)
        ]

    def to_input(self, x: Any) -> np.ndarray:
        refuse_several_inputs(x, self.backend)
        array = as_numpy(x)
        check_float_images(array.dtype)
        array = array.astype(np.float32, copy=False)
        shape = self.input_shape
        if shape is None:
            return array
        array = arrange_batch(array, shape, nhwc=self.channels_last)
        if array.ndim != len(shape) + 1 or not _fits(array.shape[1:], shape):
            want = "(N, " + ", ".join("?" if d is None else str(d) for d in shape) + ")"
            layout = "NHWC" if self.channels_last else "NCHW"
            raise ShapeError(
                f"the Keras model {self.model.name!r} takes images of shape {want} in {layout} "
                f"(or the same images in NCHW); got {tuple(array.shape)}. Resize the images or "
                "pick a model whose input fits."
            )
        return np.ascontiguousarray(array)

    def run(self, x: Any, names: list[str]) -> dict[str, np.ndarray]:
        shape = tuple(x.shape[1:]) if self.input_shape is None else None
        replay = self._replay(shape)
        missing = [n for n in names if n not in replay.outputs]
        if missing:
            raise ConvscopeError(
                f"layers {missing} are not reachable from the model's input; "
                "pick layers on the path from input to output"
            )
        model, index = replay.model_for(tuple(names))
        try:
            outputs = _predict(model, x)
        except (ValueError, RuntimeError) as exc:
            raise ShapeError(
                f"the Keras forward pass failed on input of shape {tuple(np.shape(x))}: {exc}"
            ) from exc
        result: dict[str, np.ndarray] = {}
        for name, pos in zip(names, index, strict=True):
            value = outputs[pos]
            if value.ndim == 4 and self.channels_last:
                value = value.transpose(0, 3, 1, 2)
            result[name] = np.ascontiguousarray(value, dtype=np.float32)
        return result

    def close(self) -> None:
        """Nothing to release: the replayed graph is cached weakly with the model."""


def _predict(model: Any, x: np.ndarray) -> list[np.ndarray]:
    """Run ``model`` in inference mode; a list of NumPy outputs."""
    if keras.backend.backend() == "torch":  # direct call: no predict loop, no autograd
        with torch.no_grad():
            outputs = model(x, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [as_numpy(o) for o in outputs]
    outputs = model.predict_on_batch(x)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in outputs]


def find_layer(model: Any, layer: Any) -> tuple[str, Any]:
    """A Keras layer's "/"-joined name and object, from a name, the object, or None (the
    first conv layer).

    Raises:
        UnknownNameError: no layer of that name (the conv layers are listed).
        ConvscopeError: the model has no conv layer, or the object is not part of it.
    """
    walked = _walk(model)
    convs = [(n, lay) for n, lay in walked if keras_kind(lay) == "conv"]
    if layer is None:
        if not convs:
            raise ConvscopeError(f"model {model.name!r} has no conv layer")
        return convs[0]
    if isinstance(layer, str):
        for name, candidate in walked:
            if name == layer:
                return name, candidate
        raise UnknownNameError("conv layer", [layer], [n for n, _ in convs])
    for name, candidate in walked:
        if candidate is layer:
            return name, candidate
    raise ConvscopeError(f"layer {getattr(layer, 'name', layer)!r} is not part of {model.name!r}")


def conv_kernels(model: Any, layer: Any = None) -> np.ndarray:
    """A Keras conv layer's kernels in torch layout (out, in, kh, kw), float32.

    Keras stores kernels as (kh, kw, in, out) (seed 003 draws ``weights[0][:, :, 0, i]``);
    this returns ``kernel.transpose(3, 2, 0, 1)`` so ``result[i, 0]`` is that same kernel
    and :func:`convscope.render.kernels` can draw it.

    Args:
        model: a Keras model.
        layer: a layer name ("/" for nested layers), a layer object, or None for the
            first conv layer.

    Raises:
        UnknownNameError: no layer of that name (the conv layers are listed).
        ConvscopeError: the layer has no 2-D conv kernel.

    Example:
        >>> w = conv_kernels(model, "conv_0")  # doctest: +SKIP
        >>> w.shape  # (out, in, kh, kw)  # doctest: +SKIP
        (32, 3, 3, 3)
    """
    name, found = find_layer(model, layer)
    kernel = getattr(found, "kernel", None)
    if kernel is None and getattr(found, "depthwise_kernel", None) is not None:
        kernel = found.depthwise_kernel
    if kernel is None:
        raise ConvscopeError(f"layer {name!r} ({type(found).__name__}) has no conv kernel")
    value = getattr(kernel, "value", kernel)  # the backend tensor behind a keras.Variable
    if hasattr(value, "detach"):  # torch: no round trip through np.array(tensor)
        array = as_numpy(value, dtype=np.float32)
    else:
        array = np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float32)
    if array.ndim != 4:
        raise ConvscopeError(
            f"layer {name!r} has a {array.ndim}-D kernel {array.shape}; conv_kernels takes "
            "2-D convolutions (kh, kw, in, out)"
        )
    if "Transpose" in type(found).__name__:  # Conv2DTranspose stores (kh, kw, out, in)
        return np.ascontiguousarray(array.transpose(2, 3, 0, 1))
    return np.ascontiguousarray(array.transpose(3, 2, 0, 1))


def __getattr__(name: str) -> Any:
    # load_keras_model moved to the models room: convscope.models.load reads Keras files
    if name == "load_keras_model":
        warnings.warn(
            "convscope.adapters.keras.load_keras_model is deprecated; use "
            "convscope.models.load(path, trust=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        return load_keras_file
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
