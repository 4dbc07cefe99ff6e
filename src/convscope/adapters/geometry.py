"""Receptive-field geometry of a model's layers: kernel, stride, padding, dilation.

:func:`layer_geometry` reads, for every layer a model runs on its way to the chosen one,
how it maps input cells to output cells, from the framework's own objects: torch modules
(in the order a forward pass calls them), Keras layers (their config) and ONNX nodes
(their attributes, following the graph, branches included). The arithmetic that turns a
chain of :class:`Op` into a receptive field lives in :mod:`convscope.analysis.receptive`;
this module is the only one that knows the frameworks.

:func:`gradient_field` is the independent check on torch: the input cells whose gradient
with respect to one output unit is not zero.

Example:
    >>> import convscope as cs
    >>> ops = layer_geometry(cs.models.build("mnist_convnet"), "conv2d_1")
    >>> [(op.name, op.kernel, op.stride) for op in ops if op.spatial]
    [('conv2d', (3, 3), (1, 1)), ('max_pooling2d', (2, 2), (2, 2)), ('conv2d_1', (3, 3), (1, 1))]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import ConvscopeError, UnknownNameError
from . import adapter_for

__all__ = ["Op", "gradient_field", "layer_geometry"]

Pair = tuple[int, int]


@dataclass(frozen=True)
class Op:
    """How one layer maps input cells to output cells (rows, columns).

    Attributes:
        name: the layer (or ONNX node) name.
        kernel, stride, dilation: (rows, cols).
        padding: (top, left) cells added before the first input cell, or ``"same"``
            (total padding as Keras/TF and torch compute it, the extra cell at the end)
            or ``"same_lower"`` (ONNX SAME_LOWER: the extra cell at the start).
        padding_end: (bottom, right) cells added after the last one (default: as
            ``padding``).
        spatial: False for ops that keep every cell where it is (activations, norms).
        whole: the op sees the whole map (global pooling, flatten, dense): every cell of
            its output depends on every input cell.
        inputs, output: tensor names (ONNX graphs; empty for a chain).
    """

    name: str
    kernel: Pair = (1, 1)
    stride: Pair = (1, 1)
    padding: Pair | str = (0, 0)
    dilation: Pair = (1, 1)
    padding_end: Pair | None = None
    spatial: bool = False
    whole: bool = False
    inputs: tuple[str, ...] = ()
    output: str = ""


def _pair(value: Any) -> Pair:
    if isinstance(value, (tuple, list)):
        values = [int(v) for v in value]
        return (values[0], values[-1]) if values else (1, 1)
    return (int(value), int(value))


def layer_geometry(model: Any, layer: str) -> list[Op]:
    """The ops a model runs from its input up to and including ``layer``, in order.

    Args:
        model: a torch module, Keras model or ONNX model (what :func:`adapter_for` takes).
        layer: a layer name as :func:`convscope.layers` lists it.

    Returns:
        For torch and Keras, the chain of layers before ``layer`` (a branching model is
        read as the chain its layers run in: use :func:`gradient_field` for those). For
        ONNX, every node on some path from the input to ``layer``, with its tensors.

    Raises:
        UnknownNameError: ``layer`` is not a layer of the model (the layers are listed).

    Example:
        >>> import convscope as cs
        >>> [op.name for op in layer_geometry(cs.models.build("fashion_gap"), "dense")][-2:]
        ['global_average_pooling2d', 'dense']
    """
    with adapter_for(model) as adapter:
        names = [i.name for i in adapter.infos(shapes=False)]
        if layer not in names:
            raise UnknownNameError("layer", [layer], names)
        if adapter.torch_module is not None:
            return _torch_chain(adapter.torch_module, layer, adapter.image_shape)
        if adapter.backend == "keras":
            return _keras_chain(adapter.model, layer)
        if adapter.backend == "onnx":
            return _onnx_ops(adapter, layer)
    raise ConvscopeError(f"no receptive-field geometry for a {adapter.backend} model")


# ------------------------------------------------------------------------------ torch
def _torch_op(name: str, module: Any) -> Op:
    from torch import nn

    from ..models.zoo import GlobalAveragePooling2D

    if isinstance(module, nn.Conv2d):
        padding = module.padding
        padding = "same" if padding == "same" else (0, 0) if padding == "valid" else _pair(padding)
        return Op(name, _pair(module.kernel_size), _pair(module.stride), padding,
                  _pair(module.dilation), spatial=True)  # fmt: skip
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        stride = module.stride if module.stride is not None else module.kernel_size
        dilation = getattr(module, "dilation", 1)
        return Op(name, _pair(module.kernel_size), _pair(stride), _pair(module.padding),
                  _pair(dilation), spatial=True)  # fmt: skip
    if isinstance(
        module, (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d)
    ):
        left, right, top, bottom = module.padding
        return Op(name, padding=(int(top), int(left)), padding_end=(int(bottom), int(right)),
                  spatial=True)  # fmt: skip
    if isinstance(
        module,
        (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Linear, GlobalAveragePooling2D),
    ):
        return Op(name, whole=True)
    return Op(name)


def _torch_chain(module: Any, layer: str, image_shape: Any) -> list[Op]:
    """Leaf modules in the order a forward pass calls them, up to ``layer``."""
    import torch

    named = {name.replace(".", "/"): m for name, m in module.named_modules() if name}
    leaves = {n: m for n, m in named.items() if next(m.children(), None) is None}
    order: list[str] = []
    if image_shape is not None:
        from .torch import inference

        calls: dict[str, int] = {}

        def record(name: str) -> None:  # a module called again is `name#1`, as captured
            count = calls.get(name, 0)
            calls[name] = count + 1
            order.append(name if count == 0 else f"{name}#{count}")

        handles = [
            m.register_forward_hook(lambda _m, _i, _o, n=n: record(n)) for n, m in leaves.items()
        ]
        try:
            param = next(module.parameters(), None)
            device = param.device if param is not None else "cpu"
            with inference(module):
                module(torch.zeros((1, *image_shape), device=device))
        finally:
            for handle in handles:
                handle.remove()
    else:  # no input shape to run: the modules in the order they were defined
        order = list(leaves)
    order = list(dict.fromkeys(order))
    inside = [i for i, n in enumerate(order) if n == layer or n.startswith(layer + "/")]
    if not inside:
        raise ConvscopeError(f"layer {layer!r} did not run in a forward pass; its field is unknown")
    return [_torch_op(n, named[n.split("#")[0]]) for n in order[: inside[-1] + 1]]


_FUNCTIONAL_SPATIAL = (
    "pool",
    "conv",
    "interpolate",
    "upsample",
    "unfold",
    "fold",
    "pad",
    "shuffle",
)
_FUNCTIONAL_WHOLE = ("flatten", "linear", "adaptive")


def torch_graph_ops(model: Any, layer: str) -> list[Op] | None:
    """A torch model's traced graph (``torch.fx``) from the input to ``layer``, as ops
    with their tensors, so a residual block's branches are read as branches.

    The chain read by :func:`layer_geometry` strides twice through a block whose shortcut
    and main path both downsample; the graph takes the union of the branches instead.
    ``None`` when the model cannot be traced, ``layer`` is not a leaf module called in
    the graph, or a functional op on the way moves cells (``F.max_pool2d``...): its
    geometry is not known here.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3), torch.nn.ReLU())
        >>> [(op.name, op.inputs, op.output) for op in torch_graph_ops(net, "0")]
        [('0', ('input_1',), '_0')]
    """
    with adapter_for(model) as adapter:
        module = adapter.torch_module
    return None if module is None else _traced_ops(module, layer)


def _traced_ops(module: Any, layer: str) -> list[Op] | None:
    """:func:`torch_graph_ops` of a torch module."""
    if "#" in layer:
        return None
    import torch.fx

    try:
        traced = torch.fx.symbolic_trace(module)
    except Exception:  # noqa: BLE001 - any model fx cannot trace: no graph, the caller falls back
        return None
    named = dict(module.named_modules())
    target = layer.replace("/", ".")
    ops: list[Op] = []
    for node in traced.graph.nodes:
        if node.op in ("placeholder", "get_attr", "output"):
            continue
        inputs = tuple(a.name for a in node.all_input_nodes)
        if node.op == "call_module":
            sub = named.get(str(node.target))
            if sub is None or next(sub.children(), None) is not None:
                return None
            op = _torch_op(str(node.target).replace(".", "/"), sub)
        else:
            fn = str(getattr(node.target, "__name__", node.target)).lower()
            if any(k in fn for k in _FUNCTIONAL_SPATIAL):
                return None
            op = Op(node.name, whole=any(k in fn for k in _FUNCTIONAL_WHOLE))
        ops.append(replace(op, inputs=inputs, output=node.name))
        if node.op == "call_module" and str(node.target) == target:
            return ops
    return None


def gradient_field(module: Any, layer: str, input_shape: tuple[int, ...], unit: tuple[int, int],
                   channel: int = 0) -> tuple[slice, slice]:  # fmt: skip
    """Rows and columns of the input cells that one output unit's value depends on.

    The check that needs no geometry: backpropagate from ``layer``'s cell ``unit`` of
    ``channel`` and take the bounding box of the input cells with a non-zero gradient
    (in float64, from an input of ones). ReLUs that are off and max-pools hide cells
    (their gradient is zero): use it on a model whose units are all on and whose pools
    average, as the tests do.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3))
        >>> gradient_field(net, "0", (1, 8, 8), (2, 4))
        (slice(2, 5, None), slice(4, 7, None))
    """
    import torch

    module = copy.deepcopy(module).double().eval()  # the caller's model is left as it is
    named = {name.replace(".", "/"): m for name, m in module.named_modules() if name}
    if layer not in named:
        raise UnknownNameError("layer", [layer], list(named))
    kept: dict[str, Any] = {}
    named[layer].register_forward_hook(lambda _m, _i, out: kept.setdefault("out", out))
    x = torch.ones((1, *input_shape), dtype=torch.float64, requires_grad=True)
    module(x)
    kept["out"][0, channel, unit[0], unit[1]].backward()
    grad = x.grad[0].abs().sum(dim=0).numpy()
    rows, cols = np.nonzero(grad)
    if rows.size == 0:
        raise ConvscopeError(f"unit {unit} of {layer!r} has no gradient from the input")
    return slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1)


# ------------------------------------------------------------------------------ keras
def _keras_layers(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        name = prefix + layer.name
        if hasattr(layer, "layers") and getattr(layer, "layers", None) is not None:
            out.extend(_keras_layers(layer, name + "/"))
            out.append((name, None))  # the sub-model's own name ends after its layers
        else:
            out.append((name, layer))
    return out


def _keras_op(name: str, layer: Any) -> Op:
    if layer is None:
        return Op(name)
    config = layer.get_config()
    kind = type(layer).__name__
    padding = "same" if str(config.get("padding", "valid")).lower() == "same" else (0, 0)
    if "kernel_size" in config:  # Conv2D, DepthwiseConv2D, SeparableConv2D
        return Op(name, _pair(config["kernel_size"]), _pair(config.get("strides", 1)), padding,
                  _pair(config.get("dilation_rate", 1)), spatial=True)  # fmt: skip
    if "pool_size" in config and not kind.startswith("Global"):
        strides = config.get("strides") or config["pool_size"]
        return Op(name, _pair(config["pool_size"]), _pair(strides), padding, spatial=True)
    if kind == "ZeroPadding2D":
        (top, bottom), (left, right) = config["padding"]
        return Op(name, padding=(int(top), int(left)), padding_end=(int(bottom), int(right)),
                  spatial=True)  # fmt: skip
    if kind.startswith("Global") or kind in ("Flatten", "Dense"):
        return Op(name, whole=True)
    return Op(name)


def _keras_chain(model: Any, layer: str) -> list[Op]:
    chain = []
    for name, obj in _keras_layers(model):
        chain.append(_keras_op(name, obj))
        if name == layer:
            return chain
    raise UnknownNameError("layer", [layer], [n for n, _ in _keras_layers(model)])


def keras_graph_ops(model: Any, layer: str) -> list[Op] | None:
    """A functional Keras model's layer graph from the input to ``layer``, as ops with
    their tensors (a residual block's branches read as branches); ``None`` for a model
    that is not functional, or a nested sub-model on the way.

    Example:
        >>> import keras
        >>> i = keras.Input((8, 8, 1)); c = keras.layers.Conv2D(1, 3, name="c")(i)
        >>> [op.name for op in keras_graph_ops(keras.Model(i, c), "c")]
        ['c']
    """
    depths = getattr(model, "_nodes_by_depth", None)
    if not depths:
        return None
    ops: list[Op] = []
    for depth in sorted(depths, reverse=True):  # the input first, the outputs last
        for node in depths[depth]:
            operation = node.operation
            kind = type(operation).__name__
            if kind == "InputLayer":
                continue
            if hasattr(operation, "layers"):  # a nested model: its inside is not read here
                return None
            op = _keras_op(operation.name, operation)
            inputs = tuple(t.name for t in node.input_tensors)
            ops.append(replace(op, inputs=inputs, output=node.outputs[0].name))
            if operation.name == layer:
                return ops
    return None


def graph_ops(model: Any, layer: str) -> list[Op] | None:
    """The model's graph up to ``layer`` as ops with tensors (torch: traced with
    ``torch.fx``; Keras: a functional model's nodes); ``None`` where it cannot be read.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Conv2d(2, 2, 3))
        >>> [op.name for op in graph_ops(net, "2")]
        ['0', '1', '2']
    """
    with adapter_for(model) as adapter:
        if adapter.torch_module is not None:
            return _traced_ops(adapter.torch_module, layer)
        if adapter.backend == "keras":
            return keras_graph_ops(adapter.model, layer)
    return None


# ------------------------------------------------------------------------------- onnx
def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _onnx_op(node: Any) -> Op:
    attrs = _attrs(node)
    name = node.name or node.output[0]
    if node.op_type in ("Conv", "MaxPool", "AveragePool"):
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        padding: Pair | str = (int(pads[0]), int(pads[1])) if len(pads) >= 2 else (0, 0)
        end = (int(pads[2]), int(pads[3])) if len(pads) >= 4 else None
        if auto == "SAME_UPPER":
            padding = "same"
        elif auto == "SAME_LOWER":
            padding = "same_lower"
        kernel = attrs.get("kernel_shape")
        stride = attrs.get("strides", [1, 1])
        return Op(name, _pair(kernel if kernel is not None else 1), _pair(stride), padding,
                  _pair(attrs.get("dilations", [1, 1])), end, spatial=True)  # fmt: skip
    whole = node.op_type.startswith("Global") or node.op_type in ("Flatten", "Gemm", "MatMul")
    return Op(name, whole=whole)


def _onnx_ops(adapter: Any, layer: str) -> list[Op]:
    """Every node between the image input and ``layer``'s tensor, with its tensors."""
    graph = adapter.model.proto.graph
    by_name = getattr(adapter, "_by_name", {})
    target = by_name[layer].tensor if layer in by_name else layer
    producer = {out: node for node in graph.node for out in node.output}
    wanted: set[str] = set()
    stack = [target]
    while stack:  # walk back from the layer's tensor to the input
        tensor = stack.pop()
        node = producer.get(tensor)
        if node is None or id(node) in wanted:
            continue
        wanted.add(id(node))
        stack.extend(node.input)
    ops = []
    for node in graph.node:
        if id(node) in wanted:
            op = replace(_onnx_op(node), inputs=tuple(node.input), output=node.output[0])
            ops.append(op)
    if not ops:
        raise ConvscopeError(f"layer {layer!r}: no ONNX node computes it from the input")
    return ops
