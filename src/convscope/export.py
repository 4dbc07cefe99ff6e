"""Export a torch (zoo) model to ONNX with the zoo's layer names kept as node names.

torch's TorchScript-based exporter (``dynamo=False``) names nodes after the module that
made them (``/conv2d/Conv``, ``/conv2d/Relu``). :func:`export_onnx` renames the *last*
node of each module to the module's name (``conv2d``: the post-ReLU output, as in the zoo)
and the others to ``<module>/<op>`` (``conv2d/Conv``), so
:class:`convscope.adapters.onnx.OnnxAdapter` lists the same layers as the torch model.
Modules that export to no node in eval mode (``Dropout``) get an inference-mode ONNX
``Dropout`` node of their own name, so layer lists and indices match too.

Example:
    >>> import convscope as cs  # doctest: +SKIP
    >>> export_onnx(cs.models.build("mnist_convnet"), "mnist_convnet.onnx")  # doctest: +SKIP
    PosixPath('mnist_convnet.onnx')
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._io import atomic_write
from .adapters import adapter_for
from .adapters.torch import module_kind
from .errors import ConvscopeError, ShapeError
from .models.onnx_io import onnx_module, onnx_props
from .validation import as_numpy, check_int

__all__ = ["export_onnx"]

log = logging.getLogger(__name__)


def export_onnx(
    model: Any,
    path: str | os.PathLike,
    *,
    opset: int = 17,
    input_shape: tuple[int, ...] | None = None,
    class_names: list[str] | None = None,
    dataset: str | None = None,
    verify: bool = True,
) -> Path:
    """Write a torch model as an ONNX file with a dynamic batch axis, atomically.

    Args:
        model: a ``torch.nn.Module``, usually a zoo model (``convscope.models.build``).
        path: the ``.onnx`` file to write.
        opset: the ONNX opset to target.
        input_shape: (C, H, W) of one image; zoo models know their own.
        class_names: stored in the file's metadata (``convscope.class_names``).
        dataset: the data set's name, stored as ``convscope.dataset`` so CLI verbs find it.
        verify: run the exported file with onnxruntime on random images and check that it
            agrees with torch (max abs difference 1e-4).

    Returns:
        the path written.

    Raises:
        ConvscopeError: the model is not a torch module, or the export does not verify.
        BackendMissingError: onnx is not installed.

    Example:
        >>> import tempfile, pathlib, convscope as cs
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.onnx"
        >>> _ = export_onnx(cs.models.build("mnist_convnet"), p)
        >>> [i.name for i in cs.layers(str(p))][:3]
        ['conv2d', 'max_pooling2d', 'conv2d_1']
    """
    onnx = onnx_module()
    if not isinstance(model, torch.nn.Module):
        raise ConvscopeError(
            f"export_onnx exports torch models (a zoo model or run); got "
            f"{type(model).__module__}.{type(model).__name__}"
        )
    with adapter_for(model) as adapter:  # a Keras model on the torch backend is a Module too
        if adapter.torch_module is None:
            raise ConvscopeError(
                f"export_onnx exports torch models; this is a {adapter.backend} model. "
                "Export Keras models with model.export(path, format='onnx') or tf2onnx."
            )
    shape = _input_shape(input_shape or getattr(model, "input_shape", None))
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dummy = torch.zeros((2, *shape), device=device)
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation + tracer notes
            torch.onnx.export(
                model,
                (dummy,),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                do_constant_folding=True,
            )
    except Exception as exc:
        raise ConvscopeError(f"torch could not export the model to ONNX: {exc}") from exc
    finally:
        model.train(was_training)
    proto = onnx.load_from_string(buffer.getvalue())
    _fold_initializer_identities(proto)
    _name_layers(proto, model)
    meta = onnx_props(
        str(getattr(model, "arch", type(model).__name__)),
        shape,
        getattr(model, "num_classes", None),
        class_names,
        dataset,
    )
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if verify:
        _verify(model, data, shape, device)
    return atomic_write(path, lambda f: f.write(data))


def _input_shape(shape: Any) -> tuple[int, ...]:
    """``(C, H, W)`` checked: present, and positive whole numbers."""
    if not shape:
        raise ShapeError("pass input_shape=(C, H, W): the model does not know its input shape")
    try:
        return tuple(check_int(d, "input_shape", minimum=1) for d in shape)
    except ConvscopeError:
        raise ShapeError(
            f"input_shape must be positive whole numbers like (1, 28, 28); got {tuple(shape)}"
        ) from None


def _fold_initializer_identities(proto: Any) -> None:
    """Replace ``Identity(initializer)`` nodes by a copy of the initializer.

    The exporter shares equal weights (a fresh BatchNorm's weight and running variance are
    both ones) through such nodes; folding them keeps one node per layer operation.
    """
    graph = proto.graph
    initializers = {init.name: init for init in graph.initializer}
    keep = []
    for node in graph.node:
        if node.op_type == "Identity" and len(node.input) == 1 and node.input[0] in initializers:
            copy = graph.initializer.add()
            copy.CopyFrom(initializers[node.input[0]])
            copy.name = node.output[0]
            initializers[copy.name] = copy
        else:
            keep.append(node)
    if len(keep) != len(graph.node):
        del graph.node[:]
        graph.node.extend(keep)


def _name_layers(proto: Any, model: Any) -> None:
    """Rename nodes after their torch module and add nodes for modules that exported none."""
    helper = onnx_module().helper
    modules = {name: m for name, m in model.named_modules() if name}
    scopes: dict[str, list[Any]] = {}
    for node in proto.graph.node:
        parts = node.name.split("/")
        if len(parts) >= 3 and parts[0] == "" and parts[-2] in modules:
            scopes.setdefault(parts[-2], []).append(node)
    for scope, nodes in scopes.items():
        layer = scope.replace(".", "/")
        for node in nodes[:-1]:
            node.name = f"{layer}/{node.name.split('/')[-1]}"
        nodes[-1].name = layer
    if not isinstance(model, torch.nn.Sequential):
        return
    # a Sequential's modules run in order: give modules without nodes (Dropout) a node
    graph = proto.graph
    previous = graph.input[0].name
    for name, module in model.named_children():
        if name in scopes:
            previous = scopes[name][-1].output[0]
            continue
        if previous in {o.name for o in graph.output}:
            continue
        out = f"/{name}/output_0"
        op = "Dropout" if module_kind(module) == "dropout" else "Identity"
        new = helper.make_node(op, [previous], [out], name=name)
        nodes = list(graph.node)
        position = next((i + 1 for i, n in enumerate(nodes) if previous in n.output), 0)
        for node in nodes[position:]:
            for i, value in enumerate(node.input):
                if value == previous:
                    node.input[i] = out
        graph.node.insert(position, new)
        previous = out


def _verify(model: Any, data: bytes, shape: tuple[int, ...], device: Any) -> None:
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - depends on the installation
        log.debug("onnxruntime is not installed: the exported model is not verified")
        return
    x = np.random.default_rng(0).random((3, *shape), dtype=np.float32)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            want = as_numpy(model(torch.from_numpy(x).to(device)))
    finally:
        model.train(was_training)
    diff = float(np.abs(got - want).max())
    if diff > 1e-4:
        raise ConvscopeError(
            f"the exported ONNX model disagrees with torch (max abs difference {diff:.3g}); "
            "the model uses an operation the exporter does not translate faithfully"
        )
