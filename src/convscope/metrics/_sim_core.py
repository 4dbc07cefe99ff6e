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

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._batching import batch_slices
from .._threads import threads_for, torch_threads
from ..errors import ConvscopeError, UnknownNameError
from . import _multiply_kernel as kernel

DEFAULT_MAX_BYTES = 256 * 2**20
"""Default scratch-memory budget of one tile (256 MiB)."""

_WORK_BYTES = 2 * 2**20
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


# --------------------------------------------------------------------------- metrics


class MultiplyMetric(SimilarityMetric):
    """Seed 000's ``similarity_multiply``, vectorised and bit-for-bit faithful.

    Per map: min-max normalise (a flat map's range counts as ``0.0001``), multiply two maps
    cell-wise and return the fraction of cells whose product is strictly above the mean of
    the product, all in the maps' float dtype like the seed's numpy code.

    The seed's mean is numpy's float32 pairwise sum; reproducing its rounding order in torch
    would tie us to numpy internals. Instead each pair's mean ``m`` is computed accurately
    (float64 matrix product), and each cell's ``d = m - a * b`` (maps' dtype) is classified:
    ``d < -tol * m`` counts, ``d > tol * m`` does not, and the band ``|d| <= tol * m`` surely
    contains the seed's float32 mean. The rare pair with a cell inside the band (a near tie)
    is recomputed exactly as the seed does, with numpy. The count is therefore exactly the
    seed's, whatever the tiling and the channel order.

    Inner loop, per cache-sized tile of images x rows x columns (only columns >= row): one
    ``addcmul`` for ``d`` over all cells (cells outside the two image-channel axes so the
    row and column maps broadcast), its sign bit extracted with an integer shift and summed
    over cells (the count), ``|d|`` minimised over cells (the near-tie test): five torch ops
    per tile, several images per op when the matrices are small. Rows whose non-zero cells
    are few gather those cells first (``sparse_fraction``).
    """

    name = "multiply"
    description = (
        "seed 000: fraction of cells whose product of min-max normalised maps is above its mean"
    )
    spatial_only = True
    default_threshold = 0.4
    bounds = (0.0, 1.0)
    sparse_fraction = 0.5
    """Gather the non-zero cells of a tile's rows when at most this fraction is non-zero."""
    tol = 1e-5
    """Relative half-width of the band that surely contains numpy's float32 mean."""

    block_bytes = 2 * 2**20  # per-pair state of a block stays cache-resident
    use_compiled = True
    """Count with the compiled kernel where it runs (CPU, float32, numba importable)."""
    compiled_block_bytes = 64 * 2**20

    def block_budget(self, data: Prepared) -> int:
        compiled = isinstance(data.state, dict) and data.state.get("compiled", False)
        return self.compiled_block_bytes if compiled else self.block_bytes

    def prepare(self, data: Prepared) -> dict[str, Any]:
        x = data.x
        lo = x.amin(dim=2, keepdim=True)
        base = x.amax(dim=2, keepdim=True) - lo
        base = base.masked_fill_(base == 0, 0.0001)
        norm = (x - lo) / base  # same float ops as the seed: bit-identical maps
        int_dtype = torch.int64 if norm.dtype == torch.float64 else torch.int32
        top = torch.iinfo(int_dtype).max
        # every non-zero pair mean is >= (smallest positive cell)^2 / F; below 1e-30 the band
        # edges could underflow, so such inputs get an extra check per pair. Non-negative
        # floats order like their integer views; minus one sends 0 to the top.
        low = norm.view(int_dtype).sub(1).bitwise_and_(top).amin() if norm.numel() else None
        smallest = 1.0 if low is None or int(low) == top else float(low.add_(1).view(norm.dtype))
        tiny = smallest**2 / data.f < 1e-30
        compiled = (
            self.use_compiled
            and kernel.available()
            and norm.device.type == "cpu"
            and norm.dtype == torch.float32
            and not tiny  # a float32 band edge could underflow: the torch path checks more
        )
        state: dict[str, Any] = {"norm": norm, "compiled": compiled, "tiny": tiny}
        if not compiled:
            state.update(
                nnz=torch.count_nonzero(norm, dim=2),  # (N, C) non-zero cells per map
                norm_t=norm.transpose(1, 2).contiguous(),  # (N, F, C): cells outside channels
                norm64=norm.double(),
                int_dtype=int_dtype,
                sign_shift=63 if norm.dtype == torch.float64 else 31,
            )
        return state

    def bytes_per_pair(self, data: Prepared) -> int:
        # per pair kept for a whole block: mean (8), its float copy and minimum |d| (item
        # each), count (4), values (8), near-tie mask and the comparisons making it (~8)
        return 8 + 3 * data.x.element_size() + 4 + 8 + 8

    def state_bytes_per_cell(self, data: Prepared) -> int:
        # norm, norm_t and two temporaries of prepare (item each), norm64 (8), slack (2)
        return 4 * data.x.element_size() + 8 + 2

    @staticmethod
    def _tiles(
        n: int, b: int, c: int, diagonal: int, pairs: int
    ) -> Iterator[tuple[slice, slice, slice]]:
        """Tiles ``(images, rows, cols)`` of a block covering its pairs with column >= row.

        ``diagonal`` is the block's first global column minus its first global row; a tile
        holds at most ``pairs`` image-row-column triples (at least one).
        """
        # rows per tile: small groups when the triangle is cut from square matrices (less
        # waste below the diagonal), as many as fit otherwise
        rb = max(1, min(b, pairs // c))
        if diagonal < c and rb * 8 > b:
            rb = max(1, min(rb, -(-b // 8)))
        for r0 in range(0, b, rb):
            r1 = min(b, r0 + rb)
            start = min(c, max(0, r0 - diagonal))  # columns below the diagonal are skipped
            if start >= c:
                break
            width = c - start
            cb = max(1, min(width, pairs // (r1 - r0)))
            nb = max(1, min(n, pairs // ((r1 - r0) * cb))) if cb == width else 1
            for c0 in range(start, c, cb):
                c1 = min(c, c0 + cb)
                for i0 in range(0, n, nb):
                    yield slice(i0, min(n, i0 + nb)), slice(r0, r1), slice(c0, c1)

    def block(self, data: Prepared, images: slice, rows: slice, cols: slice) -> torch.Tensor:
        if data.state["compiled"]:
            return self._compiled_block(data, images, rows, cols)
        st = data.state
        f = data.f
        norm64 = st["norm64"]
        mean = torch.matmul(norm64[images, rows], norm64[images, cols].transpose(1, 2))
        mean /= f  # (n, b, c), float64
        n, b, c = mean.shape
        dtype = st["norm"].dtype
        device = mean.device
        mean_x = mean.to(dtype)  # the band's centre in the maps' dtype
        counts = torch.zeros((n, b, c), dtype=torch.int32, device=device)
        int_dtype = st["int_dtype"]
        top = torch.iinfo(int_dtype).max
        # smallest integer view of d among the negative cells, then among the others
        low = torch.full((2, n, b, c), top, dtype=int_dtype, device=device)

        # scratch of one tile of F items per triple, cache-sized, within max_bytes
        pairs = max(1, min(data.max_bytes, _WORK_BYTES) // (f * mean_x.element_size()))
        scratch = torch.empty(f * min(pairs, n * b * c), dtype=dtype, device=device)
        shift = st["sign_shift"]
        sign = -top - 1  # the sign bit
        nnz, norm_t = st["nnz"], st["norm_t"]
        for ti, tr, tc in self._tiles(n, b, c, cols.start - rows.start, pairs):
            gi = slice(images.start + ti.start, images.start + ti.stop)
            gr = slice(rows.start + tr.start, rows.start + tr.stop)
            gc = slice(cols.start + tc.start, cols.start + tc.stop)
            kmax = int(nnz[gi, gr].max())
            if kmax == 0:
                continue  # all-zero rows: every product is 0, nothing is above the mean
            m = mean_x[ti, tr, tc]  # (nt, rt, ct)
            nt, rt, ct = m.shape
            if kmax <= self.sparse_fraction * f:
                # only the cells where a row is non-zero can count: gather them (zeros pad)
                zero = st["norm"][gi, gr] == 0  # (nt, rt, F)
                idx = torch.argsort(zero.to(torch.uint8), dim=2, stable=True)[:, :, :kmax]
                at = torch.gather(st["norm"][gi, gr], 2, idx)[..., None]  # (nt, rt, K, 1)
                flat = idx + (torch.arange(nt, device=device) * f)[:, None, None]
                bt = norm_t[gi, :, gc].reshape(nt * f, ct).index_select(0, flat.reshape(-1))
                shape, dim = (nt, rt, kmax, ct), 2
                bt, m = bt.view(shape), m[:, :, None]
            else:  # every cell, (nt, F, rt, ct), reduced over F
                at = norm_t[gi, :, gr, None]
                bt = norm_t[gi, :, None, gc]
                shape, dim = (nt, f, rt, ct), 1
                m = m[:, None]
            d = scratch[: math.prod(shape)].view(shape)
            torch.addcmul(m, at, bt, value=-1, out=d)  # m - a*b: negative where a*b is above
            bits = d.view(int_dtype)
            # as integers, negative floats sit below the others, ordered by |d|: the minimum
            # is the smallest |d| of the negative cells (if any); flipping the sign bit swaps
            low[0, ti, tr, tc] = bits.amin(dim=dim)
            bits.bitwise_xor_(sign)
            low[1, ti, tr, tc] = bits.amin(dim=dim)
            # now -1 where d >= 0 (not above the mean): count = cells - those
            below = bits.bitwise_right_shift_(shift).sum(dim=dim, dtype=torch.int32)
            counts[ti, tr, tc] = below.add_(shape[dim])
        values = counts.to(torch.float64).div_(f)
        # |d| of the cell closest to the mean, per pair (the sign bit cleared)
        closest = low.bitwise_and_(top).amin(dim=0).view(dtype).to(torch.float64)
        # a cell inside the band: a near tie (a zero mean has only zero products: no tie)
        unsure = (closest <= mean * self.tol) & (mean > 0)
        if st["tiny"]:
            unsure |= (mean > 0) & (mean < 1e-30)  # a band so small it may underflow
        if bool(unsure.any()):
            where = np.nonzero(unsure.cpu().numpy())
            triples = zip(*(w.tolist() for w in where), strict=True)
            self._fix_ties(data, images, rows, cols, triples, values)
        return values

    def _compiled_block(
        self, data: Prepared, images: slice, rows: slice, cols: slice
    ) -> torch.Tensor:
        """One BLAS product for the pair means, then the compiled count, image by image."""
        norm, f = data.state["norm"], data.f
        n, b, c = images.stop - images.start, rows.stop - rows.start, cols.stop - cols.start
        wide = f > 1024  # a float32 mean's band would grow with F: use float64 there
        tol = kernel.band_tolerance(f, np.float64 if wide else np.float32)
        threads = threads_for(b * c * f)
        values = np.empty((n, b, c), np.float64)
        ties: list[tuple[int, np.ndarray]] = []
        with torch_threads(threads):
            for k in range(n):
                a_rows, b_cols = norm[images.start + k, rows], norm[images.start + k, cols]
                if wide:
                    mean = torch.matmul(a_rows.double(), b_cols.double().T).div_(f)
                else:
                    mean = torch.matmul(a_rows, b_cols.T).mul_(1.0 / f)
                values[k], unsure = kernel.count_tile(
                    a_rows.numpy(),
                    b_cols.numpy(),
                    mean.numpy(),
                    rows.start,
                    cols.start,
                    tol,
                    threads,
                )
                flagged = np.flatnonzero(unsure)
                if len(flagged):
                    ties.append((k, flagged))
        out = torch.from_numpy(values)
        triples = ((k, *divmod(int(flat), c)) for k, flagged in ties for flat in flagged)
        self._fix_ties(data, images, rows, cols, triples, out)
        return out

    @staticmethod
    def _fix_ties(
        data: Prepared,
        images: slice,
        rows: slice,
        cols: slice,
        where: Iterable[tuple[int, int, int]],
        values: torch.Tensor,
    ) -> None:
        """Recompute the near-tie pairs ``(image, row, column)`` of a block like the seed."""
        norm = data.state["norm"]
        shape = data.spatial_shape
        for k, bi, ci in where:
            if cols.start + ci < rows.start + bi:
                continue  # below the diagonal: not computed, not needed
            n = images.start + k
            img1 = norm[n, rows.start + bi].cpu().numpy().reshape(shape)
            img2 = norm[n, cols.start + ci].cpu().numpy().reshape(shape)
            mult = img1 * img2
            correlated = mult > np.mean(mult)
            values[k, bi, ci] = int(np.count_nonzero(correlated)) / img1.size


class _UnitVectorMetric(SimilarityMetric):
    """Shared code of cosine and pearson: dot products of unit vectors, float64."""

    center = False
    default_threshold = 0.9

    def prepare(self, data: Prepared) -> torch.Tensor:
        x = data.x.double()
        flat = x.amax(dim=2) == x.amin(dim=2)  # constant vectors
        if self.center:
            x = x - x.mean(dim=2, keepdim=True)
        norms = torch.linalg.vector_norm(x, dim=2, keepdim=True)
        dead = (norms == 0).squeeze(2)
        if self.center:
            dead |= flat  # centring a constant leaves rounding noise, not a direction
        z = x / torch.where(norms == 0, torch.ones_like(norms), norms)
        z[dead] = 0.0
        return z

    def bytes_per_pair(self, data: Prepared) -> int:
        return 16

    def state_bytes_per_cell(self, data: Prepared) -> int:
        # z (float64, 8) and the float64 copy / centred copy it is made from (8 + 8)
        return 24

    def block(self, data: Prepared, images: slice, rows: slice, cols: slice) -> torch.Tensor:
        z = data.state
        values = torch.matmul(z[images, rows], z[images, cols].transpose(1, 2))
        return values.clamp_(-1.0, 1.0)


class CosineMetric(_UnitVectorMetric):
    """Cosine similarity of the flattened maps (an all-zero map has similarity 0)."""

    name = "cosine"
    description = "cosine of the angle between flattened maps (0 for an all-zero map)"
    default_threshold = 0.9


class PearsonMetric(_UnitVectorMetric):
    """Pearson correlation of the flattened maps (a constant map correlates 0)."""

    name = "pearson"
    description = "Pearson correlation of flattened maps (0 for a constant map)"
    center = True
    default_threshold = 0.8


for _metric in (MultiplyMetric(), CosineMetric(), PearsonMetric()):
    register(_metric)
