"""Metric registry and the one chunked driver every pairwise metric runs through (private).

A metric is an object with three steps (template method):

* :meth:`SimilarityMetric.prepare` turns the validated ``(N, C, F)`` tensor into whatever
  per-call state the metric needs (normalised maps, unit vectors, ...);
* :meth:`SimilarityMetric.bytes_per_pair` says how many bytes of scratch one channel pair of
  one image costs, so the driver can size its tiles;
* :meth:`SimilarityMetric.state_bytes_per_cell` says how many bytes the prepared state holds
  per input cell (image x channel x feature), so the driver can prepare the images in chunks;
* :meth:`SimilarityMetric.block` returns the ``(n, b, c)`` similarities of a tile of images x
  rows x columns.

:func:`iter_blocks` walks the upper triangle (``j >= i``) of the ``C x C`` matrix in tiles
whose scratch stays under both a cache-friendly working size and the caller's ``max_bytes``;
:func:`iter_chunks` prepares the images a chunk at a time so that the prepared state stays under
``max_bytes`` too, and :func:`iter_all_blocks` combines the two into the blocks an unchunked run
would see; :func:`pair_matrix` and :func:`pair_means` are the two consumers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .._batching import batch_slices
from ..errors import ConvscopeError, UnknownNameError

DEFAULT_MAX_BYTES = 256 * 2**20
"""Default scratch-memory budget of one tile (256 MiB)."""

WORK_BYTES = 2 * 2**20
"""Preferred size of per-cell scratch inside a block: cache-sized tiles are faster."""


@dataclass
class Prepared:
    """The validated input of one call: ``x`` is ``(N, C, F)`` float on its device."""

    x: torch.Tensor
    spatial_shape: tuple[int, ...]  # (H, W) for conv maps, (N,) for dense columns
    max_bytes: int = DEFAULT_MAX_BYTES
    state: Any = None

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def c(self) -> int:
        return int(self.x.shape[1])

    @property
    def f(self) -> int:
        return int(self.x.shape[2])


class SimilarityMetric(ABC):
    """One pairwise similarity between channels; subclasses fill in three steps."""

    name: str = ""
    description: str = ""
    spatial_only: bool = False
    """True when the metric needs spatial maps and refuses dense ``(N, units)`` input."""
    default_threshold: float = 0.9
    """Similarity at or above which :func:`~convscope.metrics.similarity.redundancy` groups."""
    bounds: tuple[float, float] = (-1.0, 1.0)
    block_bytes: int = 64 * 2**20
    """Preferred size of one block's per-pair state (the caller's ``max_bytes`` caps it)."""

    @abstractmethod
    def prepare(self, data: Prepared) -> Any:
        """Return the per-call state ``block`` works from."""

    @abstractmethod
    def bytes_per_pair(self, data: Prepared) -> int:
        """Bytes one (image, row, column) triple costs inside :meth:`block`.

        A metric that needs per-cell scratch (``F`` items per pair) should tile inside
        ``block`` to stay within ``data.max_bytes`` and count only its per-pair state here.
        """

    @abstractmethod
    def block(self, data: Prepared, images: slice, rows: slice, cols: slice) -> torch.Tensor:
        """Similarities of a tile, shape ``(n_images, n_rows, n_cols)``, float64."""

    def block_budget(self, data: Prepared) -> int:
        """Preferred bytes of one block's per-pair state (default :attr:`block_bytes`)."""
        return self.block_bytes

    def state_bytes_per_cell(self, data: Prepared) -> int:
        """Bytes :meth:`prepare` holds per input cell (image x channel x feature).

        A positive value declares that :meth:`prepare` works image by image (the state of
        one image does not depend on the others), so the driver may prepare the images in
        chunks whose state stays within ``max_bytes``. The default, 0, prepares all the
        images at once (safe for a metric whose state mixes images).
        """
        return 0


_REGISTRY: dict[str, SimilarityMetric] = {}


def register(metric: SimilarityMetric) -> SimilarityMetric:
    """Add ``metric`` to the registry under ``metric.name`` (replacing one of that name)."""
    if not isinstance(metric, SimilarityMetric):
        raise ConvscopeError(
            f"register needs a SimilarityMetric instance, got {type(metric).__name__}; "
            "subclass convscope.metrics.similarity.SimilarityMetric and register an instance"
        )
    if not isinstance(metric.name, str) or not metric.name:
        raise ConvscopeError(
            f"a similarity metric needs a non-empty string name: set the class attribute "
            f"`name` of {type(metric).__name__} (got {metric.name!r})"
        )
    _REGISTRY[metric.name] = metric
    return metric


def get_metric(name: str | SimilarityMetric) -> SimilarityMetric:
    """Look a metric up by name; an instance passes through."""
    if isinstance(name, SimilarityMetric):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownNameError("similarity metric", [str(name)], sorted(_REGISTRY)) from None


def metric_names() -> list[str]:
    """Registered metric names, sorted."""
    return sorted(_REGISTRY)


# --------------------------------------------------------------------------- driver


def _pairs_per_block(metric: SimilarityMetric, data: Prepared, max_bytes: int) -> int:
    per_pair = max(1, metric.bytes_per_pair(data))
    budget = max(per_pair, min(int(max_bytes), metric.block_budget(data)))
    return max(1, budget // per_pair)


def iter_blocks(
    metric: SimilarityMetric, data: Prepared, max_bytes: int
) -> Iterator[tuple[slice, slice, slice, torch.Tensor]]:
    """Yield ``(images, rows, cols, values)`` blocks covering every pair ``j >= i``.

    ``data`` must be prepared (``data.state`` set). A block holds at most
    ``min(max_bytes, metric.block_bytes) // bytes_per_pair`` pairs (at least one). Small
    matrices go whole, several images at a time; otherwise each image is cut into strips of
    rows ``[r0, r1)`` x columns ``[r0, C)`` (the upper triangle), columns split further when
    one row is too wide. Blocks touching the diagonal also hold some pairs ``j < i``, whose
    values are unspecified: consumers mask them.
    """
    data.max_bytes = int(max_bytes)
    n, c = data.n, data.c
    pairs = _pairs_per_block(metric, data, max_bytes)
    if pairs >= c * c:  # whole matrices, several images at a time
        for images in batch_slices(n, max(1, min(n, pairs // (c * c)))):
            everything = slice(0, c)
            yield images, everything, everything, metric.block(data, images, everything, everything)
        return
    for i in range(n):
        images = slice(i, i + 1)
        r0 = 0
        while r0 < c:
            width = c - r0
            r1 = min(c, r0 + max(1, pairs // width))
            rows = slice(r0, r1)
            for sub in batch_slices(width, max(1, pairs // (r1 - r0))):
                cols = slice(r0 + sub.start, r0 + sub.stop)
                yield images, rows, cols, metric.block(data, images, rows, cols)
            r0 = r1


def _image_step(metric: SimilarityMetric, data: Prepared, max_bytes: int) -> int:
    """Images per block of :func:`iter_blocks` on all of ``data`` (1 for strips)."""
    pairs, cc = _pairs_per_block(metric, data, max_bytes), data.c * data.c
    return max(1, min(data.n, pairs // cc)) if pairs >= cc else 1


def chunk_size(metric: SimilarityMetric, data: Prepared, max_bytes: int) -> int:
    """Images prepared at a time so that their prepared state stays within ``max_bytes``.

    At least one image (one image's state is not split); all of them for a metric whose
    :meth:`~SimilarityMetric.state_bytes_per_cell` is 0. When the budget holds a whole block
    of images, the size is a multiple of the images per block of :func:`iter_blocks`.
    """
    n = data.n
    per_image = metric.state_bytes_per_cell(data) * data.c * data.f
    if per_image <= 0 or n <= 1:
        return max(1, n)
    size = max(1, int(max_bytes) // per_image)
    if size >= n:
        return n
    step = _image_step(metric, data, max_bytes)
    return size - size % step if size >= step else size


def iter_chunks(
    metric: SimilarityMetric, data: Prepared, max_bytes: int
) -> Iterator[tuple[slice, Prepared]]:
    """Yield ``(images, part)``: the images of ``data`` in order, prepared a chunk at a time.

    ``data`` is the validated, unprepared input; each ``part`` holds the images ``images``
    with ``part.state`` set by ``metric.prepare``. A chunk's state is released (``part.state``
    set to ``None``) before the next chunk is prepared, so one chunk's state is alive at a time.
    """
    for images in batch_slices(data.n, chunk_size(metric, data, max_bytes)):
        part = Prepared(x=data.x[images], spatial_shape=data.spatial_shape, max_bytes=max_bytes)
        part.state = metric.prepare(part)
        yield images, part
        part.state = None


def iter_all_blocks(
    metric: SimilarityMetric, data: Prepared, max_bytes: int
) -> Iterator[tuple[slice, slice, slice, torch.Tensor]]:
    """:func:`iter_blocks` over all images of the unprepared ``data``, prepared in chunks.

    Yields the blocks (same slices, images counted over all of ``data``, same values) that
    :func:`iter_blocks` yields on ``data`` prepared at once, so the consumers' float sums are
    bit-identical whatever the chunking; only one chunk's state (:func:`chunk_size`) is alive
    at a time. When one block's images do not fit the state budget, the block's values
    (``images x C x C`` float64, within the tile budget) are assembled from several chunks.
    """
    n, c = data.n, data.c
    step = _image_step(metric, data, max_bytes)
    size = chunk_size(metric, data, max_bytes)
    if size >= n or size % step == 0:  # chunks hold whole blocks
        for chunk, part in iter_chunks(metric, data, max_bytes):
            for images, rows, cols, values in iter_blocks(metric, part, max_bytes):
                yield (
                    slice(chunk.start + images.start, chunk.start + images.stop),
                    rows,
                    cols,
                    values,
                )
        return
    everything = slice(0, c)  # whole matrices, `step` images per block, `size` < `step`
    blocks = batch_slices(n, step)
    block = next(blocks)
    buf: torch.Tensor | None = None
    filled = 0
    for _chunk, part in iter_chunks(metric, data, max_bytes):
        for _images, _rows, _cols, values in iter_blocks(metric, part, max_bytes):
            done = 0
            while done < values.shape[0]:
                width = block.stop - block.start
                if buf is None:
                    buf = torch.empty((width, c, c), dtype=values.dtype, device=values.device)
                take = min(values.shape[0] - done, width - filled)
                buf[filled : filled + take] = values[done : done + take]
                filled, done = filled + take, done + take
                if filled == width:
                    yield block, everything, everything, buf
                    buf, filled = None, 0
                    block = next(blocks, block)


def pair_matrix(metric: SimilarityMetric, data: Prepared, max_bytes: int) -> torch.Tensor:
    """The ``(C, C)`` similarity matrix of the unprepared ``data``, mean over images, float64."""
    c = data.c
    total = torch.zeros((c, c), dtype=torch.float64, device=data.x.device)
    for _images, rows, cols, values in iter_all_blocks(metric, data, max_bytes):
        total[rows, cols] += values.sum(dim=0)
    total /= data.n
    upper = torch.triu(total)
    return upper + torch.triu(total, diagonal=1).T


def pair_means(metric: SimilarityMetric, data: Prepared, max_bytes: int) -> torch.Tensor:
    """Per image of the unprepared ``data``, the mean similarity over the pairs ``i < j``.

    Shape ``(N,)``, float64.
    """
    c = data.c
    sums = torch.zeros(data.n, dtype=torch.float64, device=data.x.device)
    for images, rows, cols, values in iter_all_blocks(metric, data, max_bytes):
        if cols.start < rows.stop:  # touches the diagonal: keep column > row only
            values = torch.triu(values, diagonal=rows.start - cols.start + 1)
        sums[images] += values.sum(dim=(1, 2))
    return sums / (c * (c - 1) / 2)
