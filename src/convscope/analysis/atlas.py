"""The channel atlas: for each channel, the image patches that activate it most.

One streaming :func:`convscope.analysis.scan` with a
:class:`~convscope.metrics.topk.TopKAccumulator` finds, per channel, the ``k`` highest
activations over the data set (image, cell, value). :func:`atlas` then crops each
exemplar's image to the receptive field of that cell
(:func:`convscope.analysis.receptive.receptive_field`) and lays the channel's activation
map of that image over it (each image cell takes the value of the unit whose field is
centred nearest to it), so a patch shows what the channel saw and where inside it the
channel answered. Arrays in, arrays out: :mod:`convscope.render.atlas` draws it.

Example:
    >>> import numpy as np, convscope as cs
    >>> x = np.random.default_rng(0).random((12, 1, 28, 28), dtype=np.float32)
    >>> result = channel_atlas(cs.models.build("mnist_convnet"), x, "conv2d_1", k=3)
    >>> result.patches.shape, result.overlays.shape
    ((64, 3, 1, 8, 8), (64, 3, 8, 8))
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..adapters.geometry import graph_ops
from ..capturing import capture
from ..errors import ConvscopeError
from ..metrics.topk import TopKAccumulator, TopKResult
from ..validation import as_numpy, check_int
from .receptive import Field, field_from_ops, receptive_field
from .scan import resolve_one, scan

__all__ = ["ChannelAtlas", "atlas", "channel_atlas"]


@dataclass(frozen=True)
class ChannelAtlas:
    """Per chosen channel, its top exemplars as image patches with the activation on top.

    Attributes:
        layer: the layer.
        field: its receptive field (the patch size is ``field.size``).
        top: the :class:`~convscope.metrics.topk.TopKResult` of every channel.
        channels: (n,) the channels shown, in order.
        patches: (n, m, C, h, w) float32 image cells of each exemplar's field; NaN where
            the field lies outside the image (padding).
        overlays: (n, m, h, w) float32 activation of the channel over the patch (NaN
            outside the image).
    """

    layer: str
    field: Field
    top: TopKResult
    channels: np.ndarray
    patches: np.ndarray
    overlays: np.ndarray

    def to_json(self) -> dict[str, Any]:
        """The exemplars (image, cell, value, patch box) per channel, JSON-ready.

        Example:
            >>> result.to_json()["channels"][0]["exemplars"][0]["box"]  # doctest: +SKIP
            [0, 8, 4, 12]
        """
        channels = []
        for slot, c in enumerate(self.channels.tolist()):
            exemplars = []
            for j in range(self.top.values.shape[1]):
                row, col = int(self.top.rows[c, j]), int(self.top.cols[c, j])
                value = float(self.top.values[c, j])
                exemplars.append(
                    {
                        "image": int(self.top.images[c, j]),
                        "row": row,
                        "col": col,
                        "value": value if np.isfinite(value) else None,
                        "box": list(self.field.box(row, col)),
                    }
                )
            channels.append({"channel": c, "slot": slot, "exemplars": exemplars})
        return {
            "layer": self.layer,
            "k": self.top.k,
            "num_images": self.top.num_images,
            "field": self.field.to_json(),
            "channels": channels,
        }


def _unit_index(field: Field, cells: int, axis: int) -> np.ndarray:
    """For each image cell along ``axis``, the unit whose field is centred nearest to it."""
    if field.whole:  # each image cell under the unit at the same relative position
        size = field.image_shape[axis]
        return np.arange(size, dtype=np.int64) * cells // size
    pixels = np.arange(field.image_shape[axis], dtype=np.float64)
    centre = field.start[axis] + (field.size[axis] - 1) / 2
    units = np.floor((pixels - centre) / field.jump[axis] + 0.5).astype(np.int64)
    return np.clip(units, 0, cells - 1)


def _checked_field(model: Any, top: TopKResult, image_hw: tuple[int, ...]) -> Field:
    """The layer's field from its layer stack, if it has one unit per map cell.

    A branching model (a residual block's shortcut beside its main path) read as a
    chain can stride twice; the model is then read from its graph (torch: traced with
    torch.fx; Keras: the functional model's nodes), the union of the branches. When
    neither gives one unit per map cell, the whole image is shown under the full map
    with a warning rather than a wrong crop.
    """
    hw = (int(image_hw[0]), int(image_hw[1]))
    cells = tuple(top.map_shape)
    field = receptive_field(model, top.layer, image_shape=(1, *hw))
    if field.whole or field.units == cells:
        return field
    graph = graph_ops(model, top.layer)  # a torch or Keras model's branches, read as branches
    if graph:
        traced = field_from_ops(graph, hw, layer=top.layer)
        if traced.units == cells:
            return traced
    warnings.warn(
        f"the receptive field of {top.layer} could not be read from the layer stack "
        f"(it gives {field.units} units for a {cells} map: a branching model); "
        "the atlas shows whole images",
        stacklevel=3,
    )
    return Field(top.layer, hw, (0, 0), (0, 0), hw, whole=True)


def _crop(image: np.ndarray, field: Field, row: int, col: int) -> tuple[np.ndarray, tuple]:
    """The field of unit (row, col) as a (C, h, w) patch, NaN outside the image."""
    height, width = field.size
    patch = np.full((image.shape[0], height, width), np.nan, np.float32)
    top, bottom, left, right = field.box(row, col)
    off_r = 0 if field.whole else top - (field.jump[0] * row + field.start[0])
    off_c = 0 if field.whole else left - (field.jump[1] * col + field.start[1])
    patch[:, off_r : off_r + bottom - top, off_c : off_c + right - left] = image[
        :, top:bottom, left:right
    ]
    return patch, (off_r, off_c, top, bottom, left, right)


def atlas(
    model: Any,
    images: Any,
    top: TopKResult,
    *,
    channels: Sequence[int] | None = None,
    field: Field | None = None,
    batch_size: int = 64,
) -> ChannelAtlas:
    """Crop every exemplar of ``top`` to its receptive field and overlay the activation.

    Args:
        model: the model ``top`` was computed on.
        images: the data set the image indices of ``top`` point into, (N, C, H, W).
        top: one layer's top-k result.
        channels: the channels to show (default all).
        field: the layer's receptive field (default computed from the model).
        batch_size: images per forward pass when the exemplars' maps are recomputed.

    Raises:
        ConvscopeError: a channel out of range, or image indices past the data.

    Example:
        >>> import numpy as np, convscope as cs
        >>> from convscope.metrics.topk import TopKAccumulator
        >>> model = cs.models.build("mnist_convnet")
        >>> x = np.random.default_rng(2).random((5, 1, 28, 28), dtype=np.float32)
        >>> (tops,) = scan(model, x, TopKAccumulator(2, layers=["conv2d"]))
        >>> atlas(model, x, tops["conv2d"], channels=[0, 1]).patches.shape
        (2, 2, 1, 3, 3)
    """
    x = as_numpy(images)
    chosen = np.arange(top.num_channels) if channels is None else np.asarray(channels, np.int64)
    bad = [int(c) for c in chosen if not 0 <= c < top.num_channels]
    if bad:
        raise ConvscopeError(
            f"channels {bad} out of range: {top.layer} has {top.num_channels} (0..{top.num_channels - 1})"
        )
    if top.images.size and int(top.images.max()) >= len(x):
        raise ConvscopeError(
            f"the top-k result points at image {int(top.images.max())} but {len(x)} images were "
            "given; pass the data set it was computed on"
        )
    field = field or _checked_field(model, top, x.shape[2:])
    m = top.values.shape[1]
    patches = np.full((len(chosen), m, x.shape[1], *field.size), np.nan, np.float32)
    overlays = np.full((len(chosen), m, *field.size), np.nan, np.float32)
    wanted = np.unique(top.images[chosen])
    rows_of, cols_of = (_unit_index(field, top.map_shape[a], a) for a in (0, 1))
    for first in range(0, len(wanted), check_int(batch_size, "batch_size", minimum=1)):
        part = wanted[first : first + batch_size]
        maps = capture(model, x[part], layers=[top.layer], batch_size=batch_size)[top.layer]
        maps = maps.reshape(len(part), maps.shape[1], *top.map_shape)
        where = {int(n): i for i, n in enumerate(part)}
        for slot, c in enumerate(chosen.tolist()):
            for j in range(m):
                n = int(top.images[c, j])
                if n not in where:
                    continue
                row, col = int(top.rows[c, j]), int(top.cols[c, j])
                patch, (r0, c0, top_, bottom, left, right) = _crop(x[n], field, row, col)
                patches[slot, j] = patch
                upsampled = maps[where[n], c][np.ix_(rows_of[top_:bottom], cols_of[left:right])]
                overlays[slot, j, r0 : r0 + bottom - top_, c0 : c0 + right - left] = upsampled
    return ChannelAtlas(top.layer, field, top, chosen, patches, overlays)


def channel_atlas(
    model: Any,
    data: Any,
    layer: Any,
    k: int = 9,
    *,
    channels: Sequence[int] | None = None,
    batch_size: int = 256,
    progress: Any = False,
) -> ChannelAtlas:
    """One pass over ``data`` for the top-k exemplars of ``layer``, then their patches.

    Args:
        model: a torch module, Keras model or ONNX model.
        data: images (N, C, H, W) or an ``(images, labels)`` pair (labels unused).
        layer: one layer, by name or index.
        k: exemplars per channel.
        channels: the channels to crop (default all).
        batch_size: images per forward pass.
        progress: as for :func:`convscope.analysis.scan`.

    Example:
        >>> import numpy as np, convscope as cs
        >>> x = np.random.default_rng(1).random((6, 1, 28, 28), dtype=np.float32)
        >>> channel_atlas(cs.models.build("mnist_convnet"), x, "conv2d", k=2).field.size
        (3, 3)
    """
    name = resolve_one(model, layer, "atlas")
    images = data[0] if isinstance(data, tuple) else data
    (tops,) = scan(
        model, images, TopKAccumulator(k, layers=[name]), batch_size=batch_size, progress=progress
    )
    return atlas(model, images, tops[name], channels=channels)
