"""The five seed architectures as ``torch.nn.Module``s, with the seeds' Keras layer names.

Conv and dense layers carry their activation (as Keras layers do), so the output captured
at ``conv2d`` is the post-ReLU map the seeds plot. The final dense layer returns logits;
apply softmax for probabilities (``convscope.train`` trains with cross-entropy on logits).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ConvscopeError, ShapeError, UnknownNameError
from ..validation import check_int


class Conv2D(nn.Conv2d):
    """A 'valid' convolution followed by an optional activation, like ``keras.layers.Conv2D``."""

    def __init__(
        self, in_channels: int, filters: int, kernel_size: int, activation: str | None = "relu"
    ):
        super().__init__(in_channels, filters, kernel_size)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return torch.relu(out) if self.activation == "relu" else out

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation}"


class Dense(nn.Linear):
    """A fully connected layer followed by an optional activation, like ``keras.layers.Dense``."""

    def __init__(self, in_features: int, units: int, activation: str | None = "relu"):
        super().__init__(in_features, units)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return torch.relu(out) if self.activation == "relu" else out

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation}"


class GlobalAveragePooling2D(nn.Module):
    """Mean over the spatial axes: (N, C, H, W) -> (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(2)


def _bn(channels: int) -> nn.BatchNorm2d:
    # Keras defaults: momentum 0.99 (torch counts the other way), epsilon 1e-3.
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class ZooModel(nn.Sequential):
    """A sequential zoo model that knows its name, input shape, class count and widths.

    ``widths`` maps every resizable layer (each conv and hidden dense layer) to its
    channels or units: the seed's by default, fewer after :func:`convscope.prune.prune`.
    """

    def __init__(
        self,
        arch: str,
        input_shape: tuple[int, int, int],
        num_classes: int,
        layers,
        widths: Mapping[str, int] | None = None,
    ):
        super().__init__(OrderedDict(layers))
        self.arch = arch
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.widths = dict(widths or {})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ShapeError(
                f"{self.arch} takes images of shape (N, {', '.join(map(str, self.input_shape))}) "
                f"in NCHW; got {tuple(x.shape)}. Resize the images or pick a model whose input fits."
            )
        return super().forward(x)


# Each builder takes the input (C, H, W), the class count K and ``n``: the width of every
# resizable layer by name (the seed's unless a pruned model asks for fewer).
Widths = Mapping[str, int]


def _mnist_convnet(c: int, h: int, w: int, k: int, n: Widths) -> list:
    # seed 000: CNN sub-model (conv2d, max_pooling2d, conv2d_1) inside the parent model
    s = ((h - 2) // 2 - 2) // 2
    t = ((w - 2) // 2 - 2) // 2
    return [
        ("conv2d", Conv2D(c, n["conv2d"], 3)),
        ("max_pooling2d", _pool()),
        ("conv2d_1", Conv2D(n["conv2d"], n["conv2d_1"], 3)),
        ("max_pooling2d_1", _pool()),
        ("flatten", nn.Flatten()),
        ("dropout", nn.Dropout(0.5)),
        ("dense", Dense(n["conv2d_1"] * s * t, k, None)),
    ]


def _fashion_gap(c: int, h: int, w: int, k: int, n: Widths) -> list:
    # seed 001
    return [
        ("conv2d", Conv2D(c, n["conv2d"], 3)),
        ("conv2d_1", Conv2D(n["conv2d"], n["conv2d_1"], 3)),
        ("max_pooling2d", _pool()),
        ("conv2d_2", Conv2D(n["conv2d_1"], n["conv2d_2"], 3)),
        ("conv2d_3", Conv2D(n["conv2d_2"], n["conv2d_3"], 3)),
        ("global_average_pooling2d", GlobalAveragePooling2D()),
        ("dense", Dense(n["conv2d_3"], n["dense"])),
        ("dense_1", Dense(n["dense"], k, None)),
    ]


def _mnist_bn(c: int, h: int, w: int, k: int, n: Widths) -> list:
    # seed 002
    s = (((h - 2) // 2) - 1) // 2
    t = (((w - 2) // 2) - 1) // 2
    return [
        ("conv2d", Conv2D(c, n["conv2d"], 3)),
        ("max_pooling2d", _pool()),
        ("batch_normalization", _bn(n["conv2d"])),
        ("conv2d_1", Conv2D(n["conv2d"], n["conv2d_1"], 2)),
        ("max_pooling2d_1", _pool()),
        ("batch_normalization_1", _bn(n["conv2d_1"])),
        ("flatten", nn.Flatten()),
        ("dropout", nn.Dropout(0.5)),
        ("dense", Dense(n["conv2d_1"] * s * t, n["dense"])),
        ("dense_1", Dense(n["dense"], k, None)),
    ]


def _cifar_cnn5(c: int, h: int, w: int, k: int, n: Widths) -> list:
    # seed 003
    s = ((h - 2) // 2 - 2) // 2 - 2
    t = ((w - 2) // 2 - 2) // 2 - 2
    return [
        ("conv_0", Conv2D(c, n["conv_0"], 3)),
        ("max_pooling2d", _pool()),
        ("conv_1", Conv2D(n["conv_0"], n["conv_1"], 3)),
        ("max_pooling2d_1", _pool()),
        ("conv_2", Conv2D(n["conv_1"], n["conv_2"], 3)),
        ("flatten", nn.Flatten()),
        ("dropout", nn.Dropout(0.5)),
        ("dense_0", Dense(n["conv_2"] * s * t, n["dense_0"])),
        ("dense_1", Dense(n["dense_0"], k, None)),
    ]


def _shapes150(c: int, h: int, w: int, k: int, n: Widths) -> list:
    # seed 004
    s = (((h - 2) // 2 - 2) // 2 - 2) // 2
    t = (((w - 2) // 2 - 2) // 2 - 2) // 2
    return [
        ("conv2d", Conv2D(c, n["conv2d"], 3)),
        ("max_pooling2d", _pool()),
        ("conv2d_1", Conv2D(n["conv2d"], n["conv2d_1"], 3)),
        ("max_pooling2d_1", _pool()),
        ("conv2d_2", Conv2D(n["conv2d_1"], n["conv2d_2"], 3)),
        ("max_pooling2d_2", _pool()),
        ("flatten", nn.Flatten()),
        ("dense", Dense(n["conv2d_2"] * s * t, n["dense"])),
        ("dense_1", Dense(n["dense"], n["dense_1"])),
        ("dense_2", Dense(n["dense_1"], k, None)),
    ]


@dataclass(frozen=True)
class ZooEntry:
    """One architecture of the zoo: its seed, default input and classes, and builder.

    ``widths`` lists every resizable layer (conv and hidden dense) with its seed width,
    in model order; :func:`build` takes fewer for a pruned model.
    """

    name: str
    seed: str
    input_shape: tuple[int, int, int]
    num_classes: int
    description: str
    builder: Callable[[int, int, int, int, Widths], list]
    widths: Mapping[str, int]


ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in [
        ZooEntry(
            "mnist_convnet",
            "000",
            (1, 28, 28),
            10,
            "Keras 'Simple MNIST convnet' (seed 000)",
            _mnist_convnet,
            {"conv2d": 32, "conv2d_1": 64},
        ),
        ZooEntry(
            "fashion_gap",
            "001",
            (1, 28, 28),
            10,
            "4 convs + global average pooling (seed 001)",
            _fashion_gap,
            {"conv2d": 32, "conv2d_1": 32, "conv2d_2": 64, "conv2d_3": 64, "dense": 32},
        ),
        ZooEntry(
            "mnist_bn",
            "002",
            (1, 28, 28),
            10,
            "2 convs with batch norm, dense 256 (seed 002)",
            _mnist_bn,
            {"conv2d": 32, "conv2d_1": 64, "dense": 256},
        ),
        ZooEntry(
            "cifar_cnn5",
            "003",
            (3, 32, 32),
            10,
            "CIFAR-10 CNN5 (seed 003)",
            _cifar_cnn5,
            {"conv_0": 32, "conv_1": 64, "conv_2": 64, "dense_0": 64},
        ),
        ZooEntry(
            "shapes150",
            "004",
            (3, 150, 150),
            3,
            "3-class 150x150 RGB classifier (seed 004)",
            _shapes150,
            {"conv2d": 8, "conv2d_1": 16, "conv2d_2": 32, "dense": 1024, "dense_1": 512},
        ),
    ]
}


def list_models() -> dict[str, ZooEntry]:
    """Return the zoo's entries by name.

    Example:
        >>> sorted(list_models())[:2]
        ['cifar_cnn5', 'fashion_gap']
    """
    return dict(ZOO)


def _image_shape(shape: Any) -> tuple[int, int, int]:
    """``(C, H, W)`` as three positive ints, or a ShapeError naming what was given."""
    try:
        dims = tuple(check_int(v, "input_shape", minimum=1) for v in shape)
    except (TypeError, ConvscopeError):
        dims = ()
    if len(dims) != 3:
        raise ShapeError(
            f"input_shape must be (C, H, W), three positive whole numbers; got {shape}"
        )
    return dims  # type: ignore[return-value]


def resolve_widths(name: str, widths: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Every resizable layer's width: the seed's, except those ``widths`` changes.

    Raises:
        UnknownNameError: ``name`` is not in the zoo, or ``widths`` names a layer that is
            not resizable (the message lists those that are).
        ShapeError: a width that is not a whole number >= 1.

    Example:
        >>> resolve_widths("mnist_convnet", {"conv2d_1": 40})
        {'conv2d': 32, 'conv2d_1': 40}
    """
    if name not in ZOO:
        raise UnknownNameError("model", [name], sorted(ZOO))
    defaults = dict(ZOO[name].widths)
    if widths is None:
        return defaults
    if not isinstance(widths, Mapping):
        raise ShapeError(f"widths must map layer names to widths, e.g. {defaults}; got {widths!r}")
    unknown = [str(k) for k in widths if k not in defaults]
    if unknown:
        raise UnknownNameError(f"resizable layer of {name}", unknown, list(defaults))
    for layer, value in widths.items():
        try:
            defaults[layer] = check_int(value, f"width of {layer}", minimum=1)
        except ConvscopeError:
            raise ShapeError(
                f"the width of {layer} must be a whole number >= 1, got {value!r}"
            ) from None
    return defaults


def build(
    name: str,
    num_classes: int | None = None,
    input_shape: tuple[int, int, int] | None = None,
    widths: Mapping[str, int] | None = None,
) -> ZooModel:
    """Build a zoo architecture with fresh weights.

    Args:
        name: one of :func:`list_models` (``mnist_convnet``, ``fashion_gap``, ...).
        num_classes: classes of the last dense layer (default: the seed's).
        input_shape: (C, H, W) input (default: the seed's); channels and size may change.
        widths: channels (units) of resizable layers, by name, where they differ from the
            seed's (a pruned model; see ``ZOO[name].widths`` for the layers).

    Raises:
        UnknownNameError: ``name`` is not in the zoo (the message lists the zoo), or
            ``widths`` names a layer that is not resizable.
        ShapeError: the input is too small for the architecture, or a width is not >= 1.

    Example:
        >>> model = build("mnist_convnet")
        >>> sum(p.numel() for p in model.parameters())
        34826
        >>> build("mnist_convnet", widths={"conv2d_1": 32}).widths
        {'conv2d': 32, 'conv2d_1': 32}
    """
    if name not in ZOO:
        raise UnknownNameError("model", [name], sorted(ZOO))
    entry = ZOO[name]
    try:
        k = check_int(entry.num_classes if num_classes is None else num_classes, "num_classes")
    except ConvscopeError:
        raise ShapeError(f"num_classes must be a whole number >= 1, got {num_classes!r}") from None
    if k < 1:
        raise ShapeError(f"num_classes must be >= 1, got {num_classes}")
    shape = _image_shape(input_shape or entry.input_shape)
    sizes = resolve_widths(name, widths)
    model = ZooModel(name, shape, k, entry.builder(*shape, k, sizes), widths=sizes)
    model.eval()  # probe in eval mode: batch norm cannot train on one image
    with torch.no_grad():  # fails here, not at the first batch, if the input is too small
        try:
            super(ZooModel, model).forward(torch.zeros(1, *shape))
        except RuntimeError as exc:
            raise ShapeError(
                f"{name} cannot take input of shape {shape}: {exc}. "
                f"Its seed input is {entry.input_shape}."
            ) from None
    return model.train()
