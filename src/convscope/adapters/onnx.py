"""ONNX capture: expose intermediate tensors as graph outputs and run with onnxruntime (CPU).

Layers are the graph's nodes that compute on the image, named by the node's name (or its
first output's name when it has none); constant sub-graphs (``Constant`` nodes, weights
passed through ``Identity``) are left out. A node whose name is ``"<layer>/<op>"``
next to a node named ``"<layer>"`` is part of that layer: this is how
:func:`convscope.export.export_onnx` keeps a zoo layer's Conv and its ReLU together under
the zoo's layer name (``conv2d`` is the post-ReLU map, of kind ``conv``), so an exported
model lists the same layers as the torch model it came from.

Channel layout is read from the graph: an input that reaches the first ``Conv`` through
a ``Transpose(perm=[0, 3, 1, 2])`` is NHWC. The layout of every 4-D tensor is followed
through the graph and NHWC maps are transposed to NCHW when captured.

Example:
    >>> import convscope as cs  # doctest: +SKIP
    >>> model, _ = cs.models.load("mnist_convnet.onnx")  # doctest: +SKIP
    >>> cs.capture(model, x, layers="conv2d")["conv2d"].shape  # doctest: +SKIP
    (4, 32, 26, 26)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BackendMissingError, ConvscopeError, ShapeError, UnknownNameError
from ..models.onnx_io import OnnxModel, cpu_session, load_onnx_file
from ..validation import as_numpy
from ._onnx_names import FLOAT_TYPES, constants, group_nodes
from .base import Adapter, LayerInfo, arrange_batch, check_float_images, refuse_several_inputs
from .base import fits as _fits

try:
    import onnx
    from onnx import helper, numpy_helper, shape_inference
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise BackendMissingError("onnx", "onnx") from exc

__all__ = ["OnnxAdapter", "OnnxModel", "initializer_array", "onnx_kind"]

_KIND_BY_OP: dict[str, str] = {}
for _kind, _ops in (
    ("conv", "Conv ConvTranspose ConvInteger QLinearConv DeformConv"),
    ("pool", "MaxPool AveragePool GlobalAveragePool GlobalMaxPool LpPool GlobalLpPool"),
    ("dense", "Gemm MatMul MatMulInteger QLinearMatMul"),
    (
        "norm",
        "BatchNormalization InstanceNormalization LayerNormalization GroupNormalization "
        "LpNormalization LRN",
    ),
    (
        "activation",
        "Relu LeakyRelu PRelu Elu Selu Celu Sigmoid HardSigmoid Tanh Softmax LogSoftmax "
        "HardSwish Gelu Softplus Softsign Mish ThresholdedRelu Clip",
    ),
    ("dropout", "Dropout"),
    ("flatten", "Flatten Reshape"),
):
    for _op in _ops.split():
        _KIND_BY_OP[_op] = _kind

# When several nodes form one layer, its kind is the first of these that any node has.
_KIND_PRIORITY = ("conv", "dense", "pool", "norm", "flatten", "dropout", "activation", "other")
# Ops whose 4-D output is NCHW whatever their input's layout.
_NCHW_OPS = frozenset(
    "Conv ConvTranspose ConvInteger QLinearConv MaxPool AveragePool GlobalAveragePool "
    "GlobalMaxPool LpPool BatchNormalization InstanceNormalization LRN".split()
)


def onnx_kind(op_type: str) -> str:
    """Map an ONNX op type to a convscope layer kind.

    Example:
        >>> onnx_kind("Conv"), onnx_kind("Gemm"), onnx_kind("Add")
        ('conv', 'dense', 'other')
    """
    return _KIND_BY_OP.get(op_type, "other")


def _node_kind(node: Any, arrays: dict[str, Any], layouts: dict[str, str | None]) -> str:
    """A node's kind; a mean or max over the spatial axes counts as (global) pooling."""
    if node.op_type in ("ReduceMean", "ReduceMax"):
        axes = next((list(a.ints) for a in node.attribute if a.name == "axes"), None)
        if axes is None and len(node.input) > 1 and node.input[1] in arrays:
            axes = numpy_helper.to_array(arrays[node.input[1]]).tolist()
        nhwc = layouts.get(node.input[0]) == "NHWC"
        spatial = ([1, 2], [-3, -2]) if nhwc else ([2, 3], [-2, -1])
        if axes is not None and sorted(axes) in spatial:
            return "pool"
    return onnx_kind(node.op_type)


@dataclass(frozen=True)
class _Layer:
    name: str
    tensor: str
    kind: str
    params: int
    type: str
    weight: str | None = None  # the initializer holding its Conv kernel, if any


class OnnxAdapter(Adapter):
    """Capture intermediate tensors of any ONNX model with onnxruntime on CPU.

    For each requested tuple of layers, a copy of the graph with those tensors added as
    outputs gets its own session; sessions are released by :meth:`close`.

    Example:
        >>> with OnnxAdapter("mnist_convnet.onnx") as adapter:  # doctest: +SKIP
        ...     maps = adapter.run(adapter.to_input(x), ["conv2d", "dense"])
    """

    backend = "onnx"

    def __init__(self, model: str | os.PathLike | onnx.ModelProto | OnnxModel) -> None:
        if type(model).__module__.split(".")[0] == "onnxruntime":
            raise ConvscopeError(
                "an onnxruntime.InferenceSession cannot expose intermediate tensors; pass the "
                ".onnx path or the onnx.ModelProto instead"
            )
        self.model = model if isinstance(model, OnnxModel) else OnnxModel(model)
        proto = self.model.proto
        graph = proto.graph
        initializers = {init.name for init in graph.initializer}
        inputs = [i for i in graph.input if i.name not in initializers]
        if len(inputs) != 1:
            raise ConvscopeError(
                f"{self.model.name} has {len(inputs)} inputs "
                f"({', '.join(i.name for i in inputs)}); convscope captures models with one "
                "image input"
            )
        self.input_name = inputs[0].name
        dims = _dims(inputs[0].type)
        self._batch: int | None = dims[0] if dims else None
        self.input_shape = tuple(dims[1:]) if dims else None  # type: ignore[assignment]
        elem = inputs[0].type.tensor_type.elem_type or onnx.TensorProto.FLOAT
        self.input_dtype = helper.tensor_dtype_to_np_dtype(elem)
        self.layout = "NCHW"
        self._layouts: dict[str, str | None] = {}
        self._layers = self._list_layers()
        self._by_name = {layer.name: layer for layer in self._layers}
        self._shapes: dict[tuple, dict[str, tuple[int | None, ...]]] = {}
        self._sessions: dict[tuple[str, ...], Any] = {}

    # -- graph analysis ----------------------------------------------------------------
    def _list_layers(self) -> list[_Layer]:
        graph = self.model.proto.graph
        arrays = {init.name: init for init in graph.initializer}
        arrays.update(constants(graph))
        sizes = {
            init.name: int(np.prod(init.dims, dtype=np.int64))
            for init in graph.initializer
            if init.data_type in FLOAT_TYPES
        }
        # nodes computed from the image: constant sub-graphs (weights) are no layers
        live = {self.input_name}
        nodes = []
        for node in graph.node:
            if node.output and any(i in live for i in node.input):
                live.update(node.output)
                nodes.append(node)
        self._follow_layouts(nodes)
        layers = []
        for name, members in group_nodes(nodes):
            kinds = {_node_kind(m, arrays, self._layouts) for m in members}
            kind = next(k for k in _KIND_PRIORITY if k in kinds or k == "other")
            used = {i for m in members for i in m.input if i in sizes}
            convs = [m for m in members if m.op_type == "Conv" and len(m.input) > 1]
            layers.append(
                _Layer(
                    name=name,
                    tensor=members[-1].output[0],
                    kind=kind,
                    params=sum(sizes[i] for i in used),
                    type="+".join(m.op_type for m in members),
                    weight=convs[0].input[1] if convs and convs[0].input[1] in arrays else None,
                )
            )
        return layers

    def _follow_layouts(self, nodes: list[Any]) -> None:
        """Decide the input's layout and follow the layout of every tensor through the graph."""
        producer = {out: node for node in nodes for out in node.output}
        first_conv = next((n for n in nodes if onnx_kind(n.op_type) == "conv"), None)
        tensor = first_conv.input[0] if first_conv is not None else None
        while tensor is not None and tensor in producer:
            node = producer[tensor]
            if node.op_type == "Transpose" and _perm(node) == [0, 3, 1, 2]:
                self.layout = "NHWC"
            tensor = node.input[0] if node.input else None
        layouts: dict[str, str | None] = {self.input_name: self.layout}
        for node in nodes:
            source = layouts.get(node.input[0]) if node.input else None
            if node.op_type in _NCHW_OPS:
                out: str | None = "NCHW"
            elif node.op_type == "Transpose":
                perm = _perm(node)
                out = (
                    "NCHW"
                    if source == "NHWC" and perm == [0, 3, 1, 2]
                    else "NHWC"
                    if source == "NCHW" and perm == [0, 2, 3, 1]
                    else None
                )
            else:
                out = source
            for name in node.output:
                layouts[name] = out
        self._layouts = layouts

    def _inferred_shapes(
        self, input_shape: tuple[int, ...] | None
    ) -> dict[str, tuple[int | None, ...]]:
        key = tuple(input_shape) if input_shape is not None else None
        if key not in self._shapes:
            proto = self.model.proto
            if key is not None and key != self.input_shape:
                proto = _copy(proto)
                graph_input = next(i for i in proto.graph.input if i.name == self.input_name)
                dims = graph_input.type.tensor_type.shape.dim
                if len(dims) != len(key) + 1:
                    raise ShapeError(
                        f"input_shape {key} has {len(key)} axes; {self.model.name} takes "
                        f"{len(dims) - 1} besides the batch"
                    )
                for dim, value in zip(list(dims)[1:], key, strict=True):
                    dim.Clear()
                    dim.dim_value = int(value)
            try:
                inferred = shape_inference.infer_shapes(proto)
            except Exception:  # shape inference is best effort: no shapes then
                self._shapes[key] = {}
                return self._shapes[key]
            graph = inferred.graph
            shapes = {}
            for value in list(graph.value_info) + list(graph.output) + list(graph.input):
                dims = _dims(value.type)
                if dims is not None:
                    shapes[value.name] = dims
            self._shapes[key] = shapes
        return self._shapes[key]

    # -- Adapter interface -------------------------------------------------------------
    @property
    def channels_last(self) -> bool:  # type: ignore[override]
        return self.layout == "NHWC"

    def kernels(self, layer: str) -> np.ndarray | None:
        if layer not in self._by_name:
            raise UnknownNameError("layer", [layer], list(self._by_name))
        weight = self._by_name[layer].weight
        if weight is None:
            return None
        # ONNX Conv weights are (out, in, kh, kw) whatever the tensors' layout
        kernel = initializer_array(self.model, weight)
        return np.ascontiguousarray(kernel, dtype=np.float32) if kernel.ndim == 4 else None

    def infos(
        self, input_shape: tuple[int, ...] | None = None, shapes: bool = True
    ) -> list[LayerInfo]:
        found = self._inferred_shapes(input_shape) if shapes else {}
        infos = []
        for layer in self._layers:
            dims = found.get(layer.tensor)
            out: tuple[int, ...] | None = None
            if dims is not None and len(dims) >= 1:
                rest = tuple(-1 if d is None else d for d in dims[1:])
                if len(rest) == 3 and self._layouts.get(layer.tensor) == "NHWC":
                    rest = (rest[2], rest[0], rest[1])
                out = rest
            infos.append(LayerInfo(layer.name, layer.kind, out, layer.params, layer.type))
        return infos

    def to_input(self, x: Any) -> np.ndarray:
        refuse_several_inputs(x, self.backend)
        array = as_numpy(x)
        if np.dtype(self.input_dtype).kind == "f":  # an integer-input model takes its own
            check_float_images(array.dtype)
        array = array.astype(self.input_dtype, copy=False)
        shape = self.input_shape
        if shape is None:
            return array
        array = arrange_batch(array, shape, nhwc=self.layout == "NHWC")
        if array.ndim != len(shape) + 1 or not _fits(array.shape[1:], shape):
            want = "(N, " + ", ".join("?" if d is None else str(d) for d in shape) + ")"
            layout = self.layout
            hint = "Resize the images or pick a model whose input fits."
            if self.layout == "NHWC":
                layout = "NHWC (or the same images in NCHW)"
            elif (
                array.ndim == 4
                and len(shape) == 3
                and _fits(array.transpose(0, 3, 1, 2).shape[1:], shape)
            ):
                hint = "The images look NHWC: transpose them with x.transpose(0, 3, 1, 2)."
            raise ShapeError(
                f"{self.model.name} takes images of shape {want} in {layout}; got "
                f"{tuple(array.shape)}. {hint}"
            )
        return np.ascontiguousarray(array)

    def _session_for(self, names: tuple[str, ...]) -> Any:
        if names not in self._sessions:
            proto = _copy(self.model.proto)
            outputs = {o.name for o in proto.graph.output}
            for name in names:
                tensor = self._by_name[name].tensor
                if tensor not in outputs:
                    proto.graph.output.append(helper.ValueInfoProto(name=tensor))
                    outputs.add(tensor)
            try:
                self._sessions[names] = cpu_session(proto.SerializeToString())
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ConvscopeError(
                    f"onnxruntime cannot load {self.model.name} with outputs {list(names)}: {exc}"
                ) from None
        return self._sessions[names]

    def run(self, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        missing = [n for n in names if n not in self._by_name]
        if missing:
            raise UnknownNameError("layer", missing, list(self._by_name))
        session = self._session_for(tuple(names))
        tensors = list(dict.fromkeys(self._by_name[n].tensor for n in names))
        if self._batch is not None and self._batch != len(x):
            if self._batch != 1:
                raise ShapeError(
                    f"{self.model.name} has a fixed batch size of {self._batch}; got a batch "
                    f"of {len(x)}: pass batch_size={self._batch}"
                )
            parts = [self._run(session, tensors, x[i : i + 1]) for i in range(len(x))]
            values = [np.concatenate([p[j] for p in parts]) for j in range(len(tensors))]
        else:
            values = self._run(session, tensors, x)
        by_tensor = dict(zip(tensors, values, strict=True))
        result = {}
        for name in names:
            tensor = self._by_name[name].tensor
            value = np.asarray(by_tensor[tensor])
            if value.ndim == 4 and self._layouts.get(tensor) == "NHWC":
                value = value.transpose(0, 3, 1, 2)
            result[name] = np.ascontiguousarray(value, dtype=np.float32)
        return result

    def _run(self, session: Any, tensors: list[str], x: np.ndarray) -> list[np.ndarray]:
        try:
            return session.run(tensors, {self.input_name: x})
        except Exception as exc:  # onnxruntime's Fail / InvalidArgument
            raise ShapeError(
                f"onnxruntime failed on input of shape {tuple(x.shape)}: {exc}"
            ) from None

    def close(self) -> None:
        """Release every onnxruntime session this adapter created."""
        self._sessions.clear()


def _dims(value_type: Any) -> tuple[int | None, ...] | None:
    tensor_type = value_type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim)


def _perm(node: Any) -> list[int] | None:
    for attr in node.attribute:
        if attr.name == "perm":
            return list(attr.ints)
    return None


def _copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    return copy


def initializer_array(model: OnnxModel | onnx.ModelProto, name: str) -> np.ndarray:
    """Return one initializer (a weight) of an ONNX model as an array.

    Example:
        >>> initializer_array(cs.models.load("m.onnx")[0], "conv2d.weight").shape  # doctest: +SKIP
        (32, 1, 3, 3)
    """
    proto = model.proto if isinstance(model, OnnxModel) else model
    for init in proto.graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    raise ConvscopeError(f"the ONNX model has no initializer {name!r}")


def __getattr__(name: str) -> Any:
    # load_onnx_model moved to the models room: convscope.models.load reads ONNX files
    if name == "load_onnx_model":
        warnings.warn(
            "convscope.adapters.onnx.load_onnx_model is deprecated; use convscope.models.load(path)",
            DeprecationWarning,
            stacklevel=2,
        )
        return load_onnx_file
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
