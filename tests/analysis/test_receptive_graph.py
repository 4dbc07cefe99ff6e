"""A residual block whose shortcut and main path both downsample: read as a chain it
strides twice; the traced graph reads the branches as branches (checked by gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from convscope.adapters.geometry import gradient_field, torch_graph_ops
from convscope.analysis.receptive import field_from_ops, receptive_field


class Down(nn.Module):
    """conv 3x3 stride 2 + conv 3x3 on the main path, conv 1x1 stride 2 as the shortcut."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, padding=1)
        self.a = nn.Conv2d(2, 2, 3, stride=2, padding=1)
        self.b = nn.Conv2d(2, 2, 3, padding=1)
        self.short = nn.Conv2d(2, 2, 1, stride=2)
        self.out = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.out(self.b(self.a(x)) + self.short(x))


def test_the_graph_field_matches_gradients_where_the_chain_strides_twice():
    model = Down().eval()
    chain = receptive_field(model, "out", image_shape=(1, 16, 16))
    assert chain.jump == (4, 4)  # a stride for each branch: wrong
    field = field_from_ops(torch_graph_ops(model, "out"), (16, 16), layer="out")
    assert field.jump == (2, 2) and len(field.seen[0][0]) == 8  # one unit per cell of the 8x8 map
    for unit in [(0, 0), (3, 5), (7, 7), (4, 1)]:
        rows, cols = gradient_field(model, "out", (1, 16, 16), unit)
        top, bottom, left, right = field.box(*unit)
        assert (top, bottom, left, right) == (rows.start, rows.stop, cols.start, cols.stop), unit


def test_untraceable_models_and_functional_pools_give_no_graph():
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
                return self.conv(x)
            return self.conv(-x)

    class FunctionalPool(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(torch.nn.functional.max_pool2d(x, 2))

    assert torch_graph_ops(Branchy(), "conv") is None
    assert torch_graph_ops(FunctionalPool(), "conv") is None


def test_the_atlas_of_a_downsampling_residual_block_crops_by_the_graph(recwarn):
    torch.manual_seed(0)
    model = Down().eval()
    model.input_shape = (1, 16, 16)
    x = np.random.default_rng(0).random((6, 1, 16, 16), dtype=np.float32)
    from convscope.analysis.atlas import channel_atlas

    atlas = channel_atlas(model, x, "out", k=2)
    assert not atlas.field.whole and atlas.field.jump == (2, 2)
    assert not [w for w in recwarn if "could not be read" in str(w.message)]
    assert atlas.patches.shape[-2:] == atlas.field.size


@pytest.mark.parametrize("layer", ["stem", "a", "short"])
def test_the_graph_agrees_with_the_chain_on_a_chain(layer):
    model = Down().eval()
    chain = receptive_field(model, layer, image_shape=(1, 16, 16))
    graph = field_from_ops(torch_graph_ops(model, layer), (16, 16), layer=layer)
    if layer != "short":  # the chain reads a and b before the shortcut: only it is off there
        assert (graph.size, graph.jump, graph.start) == (chain.size, chain.jump, chain.start)
    assert graph.jump == ((1, 1) if layer == "stem" else (2, 2))


def test_a_keras_residual_block_is_read_from_its_graph():
    import keras

    from convscope.adapters.geometry import keras_graph_ops

    i = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", name="stem")(i)
    a = keras.layers.Conv2D(2, 3, strides=2, padding="same", name="a")(x)
    b = keras.layers.Conv2D(2, 3, padding="same", name="b")(a)
    s = keras.layers.Conv2D(2, 1, strides=2, name="short")(x)
    y = keras.layers.Add(name="add")([b, s])
    out = keras.layers.Conv2D(2, 3, padding="same", name="out")(y)
    model = keras.Model(i, out)
    chain = receptive_field(model, "out", image_shape=(1, 16, 16))
    assert chain.jump == (4, 4)  # both branches' strides in a row: wrong
    field = field_from_ops(keras_graph_ops(model, "out"), (16, 16), layer="out")
    # main path: stem 3, a (stride 2) 5, b 9, out 13 cells wide, the shortcut 7: the union
    assert field.jump == (2, 2) and len(field.seen[0][0]) == 8 and field.size == (13, 13)
    torch_field = field_from_ops(torch_graph_ops(Down().eval(), "out"), (16, 16), layer="out")
    assert field.size == torch_field.size and field.jump == torch_field.jump
