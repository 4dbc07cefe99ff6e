"""Layer names of an ONNX graph from the torch modules its nodes were exported from.

torch's exporter writes each node's module path in its metadata
(``pkg.torch.onnx.name_scopes``); the older exporter put it in the node's name
(``/layer1/layer1.0/conv1/Conv``). Either way, a node gets the name the torch adapter
gives the same module (``layer1/0/conv1``), so an exported model lists the layers of the
module it came from. Graphs without scopes keep their node names.

Example:
    >>> from onnx import helper
    >>> node = helper.make_node("Relu", ["x"], ["y"], name="/layer1/layer1.0/relu/Relu")
    >>> [(name, len(nodes)) for name, nodes in group_nodes([node])]
    [('layer1/0/relu', 1)]
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = ["FLOAT_TYPES", "constants", "group_nodes"]

FLOAT_TYPES = frozenset(
    (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
     onnx.TensorProto.BFLOAT16)
)  # fmt: skip
"""Initializer types that are weights (integer ones are axes, shapes, indices)."""


def constants(graph: Any) -> dict[str, Any]:
    """The tensors of ``Constant`` nodes by output name (ReduceMean axes, for one)."""
    found = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value":
                    found[node.output[0]] = attr.t
                elif attr.name == "value_ints":
                    found[node.output[0]] = numpy_helper.from_array(np.asarray(attr.ints))
    return found


def _scopes(node: Any) -> tuple[list[str], str] | None:
    """The torch module paths a node was exported from, outermost first, and its op name.

    Read from the ``pkg.torch.onnx.name_scopes`` metadata torch's exporter writes, else
    from a scoped node name (``/layer1/layer1.0/conv1/Conv``) of the older exporter.
    """
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return None
            if isinstance(scopes, list) and len(scopes) >= 2:
                return [str(p) for p in scopes[1:-1] if p], str(scopes[-1])
            return None
    parts = node.name.split("/")
    if len(parts) >= 3 and parts[0] == "" and all(parts[1:]):
        paths = []  # "/layer1/layer1.0/conv1/Conv": layer1, layer1.0, layer1.0.conv1
        for part in parts[1:-1]:
            last = paths[-1] if paths else ""
            paths.append(part if not last or part.startswith(last + ".") else f"{last}.{part}")
        return paths, parts[-1]
    return None


def group_nodes(nodes: list[Any]) -> list[tuple[str, list[Any]]]:
    """Nodes grouped into layers, each named after the torch module that made it.

    A node inside a leaf module is named by the module's path (``layer1/0/conv1``); one
    computed in a block's own ``forward`` (a residual ``Add``) by the block's path and its
    op (``layer1/0/add``). Consecutive nodes of one module form one layer whose output is
    the last one's; a module met again later is its next call (``relu#1``). Nodes without
    scopes keep their names, and ``"<layer>/<op>"`` nodes join the node named
    ``"<layer>"`` (how :func:`convscope.export.export_onnx` names a layer's parts).
    """
    scoped = [_scopes(node) for node in nodes]
    blocks = {path for found in scoped if found for path in found[0][:-1]}
    raw = [node.name or node.output[0] for node in nodes]
    names = []
    for found, plain in zip(scoped, raw, strict=True):
        if found is None or not found[0]:
            names.append(plain)
            continue
        inner = found[0][-1]
        name = inner.replace(".", "/")
        names.append(f"{name}/{found[1]}" if inner in blocks else name)
    known = set(names)
    owners = [
        n.rsplit("/", 1)[0]
        if found is None and "/" in n and n.rsplit("/", 1)[0] in known and n.rsplit("/", 1)[0] != n
        else n
        for n, found in zip(names, scoped, strict=True)
    ]
    groups: list[tuple[str, list[Any]]] = []
    calls: dict[str, int] = {}
    for node, owner in zip(nodes, owners, strict=True):
        if groups and groups[-1][0].split("#")[0] == owner:
            groups[-1][1].append(node)
            continue
        call = calls.get(owner, 0)
        calls[owner] = call + 1
        groups.append((owner if call == 0 else f"{owner}#{call}", [node]))
    return groups
