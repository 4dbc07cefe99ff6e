"""Receptive fields from the layer stack, checked against the input gradient on torch."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import convscope as cs
from convscope.adapters.geometry import Op, gradient_field, layer_geometry
from convscope.analysis.receptive import Field, field_from_ops, receptive_field
from convscope.errors import ConvscopeError, UnknownNameError


def _all_on(model: nn.Module) -> nn.Module:
    """A copy whose every unit is on and whose pools average: the gradient sees the field.

    ReLUs that are off and max-pools hide input cells from the gradient; positive weights
    on an input of ones keep every ReLU on, and an average pool of the same geometry
    reaches every cell of its window.
    """
    twin = copy.deepcopy(model)
    for _name, module in list(twin.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d):
                avg = nn.AvgPool2d(child.kernel_size, child.stride, child.padding)
                assert child.dilation in (1, (1, 1)), "average pools have no dilation"
                setattr(module, child_name, avg)
    with torch.no_grad():
        for p in twin.parameters():
            p.copy_(p.abs() + 0.01)
    return twin.eval()


def _units(field: Field, shape: tuple[int, int]) -> list[tuple[int, int]]:
    h, w = shape
    return sorted({(0, 0), (h - 1, w - 1), (0, w - 1), (h // 2, w // 3), (h - 1, 0)})


def _check_against_gradient(model, layer, image_shape):
    field = receptive_field(model, layer, image_shape=image_shape)
    out_shape = cs.capture(model, np.zeros((1, *image_shape), np.float32), [layer])[layer].shape
    twin = _all_on(model)
    for row, col in _units(field, out_shape[2:]):
        top, bottom, left, right = field.box(row, col)
        if bottom <= top or right <= left:  # a unit that sees only padding has no gradient
            with pytest.raises(ConvscopeError, match="no gradient"):
                gradient_field(twin, layer, image_shape, (row, col))
            continue
        rows, cols = gradient_field(twin, layer, image_shape, (row, col))
        assert field.box(row, col) == (rows.start, rows.stop, cols.start, cols.stop), (
            layer,
            (row, col),
        )


@pytest.mark.parametrize(
    ("arch", "layer"),
    [
        ("mnist_convnet", "conv2d"),
        ("mnist_convnet", "max_pooling2d"),
        ("mnist_convnet", "conv2d_1"),
        ("mnist_convnet", "max_pooling2d_1"),
        ("fashion_gap", "conv2d_3"),
        ("cifar_cnn5", "conv_2"),
    ],
)
def test_zoo_fields_match_the_gradient(arch, layer):
    model = cs.models.build(arch)
    _check_against_gradient(model, layer, model.input_shape)


def test_padding_stride_dilation_and_same_match_the_gradient():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 5, stride=2, padding=2),
        nn.ReLU(),
        nn.Conv2d(3, 3, 3, dilation=2, padding=1),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.ZeroPad2d((1, 0, 2, 0)),
        nn.Conv2d(3, 4, 3, padding="same"),
        nn.Conv2d(4, 4, (3, 1), stride=(1, 2)),
    )
    shape = (2, 31, 29)
    for layer in ("0", "2", "3", "5", "6"):
        _check_against_gradient(model, layer, shape)


def test_the_hand_computed_fields_of_mnist_convnet():
    model = cs.models.build("mnist_convnet")
    field = receptive_field(model, "conv2d_1")
    assert (field.size, field.jump, field.start) == ((8, 8), (2, 2), (0, 0))
    assert field.box(10, 10) == (20, 28, 20, 28)
    dense = receptive_field(model, "dense")
    assert dense.whole and dense.box(0, 0) == (0, 28, 0, 28)


def test_a_field_over_the_border_is_clipped_and_starts_in_the_padding():
    ops = [Op("c", (5, 5), (1, 1), (2, 2), spatial=True)]
    field = field_from_ops(ops, (10, 10))
    assert field.start == (-2, -2) and field.box(0, 0) == (0, 3, 0, 3)


def test_branches_take_the_union_of_their_spans():
    ops = [
        Op("a", (3, 3), spatial=True, inputs=("x",), output="a"),
        Op("b", (5, 5), spatial=True, inputs=("x",), output="b"),
        Op("add", inputs=("a", "b"), output="sum"),
    ]
    assert field_from_ops(ops, (9, 9)).size == (5, 5)


def test_keras_layers_give_the_same_field():
    keras = pytest.importorskip("keras")
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c1"),
            keras.layers.MaxPooling2D(2, name="p1"),
            keras.layers.Conv2D(4, 3, dilation_rate=2, name="c2"),
        ]
    )
    twin = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.MaxPool2d(2),
                         nn.Conv2d(4, 4, 3, dilation=2))  # fmt: skip
    keras_field = receptive_field(model, "c2")
    torch_field = receptive_field(twin, "2", image_shape=(1, 28, 28))
    assert keras_field.size == torch_field.size == (21, 21)  # 3, then 3 + 2, then 5 + 2*2*4
    assert keras_field.jump == torch_field.jump == (4, 4)
    # Keras' "same" puts the odd padding cell at the end (28 -> 14 with stride 2 pads 0
    # before); torch's padding=1 puts one before
    assert keras_field.start == (0, 0) and torch_field.start == (-1, -1)


def test_onnx_nodes_give_the_same_field(tmp_path):
    pytest.importorskip("onnx")
    from convscope.export import export_onnx

    model = cs.models.build("mnist_convnet")
    path = export_onnx(model, tmp_path / "m.onnx", verify=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = [i.name for i in cs.layers(str(path))]
    layer = next(n for n in names if "conv2d_1" in n)
    assert receptive_field(str(path), layer).size == receptive_field(model, "conv2d_1").size


def test_geometry_lists_the_chain_and_refuses_unknown_layers():
    model = cs.models.build("mnist_convnet")
    assert [op.name for op in layer_geometry(model, "conv2d_1")] == [
        "conv2d",
        "max_pooling2d",
        "conv2d_1",
    ]
    with pytest.raises(UnknownNameError, match="conv2d_1"):
        layer_geometry(model, "nope")
    with pytest.raises(ConvscopeError, match="image_shape"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3)), "0")
