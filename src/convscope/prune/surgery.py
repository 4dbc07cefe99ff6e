"""Remove channels for real: :func:`prune` returns a narrower zoo model, not a masked one.

The pruned layer loses the filters (rows) of the removed channels; the batch-norm layers
after it lose their entries; the next conv or dense layer loses the inputs (columns)
those channels fed, and through a ``flatten`` every spatial position of them. The result
is the zoo architecture built with the smaller width (``model.widths``), so it saves with
:func:`convscope.models.save_model` and loads with :func:`convscope.models.load` like any
zoo model. Its outputs equal those of the original with the removed channels' inputs to
the next layer set to zero (what "zeroing" a channel means after batch norm too).

Example:
    >>> import convscope as cs
    >>> model = cs.models.build("mnist_convnet")
    >>> small = prune(model, "conv2d_1", [0, 5, 9])
    >>> small.widths["conv2d_1"], parameter_count(small) < parameter_count(model)
    (61, True)
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConvscopeError, UnknownNameError
from ..models import ZooModel, build

__all__ = ["check_prunable", "consumer_of", "parameter_count", "prune"]

_PASS_THROUGH = (nn.MaxPool2d, nn.Dropout, nn.Flatten, nn.ReLU, nn.BatchNorm2d, nn.BatchNorm1d)


def parameter_count(model: nn.Module) -> int:
    """Trainable and frozen parameters of a torch module (what the zoo summary totals).

    Example:
        >>> import convscope as cs
        >>> parameter_count(cs.models.build("mnist_convnet"))
        34826
    """
    return int(sum(p.numel() for p in model.parameters()))


def consumer_of(model: ZooModel, layer: str) -> tuple[str, list[str]]:
    """The layer that reads ``layer``'s channels, and the batch-norm layers in between.

    Raises:
        ConvscopeError: ``layer`` is the output layer, or something other than pooling,
            dropout, flatten or batch norm stands between it and the next conv/dense layer.

    Example:
        >>> import convscope as cs
        >>> consumer_of(cs.models.build("mnist_bn"), "conv2d_1")
        ('dense', ['batch_normalization_1'])
    """
    children = list(model.named_children())
    names = [n for n, _ in children]
    norms: list[str] = []
    for name, module in children[names.index(layer) + 1 :]:
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            return name, norms
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            norms.append(name)
        elif not isinstance(module, _PASS_THROUGH) and type(module).__name__ != (
            "GlobalAveragePooling2D"
        ):
            raise ConvscopeError(
                f"cannot prune {layer}: {name} ({type(module).__name__}) stands between it "
                "and the next conv or dense layer"
            )
    raise ConvscopeError(f"cannot prune {layer}: nothing reads its channels (the output layer)")


def check_prunable(model: Any, layer: str) -> None:
    """Fail unless ``layer`` of ``model`` can be pruned: a resizable layer of a zoo model.

    Raises:
        ConvscopeError: not a zoo model.
        UnknownNameError: ``layer`` is not resizable (the message lists those that are).

    Example:
        >>> import convscope as cs
        >>> check_prunable(cs.models.build("mnist_convnet"), "dense")
        Traceback (most recent call last):
        ...
        convscope.errors.UnknownNameError: unknown prunable layer of mnist_convnet 'dense'; available: conv2d, conv2d_1
    """
    if not isinstance(model, ZooModel):
        raise ConvscopeError(
            f"prune rebuilds zoo models (convscope.models.build / load); got "
            f"{type(model).__name__}. Train or load a zoo model to prune it."
        )
    if layer not in model.widths:
        raise UnknownNameError(f"prunable layer of {model.arch}", [str(layer)], list(model.widths))


def _checked_channels(channels: Iterable[Any], layer: str, width: int) -> list[int]:
    """The channels to remove as sorted ints; every bad one named."""
    given = list(channels)
    if not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in given):
        raise ConvscopeError(f"channels must be whole numbers, got {given!r}")
    items = [int(c) for c in given]
    bad = sorted({c for c in items if not 0 <= c < width})
    if bad:
        raise ConvscopeError(f"{layer} has channels 0..{width - 1}; no channel {bad}")
    repeated = sorted({c for c in items if items.count(c) > 1})
    if repeated:
        raise ConvscopeError(f"channels {repeated} are named more than once; name each once")
    if len(items) >= width:
        raise ConvscopeError(
            f"removing {len(items)} of the {width} channels of {layer} leaves none; keep one"
        )
    return sorted(items)


def prune(model: ZooModel, layer: str, channels: Iterable[int]) -> ZooModel:
    """Remove ``channels`` of a conv or hidden dense layer: a genuinely narrower model.

    Args:
        model: a zoo model (:func:`convscope.models.build` or :func:`convscope.models.load`).
        layer: a resizable layer (``model.widths`` lists them: conv and hidden dense).
        channels: channel (unit) indices to remove, e.g. ``ranking.select(fraction=0.3)``
            of :func:`convscope.prune.rank_channels`.

    Returns:
        A new :class:`~convscope.models.ZooModel` with ``widths[layer]`` reduced, the kept
        weights copied, on the same device and in the same train/eval mode; the input
        model is unchanged.

    Raises:
        ConvscopeError: not a zoo model; channels out of range, repeated, or all of them.
        UnknownNameError: ``layer`` is not resizable (the message lists those that are).

    Example:
        >>> import torch, convscope as cs
        >>> model = cs.models.build("fashion_gap").eval()
        >>> small = prune(model, "dense", range(8))
        >>> small(torch.zeros(2, 1, 28, 28)).shape, small.widths["dense"]
        (torch.Size([2, 10]), 24)
    """
    check_prunable(model, layer)
    removed = _checked_channels(channels, layer, model.widths[layer])
    keep = torch.tensor(np.setdiff1d(np.arange(model.widths[layer]), removed), dtype=torch.long)
    consumer, norms = consumer_of(model, layer)
    widths = {**model.widths, layer: int(len(keep))}
    param = next(model.parameters())
    small = build(model.arch, model.num_classes, model.input_shape, widths=widths)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for key in (f"{layer}.weight", f"{layer}.bias"):
        state[key] = state[key][keep.to(state[key].device)]
    for norm in norms:
        for stat in ("weight", "bias", "running_mean", "running_var"):
            key = f"{norm}.{stat}"
            if key in state:
                state[key] = state[key][keep.to(state[key].device)]
    weight = state[f"{consumer}.weight"]
    index = keep.to(weight.device)
    if weight.ndim == 2:  # dense: its inputs are C channels x (H*W) positions after flatten
        rows = weight.shape[0]
        weight = weight.reshape(rows, model.widths[layer], -1)[:, index].reshape(rows, -1)
    else:
        weight = weight[:, index]
    state[f"{consumer}.weight"] = weight
    small.load_state_dict(state, strict=True)
    return small.to(device=param.device, dtype=param.dtype).train(model.training)
