"""Receptive fields: which input cells a unit of a layer sees, from the layer stack.

Each op with kernel ``k``, stride ``s``, padding ``p`` (before the first cell) and
dilation ``d`` maps a unit's span in its input to a span in the image; per axis, with
``jump`` the distance in image cells between neighbouring units, ``start`` the first
image cell of unit 0 and ``size`` the span::

    start' = start - p * jump      size' = size + (k - 1) * d * jump      jump' = jump * s

Unit ``i`` then sees image cells ``[jump * i + start, jump * i + start + size - 1]``,
clipped to the image (the part outside is padding). Branches that meet (an ONNX ``Add``
or ``Concat``) take the union of their spans. Global pooling, flatten and dense layers
see the whole image.

Example:
    >>> import convscope as cs
    >>> field = receptive_field(cs.models.build("mnist_convnet"), "conv2d_1")
    >>> field.size, field.jump, field.box(0, 0)
    ((8, 8), (2, 2), (0, 8, 0, 8))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..adapters import adapter_for
from ..adapters.geometry import Op, layer_geometry
from ..errors import ConvscopeError

__all__ = ["Field", "field_from_ops", "receptive_field"]

Pair = tuple[int, int]


@dataclass(frozen=True)
class Field:
    """The receptive field of the units of one layer.

    Attributes:
        layer: the layer name.
        size: (rows, cols) of image cells one unit sees (before clipping at the border).
        jump: (rows, cols) image cells between neighbouring units (the total stride).
        start: (row, col) of the first image cell unit (0, 0) sees; negative where it
            starts in the padding.
        image_shape: (H, W) of the image.
        whole: every unit sees the whole image (after global pooling or a dense layer).
        seen: per axis ``(first, last)`` image cell each unit truly sees: the theoretical
            span less the cells that only padding of some layer reaches (empty, first >
            last, for a unit that sees nothing but padding). Without it, the span clipped
            to the image.
    """

    layer: str
    size: Pair
    jump: Pair
    start: Pair
    image_shape: Pair
    whole: bool = False
    seen: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def units(self) -> tuple[int, int] | None:
        """Units per axis the field describes (rows, cols); None when whole or not known.

        Example:
            >>> from convscope.adapters.geometry import Op
            >>> field_from_ops([Op("c", (3, 3), spatial=True)], (8, 8)).units
            (6, 6)
        """
        if self.whole or self.seen is None:
            return None
        return (len(self.seen[0][0]), len(self.seen[1][0]))

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(top, bottom, left, right)`` image cells unit ``(row, col)`` sees, clipped.

        ``bottom`` and ``right`` are exclusive, so ``image[top:bottom, left:right]`` is
        the patch.

        Example:
            >>> Field("c", (3, 3), (1, 1), (-1, -1), (5, 5)).box(0, 4)
            (0, 2, 3, 5)
        """
        if self.whole:
            return (0, self.image_shape[0], 0, self.image_shape[1])
        if self.seen is not None:
            (rlo, rhi), (clo, chi) = self.seen
            return (rlo[row], max(rhi[row] + 1, rlo[row]), clo[col], max(chi[col] + 1, clo[col]))
        top = self.jump[0] * row + self.start[0]
        left = self.jump[1] * col + self.start[1]
        height, width = self.image_shape
        return (
            max(top, 0),
            min(top + self.size[0], height),
            max(left, 0),
            min(left + self.size[1], width),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict.

        Example:
            >>> Field("c", (3, 3), (1, 1), (0, 0), (5, 5)).to_json()["size"]
            [3, 3]
        """
        return {
            "layer": self.layer,
            "size": list(self.size),
            "jump": list(self.jump),
            "start": list(self.start),
            "image_shape": list(self.image_shape),
            "whole": self.whole,
        }


@dataclass(frozen=True)
class _Span:
    """Per axis (rows, cols): the theoretical jump, start and size, and per unit of the
    layer the first and last image cell it truly sees (``lo > hi`` for a unit that sees
    only padding)."""

    jump: Pair
    start: Pair
    size: Pair
    lo: tuple[np.ndarray, np.ndarray]
    hi: tuple[np.ndarray, np.ndarray]
    whole: bool = False


def _pads(op: Op, axis: int, n: int) -> tuple[int, int, int]:
    """(pad before, pad after, output cells) of ``op`` along ``axis`` for ``n`` input cells."""
    k, s, d = op.kernel[axis], op.stride[axis], op.dilation[axis]
    if isinstance(op.padding, str):  # "same": output ceil(n / s), the odd cell at the end
        out = math.ceil(n / s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        before = total // 2 if op.padding == "same" else total - total // 2
        return before, total - before, out
    before = op.padding[axis]
    after = op.padding_end[axis] if op.padding_end is not None else before
    return before, after, (n + before + after - d * (k - 1) - 1) // s + 1


def _axis(span: _Span, op: Op, axis: int) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    k, s, d = op.kernel[axis], op.stride[axis], op.dilation[axis]
    lo, hi = span.lo[axis], span.hi[axis]
    before, _after, out = _pads(op, axis, len(lo))
    taps = np.arange(out)[:, None] * s - before + np.arange(k)[None, :] * d  # (out, k)
    valid = (taps >= 0) & (taps < len(lo))
    seen = valid & (lo[np.clip(taps, 0, len(lo) - 1)] <= hi[np.clip(taps, 0, len(lo) - 1)])
    first = np.where(seen.any(1), taps[np.arange(out), seen.argmax(1)], 0)
    last = np.where(seen.any(1), taps[np.arange(out), k - 1 - seen[:, ::-1].argmax(1)], 0)
    new_lo = np.where(seen.any(1), lo[first], 1)
    new_hi = np.where(seen.any(1), hi[last], 0)
    jump = span.jump[axis]
    return (
        jump * s,
        span.start[axis] - before * jump,
        span.size[axis] + (k - 1) * d * jump,
        new_lo,
        new_hi,
    )


def _step(span: _Span, op: Op, image: Pair) -> _Span:
    if span.whole or op.whole:
        zero = np.zeros(1, np.int64)
        return _Span(span.jump, span.start, span.size, (zero, zero),
                     (np.array([image[0] - 1]), np.array([image[1] - 1])), whole=True)  # fmt: skip
    if not op.spatial:
        return span
    rows, cols = _axis(span, op, 0), _axis(span, op, 1)
    return _Span((rows[0], cols[0]), (rows[1], cols[1]), (rows[2], cols[2]),
                 (rows[3], cols[3]), (rows[4], cols[4]))  # fmt: skip


def _union(spans: Sequence[_Span]) -> _Span:
    if len(spans) == 1:
        return spans[0]
    if any(s.whole for s in spans):
        return next(s for s in spans if s.whole)
    start = tuple(min(s.start[a] for s in spans) for a in (0, 1))
    end = tuple(max(s.start[a] + s.size[a] for s in spans) for a in (0, 1))
    jump = tuple(max(s.jump[a] for s in spans) for a in (0, 1))
    cells = [min(len(s.lo[a]) for s in spans) for a in (0, 1)]
    lo = tuple(np.min([s.lo[a][: cells[a]] for s in spans], axis=0) for a in (0, 1))
    hi = tuple(np.max([s.hi[a][: cells[a]] for s in spans], axis=0) for a in (0, 1))
    size = (end[0] - start[0], end[1] - start[1])
    return _Span(jump, start, size, lo, hi)  # type: ignore[arg-type]


def field_from_ops(ops: Sequence[Op], image_shape: Pair, layer: str | None = None) -> Field:
    """The receptive field after ``ops`` (a chain, or graph nodes with tensor names).

    Example:
        >>> from convscope.adapters.geometry import Op
        >>> conv = Op("c", (3, 3), spatial=True)
        >>> pool = Op("p", (2, 2), (2, 2), spatial=True)
        >>> field_from_ops([conv, pool, conv], (28, 28)).size
        (8, 8)
    """
    if not ops:
        raise ConvscopeError("no ops: a receptive field needs at least one layer")
    height, width = int(image_shape[0]), int(image_shape[1])
    cells = (np.arange(height), np.arange(width))
    first = _Span((1, 1), (0, 0), (1, 1), cells, cells)
    spans: dict[str, _Span] = {}
    current = first
    for op in ops:
        known = [spans[t] for t in op.inputs if t in spans]
        if op.inputs and not known:  # a graph node fed by the image itself
            known = [first]
        current = _step(_union(known) if known else current, op, (height, width))
        if op.output:
            spans[op.output] = current
    return Field(
        layer=layer or ops[-1].name,
        size=(height, width) if current.whole else current.size,
        jump=current.jump,
        start=(0, 0) if current.whole else current.start,
        image_shape=(height, width),
        whole=current.whole,
        seen=tuple(
            (lo.tolist(), hi.tolist()) for lo, hi in zip(current.lo, current.hi, strict=True)
        ),
    )


def receptive_field(model: Any, layer: str, image_shape: Sequence[int] | None = None) -> Field:
    """The receptive field of ``layer``'s units, computed from the model's layer stack.

    Args:
        model: a torch module, Keras model or ONNX model.
        layer: one layer name.
        image_shape: the image's (C, H, W) or (H, W); default the model's own input.

    Raises:
        UnknownNameError: no such layer (the layers are listed).
        ConvscopeError: the model does not say its input size and none was given.

    Example:
        >>> import convscope as cs
        >>> receptive_field(cs.models.build("fashion_gap"), "conv2d_3").size
        (14, 14)
    """
    if image_shape is None:
        with adapter_for(model) as adapter:
            image_shape = adapter.image_shape
        if image_shape is None:
            raise ConvscopeError(
                "the model does not say its input size; pass image_shape=(C, H, W)"
            )
    hw = tuple(int(v) for v in image_shape)[-2:]
    return field_from_ops(layer_geometry(model, layer), hw, layer=layer)  # type: ignore[arg-type]
