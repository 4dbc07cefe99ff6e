"""Top-k exemplars per channel: the k highest activations over a data set, mergeable.

For every channel of the chosen layers, :class:`TopKAccumulator` keeps the ``k``
highest activations seen, each with the image it came from (its position in the data
set) and the cell of the map (row, column). The order is total, so the answer is exact
and the same under any split of the data and any merge order:

    value descending, then image index ascending, then cell (row-major) ascending.

``-0.0`` counts as ``0.0``, and NaN ranks below every number (``-inf`` included).

Each batch is reduced to its own per-channel top ``k`` before it meets the kept
candidates (a candidate outside a part's top ``k`` can never be in the whole's), so the
state is ``channels x k`` triples whatever the size of the data set, and the reduction
runs where the maps are: a torch tensor on a GPU is reduced there and only the
``channels x k`` winners travel to the CPU.

Example:
    >>> import numpy as np
    >>> acc = TopKAccumulator(k=2)
    >>> maps = np.array([[[[1.0, 5.0]]], [[[5.0, 2.0]]]], np.float32)  # (2, 1, 1, 2)
    >>> acc.update({"conv": maps})
    >>> r = acc.result()["conv"]
    >>> r.values.tolist(), r.images.tolist(), r.cols.tolist()
    ([[5.0, 5.0]], [[0, 1]], [[1, 0]])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConvscopeError, ShapeError
from ..validation import as_numpy, check_int
from .accumulator import Batch

__all__ = ["TopKAccumulator", "TopKResult", "brute_force_topk", "order_keys"]

_LOW = np.int64(2**32 - 1)  # the low 32 bits of a batch key hold the inverted cell index
_NAN_RANK = np.int64(-(2**31) + 1)  # below the rank of -inf; its key still negates safely


def order_keys(values: np.ndarray) -> np.ndarray:
    """Map float32 values to int64 ranks with the same order (NaN lowest, -0.0 == 0.0).

    Example:
        >>> keys = order_keys(np.array([-1.0, -0.0, 0.0, 2.0, np.nan], np.float32))
        >>> bool(keys[4] < keys[0] < keys[1] == keys[2] < keys[3])
        True
    """
    clean = np.asarray(values, np.float32) + np.float32(0.0)  # -0.0 + 0.0 is +0.0
    bits = clean.view(np.int32).astype(np.int64)
    ranks = np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    return np.where(np.isnan(clean), _NAN_RANK, ranks)


@dataclass(frozen=True)
class TopKResult:
    """The top-k exemplars of every channel of one layer.

    Attributes:
        layer: the layer name.
        k: the ``k`` asked for; each channel holds ``min(k, images x cells)`` exemplars.
        values: (C, m) float32 activations, best first.
        images: (C, m) int64 positions of the images in the data set.
        rows, cols: (C, m) int64 cell of the map (0 for dense units).
        map_shape: (H, W) of the layer's maps ((1, 1) for dense units).
        num_images: images seen.
    """

    layer: str
    k: int
    values: np.ndarray
    images: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    map_shape: tuple[int, int]
    num_images: int

    @property
    def num_channels(self) -> int:
        """C, the number of channels (or dense units)."""
        return int(self.values.shape[0])

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the explorer's channel view reads it).

        Example:
            >>> acc = TopKAccumulator(k=1)
            >>> acc.update({"d": np.array([[3.0, 1.0]])})
            >>> acc.result()["d"].to_json()["channels"][0]
            {'values': [3.0], 'images': [0], 'rows': [0], 'cols': [0]}
        """
        channels = [
            {
                "values": [float(v) if np.isfinite(v) else None for v in self.values[c]],
                "images": self.images[c].tolist(),
                "rows": self.rows[c].tolist(),
                "cols": self.cols[c].tolist(),
            }
            for c in range(self.num_channels)
        ]
        return {
            "layer": self.layer,
            "k": self.k,
            "map_shape": list(self.map_shape),
            "num_images": self.num_images,
            "channels": channels,
        }


class _LayerTop:
    """Kept candidates of one layer: (C, m) values, images and flat cells, best first."""

    def __init__(self, unit_shape: tuple[int, ...]) -> None:
        self.unit_shape = unit_shape
        channels = unit_shape[0]
        self.values = np.zeros((channels, 0), np.float32)
        self.images = np.zeros((channels, 0), np.int64)
        self.cells = np.zeros((channels, 0), np.int64)
        self.seen = 0

    @property
    def map_shape(self) -> tuple[int, int]:
        return (self.unit_shape[1], self.unit_shape[2]) if len(self.unit_shape) == 3 else (1, 1)

    def floor(self, k: int) -> np.ndarray | None:
        """Per channel the ``k``-th best value kept, once ``k`` are kept and it is a number."""
        if self.values.shape[1] < k:
            return None
        floor = self.values[:, k - 1]
        return None if np.isnan(floor).any() else floor

    def absorb(self, values: np.ndarray, images: np.ndarray, cells: np.ndarray, k: int) -> None:
        """Keep the best ``k`` of the kept candidates and these, in the total order."""
        values = np.concatenate([self.values, values], axis=1)
        images = np.concatenate([self.images, images], axis=1)
        cells = np.concatenate([self.cells, cells], axis=1)
        order = np.lexsort((cells, images, -order_keys(values)), axis=-1)[:, :k]
        self.values = np.take_along_axis(values, order, axis=1)
        self.images = np.take_along_axis(images, order, axis=1)
        self.cells = np.take_along_axis(cells, order, axis=1)


def _unit_shape(shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    if len(shape) < 2:
        raise ShapeError(
            f"layer {name!r}: top-k needs (N, C, H, W) maps or (N, units) outputs, got {shape}"
        )
    if len(shape) not in (2, 4):
        raise ShapeError(
            f"layer {name!r}: top-k takes 2-D conv maps (N, C, H, W) or dense (N, units); "
            f"got {shape}"
        )
    return tuple(int(d) for d in shape[1:])


_PAD_IMAGE = np.int64(2**40)  # a padding slot's image: after every real image, so it ranks last


def _per_channel(acts: np.ndarray) -> np.ndarray:
    n, c = acts.shape[:2]
    return np.ascontiguousarray(np.moveaxis(acts.reshape(n, c, -1), 1, 0)).reshape(c, -1)


def _batch_top_numpy(
    acts: np.ndarray, k: int, floor: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per channel the ``k`` best (value, flat index over images x cells) of one batch.

    ``floor``: per channel the ``k``-th best value kept so far; only candidates at or
    above it can still enter, so once the state is full most cells are skipped.
    """
    per_channel = _per_channel(acts)
    if floor is not None:
        return _filtered_top(per_channel, floor, k)
    flat = np.arange(per_channel.shape[1], dtype=np.int64)
    keys = order_keys(per_channel) * np.int64(2**32) + (_LOW - flat)
    m = min(k, keys.shape[1])
    best = np.argpartition(keys, keys.shape[1] - m, axis=1)[:, -m:]
    best = np.take_along_axis(best, np.argsort(-np.take_along_axis(keys, best, 1), 1), 1)
    return np.take_along_axis(per_channel, best, axis=1), best


def _filtered_top(
    per_channel: np.ndarray, floor: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of the candidates >= ``floor`` per channel; empty slots padded.

    A padding slot holds NaN and flat index -1 (its image becomes :data:`_PAD_IMAGE`), so
    it ranks after every real candidate (NaN ones too) and never displaces one of the
    ``k`` kept.
    """
    channels = per_channel.shape[0]
    chan, flat = np.nonzero(per_channel >= floor[:, None])
    values = per_channel[chan, flat]
    keys = order_keys(values) * np.int64(2**32) + (_LOW - flat)
    order = np.lexsort((-keys, chan))
    chan, flat, values = chan[order], flat[order], values[order]
    rank = np.arange(len(chan)) - np.searchsorted(chan, np.arange(channels))[chan]
    keep = rank < k
    out_values = np.full((channels, k), np.nan, np.float32)
    out_flat = np.full((channels, k), -1, np.int64)
    out_values[chan[keep], rank[keep]] = values[keep]
    out_flat[chan[keep], rank[keep]] = flat[keep]
    return out_values, out_flat


def _batch_top_tensor(acts: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The same reduction on a torch tensor, where it lives; only (C, k) leaves the device."""
    import torch  # the tensor is torch's: torch is there

    n, c = acts.shape[:2]
    per_channel = acts.detach().float().reshape(n, c, -1).transpose(0, 1).reshape(c, -1)
    clean = per_channel + 0.0
    bits = clean.view(torch.int32).to(torch.int64)
    ranks = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    ranks = torch.where(torch.isnan(clean), torch.full_like(ranks, int(_NAN_RANK)), ranks)
    flat = torch.arange(per_channel.shape[1], device=acts.device, dtype=torch.int64)
    keys = ranks * (2**32) + (int(_LOW) - flat)
    m = min(k, keys.shape[1])
    best = torch.topk(keys, m, dim=1, sorted=True).indices
    values = torch.gather(per_channel, 1, best)
    return values.cpu().numpy(), best.cpu().numpy()


class TopKAccumulator:
    """Keep, per channel of each layer, the ``k`` highest activations; ``update``, ``merge``.

    Args:
        k: exemplars per channel.
        layers: the layer selection a scan feeds (default every conv layer); ``update``
            takes whatever layers it is given.

    Raises:
        ConvscopeError: ``k`` is not a whole number >= 1.

    Example:
        >>> a, b = TopKAccumulator(k=1), TopKAccumulator(k=1)
        >>> a.update({"d": np.array([[1.0], [4.0]])})
        >>> b.update({"d": np.array([[4.0]])}, start=2)
        >>> b.merge(a).result()["d"].images.tolist()
        [[1]]
    """

    needs_output = False
    accepts_tensors = True
    """A scan on a GPU may feed torch tensors: the reduction runs on the device."""

    def __init__(self, k: int = 9, *, layers: Any = "conv") -> None:
        self.k = check_int(k, "k", minimum=1)
        self.layers = layers
        self.layers_: dict[str, _LayerTop] = {}

    def feed(self, batch: Batch) -> None:
        """Add one batch of a scan; its ``start`` is the first image's position."""
        self.update(batch.maps, start=batch.start)

    def update(self, maps: Mapping[str, Any], start: int = 0) -> None:
        """Add one batch ``{layer: maps}`` whose first image is at position ``start``.

        Raises:
            ShapeError: maps that are not (N, C, H, W) or (N, U), or a layer whose shape
                differs from earlier batches.
        """
        start = check_int(start, "start", minimum=0)
        for name, value in maps.items():
            is_tensor = type(value).__name__ == "Tensor"
            acts = value if is_tensor else as_numpy(value, dtype=np.float32)
            unit_shape = _unit_shape(tuple(acts.shape), name)
            state = self.layers_.get(name)
            if state is None:
                state = self.layers_[name] = _LayerTop(unit_shape)
            elif state.unit_shape != unit_shape:
                raise ShapeError(
                    f"layer {name!r}: batch of shape {tuple(acts.shape)} does not fit earlier "
                    f"batches (N, {', '.join(map(str, state.unit_shape))})"
                )
            n = int(acts.shape[0])
            if n == 0:
                continue
            if is_tensor:
                values, flat = _batch_top_tensor(acts, self.k)
            else:
                values, flat = _batch_top_numpy(acts, self.k, state.floor(self.k))
            cells_per_image = (
                int(np.prod(unit_shape[1:], dtype=np.int64)) if len(unit_shape) > 1 else 1
            )
            images = np.where(flat < 0, _PAD_IMAGE, start + flat // cells_per_image)
            cells = np.where(flat < 0, 0, flat % cells_per_image)
            state.absorb(values.astype(np.float32), images, cells, self.k)
            state.seen += n

    def merge(self, other: TopKAccumulator) -> TopKAccumulator:
        """Add ``other``'s candidates (images numbered in the same data set); return ``self``.

        Raises:
            ConvscopeError: another type, another ``k``, or a layer of another shape.
        """
        if not isinstance(other, TopKAccumulator):
            raise ConvscopeError(f"can only merge a TopKAccumulator, got {type(other).__name__}")
        if other.k != self.k:
            raise ConvscopeError(f"cannot merge top-k accumulators with k={self.k} and k={other.k}")
        for name, theirs in other.layers_.items():
            mine = self.layers_.get(name)
            if mine is None:
                mine = self.layers_[name] = _LayerTop(theirs.unit_shape)
            elif mine.unit_shape != theirs.unit_shape:
                raise ConvscopeError(
                    f"cannot merge layer {name!r}: shapes {mine.unit_shape} vs {theirs.unit_shape}"
                )
            mine.absorb(theirs.values, theirs.images, theirs.cells, self.k)
            mine.seen += theirs.seen
        return self

    def result(self) -> dict[str, TopKResult]:
        """``{layer: TopKResult}`` for every layer seen, in the order first seen.

        Raises:
            ConvscopeError: nothing was fed yet.
        """
        if not self.layers_:
            raise ConvscopeError("no activations seen: call update() with at least one batch")
        out = {}
        for name, state in self.layers_.items():
            width = state.map_shape[1]
            out[name] = TopKResult(
                layer=name,
                k=self.k,
                values=state.values.copy(),
                images=state.images.copy(),
                rows=state.cells // width,
                cols=state.cells % width,
                map_shape=state.map_shape,
                num_images=state.seen,
            )
        return out

    def nbytes(self) -> int:
        """Bytes the kept candidates take (values, images and cells), all layers.

        Example:
            >>> acc = TopKAccumulator(k=9)
            >>> acc.update({"c": np.zeros((20, 64, 11, 11), np.float32)})
            >>> acc.nbytes()  # 64 channels x 9 x (4 + 8 + 8) bytes
            11520
        """
        return sum(
            s.values.nbytes + s.images.nbytes + s.cells.nbytes for s in self.layers_.values()
        )


def brute_force_topk(maps: np.ndarray, k: int, start: int = 0) -> tuple[np.ndarray, ...]:
    """The reference: sort every (value, image, cell) of each channel; the first ``k``.

    Slow (a full sort), for tests and checks. Returns ``(values, images, rows, cols)``,
    each (C, m).

    Example:
        >>> v, i, r, c = brute_force_topk(np.array([[[[2.0, 2.0]]]], np.float32), k=1)
        >>> v.tolist(), c.tolist()
        ([[2.0]], [[0]])
    """
    maps = np.asarray(maps, np.float32)
    if maps.ndim == 2:
        maps = maps[:, :, None, None]
    n, c, h, w = maps.shape
    values = np.moveaxis(maps, 1, 0).reshape(c, -1)
    images = np.broadcast_to(np.repeat(np.arange(n, dtype=np.int64) + start, h * w), values.shape)
    cells = np.broadcast_to(np.tile(np.arange(h * w, dtype=np.int64), n), values.shape)
    order = np.lexsort((cells, images, -order_keys(values)), axis=-1)[:, :k]
    pick = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    chosen = pick(cells)
    return pick(values), pick(images), chosen // w, chosen % w
