"""ONNX layer names from the torch modules the nodes came from, and the kinds of their ops."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import helper
from torch import nn

import convscope as cs
from convscope.adapters._onnx_names import group_nodes
from convscope.adapters.onnx import onnx_kind


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.gate = nn.Hardsigmoid()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.gate(self.conv1(x)) + x)  # the Add is the block's own


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.layer1 = nn.Sequential(Block(), Block())
        self.act = nn.GELU()
        self.swish = nn.Hardswish()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.swish(self.act(self.layer1(self.stem(x))))
        return self.fc(x.mean((2, 3)))


def _export(model: nn.Module, dynamo: bool) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(
                model, (torch.zeros(2, 3, 12, 12),), dynamo=True, verbose=False
            )
            return program.model_proto
        torch.onnx.export(model, (torch.zeros(2, 3, 12, 12),), buffer, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return Net().eval()


@pytest.mark.slow
def test_names_from_the_metadata_torchs_exporter_writes(net, capfd):
    proto = _export(net, dynamo=True)
    capfd.readouterr()  # the exporter's progress lines
    assert any(
        p.key == "pkg.torch.onnx.name_scopes" for n in proto.graph.node for p in n.metadata_props
    )
    infos = {i.name: i for i in cs.layers(proto)}
    # module paths as the torch adapter names them; a block's own Add under the block
    for name in ("stem", "layer1/0/gate", "layer1/0/relu", "layer1/1/gate", "act", "swish", "fc"):
        assert name in infos, (name, sorted(infos))
    assert infos["layer1/0/gate"].kind == "activation"  # HardSigmoid
    assert infos["swish"].kind == "activation" and infos["act"].kind == "activation"
    assert any(n.startswith("layer1/0/add") for n in infos)
    means = [i for i in infos.values() if i.type == "ReduceMean"]
    assert means and means[0].kind == "pool" and means[0].params == 0  # axes are no weights
    x = np.random.default_rng(0).random((2, 3, 12, 12), dtype=np.float32)
    got = cs.capture(proto, x, ["stem", "layer1/1/relu", "fc"])
    want = cs.capture(net, x, ["stem", "layer1/1/relu", "fc"])
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-5)


def test_names_from_the_older_exporters_scoped_node_names(net):
    proto = _export(net, dynamo=False)
    names = [i.name for i in cs.layers(proto)]
    assert names[:5] == ["stem", "layer1/0/conv1", "layer1/0/gate", "layer1/0/Add", "layer1/0/relu"]
    kinds = {i.name: i.kind for i in cs.layers(proto)}
    assert kinds["layer1/0/gate"] == "activation" and kinds["fc"] == "dense"
    mean = next(i for i in cs.layers(proto) if "ReduceMean" in i.type)
    assert mean.kind == "pool"  # axes from a Constant node or an attribute


def test_consecutive_nodes_of_a_module_form_one_layer_and_a_second_call_is_numbered():
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["a"], name="/fc/MatMul"),
        helper.make_node("Add", ["a", "b"], ["y"], name="/fc/Add"),
        helper.make_node("Relu", ["y"], ["z"], name="/act/Relu"),
        helper.make_node("Relu", ["z"], ["q"], name="/act/Relu_1"),
        helper.make_node("Sigmoid", ["q"], ["r"], name="loose"),
    ]
    groups = [(name, [n.op_type for n in members]) for name, members in group_nodes(nodes)]
    assert groups == [("fc", ["MatMul", "Add"]), ("act", ["Relu", "Relu"]), ("loose", ["Sigmoid"])]
    nodes.insert(4, helper.make_node("Relu", ["r"], ["s"], name="/fc/Relu"))
    assert [name for name, _ in group_nodes(nodes)][-2:] == ["fc#1", "loose"]


def test_op_kinds():
    assert [onnx_kind(op) for op in ("HardSigmoid", "HardSwish", "Gelu", "GlobalAveragePool")] == [
        "activation", "activation", "activation", "pool",
    ]  # fmt: skip
