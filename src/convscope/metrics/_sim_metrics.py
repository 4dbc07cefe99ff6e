"""The built-in similarity metrics: multiply (seed 000, exact), cosine and pearson.

Each is a :class:`~convscope.metrics._sim_core.SimilarityMetric` run by the shared chunked
driver; importing this module registers them.
"""

from __future__ import annotations

import concurrent.futures
import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from .._threads import threads_for, torch_threads
from . import _multiply_kernel as kernel
from ._sim_core import WORK_BYTES, Prepared, SimilarityMetric, register


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
        pairs = max(1, min(data.max_bytes, WORK_BYTES) // (f * mean_x.element_size()))
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
        """One BLAS product for the pair means, then the compiled count, image by image.

        Large blocks use the thread budget: several images at once when the block has
        several, else the rows of one image split between threads.
        """
        norm, f = data.state["norm"], data.f
        n, b, c = images.stop - images.start, rows.stop - rows.start, cols.stop - cols.start
        wide = f > 1024  # a float32 mean's band would grow with F: use float64 there
        tol = kernel.band_tolerance(f, np.float64 if wide else np.float32)
        threads = threads_for(n * b * c * f)
        outer = max(1, min(threads, n))
        inner = max(1, threads // outer)
        values = np.empty((n, b, c), np.float64)

        def one(k: int) -> tuple[int, np.ndarray]:
            a_rows, b_cols = norm[images.start + k, rows], norm[images.start + k, cols]
            if wide:
                mean = torch.matmul(a_rows.double(), b_cols.double().T).div_(f)
            else:
                mean = torch.matmul(a_rows, b_cols.T).mul_(1.0 / f)
            values[k], unsure = kernel.count_tile(
                a_rows.numpy(), b_cols.numpy(), mean.numpy(), rows.start, cols.start, tol, inner
            )
            return k, np.flatnonzero(unsure)

        with torch_threads(inner):
            if outer == 1:
                ties = [one(k) for k in range(n)]
            else:
                with concurrent.futures.ThreadPoolExecutor(outer) as pool:
                    ties = list(pool.map(one, range(n)))
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
        """Recompute the near-tie pairs ``(image, row, column)`` of a block like the seed.

        All pairs at once, a few thousand per step: each row of ``mult`` is reduced as
        the seed's ``np.mean`` reduces its (H, W) map (one contiguous float32 pairwise
        sum over the F cells, then a float32 division), so the counts are the seed's.
        """
        found = [
            (k, bi, ci) for k, bi, ci in where if cols.start + ci >= rows.start + bi
        ]  # below the diagonal: not computed, not needed
        if not found:
            return
        norm = data.state["norm"]
        f = data.f
        step = max(1, (1 << 24) // max(f, 1))
        triples = np.asarray(found, np.int64)
        for first in range(0, len(triples), step):
            part = triples[first : first + step]
            n = torch.from_numpy(part[:, 0] + images.start)
            img1 = norm[n, torch.from_numpy(part[:, 1] + rows.start)].cpu().numpy()
            img2 = norm[n, torch.from_numpy(part[:, 2] + cols.start)].cpu().numpy()
            mult = np.ascontiguousarray(img1 * img2)
            means = np.mean(mult, axis=1, keepdims=True)
            counts = np.count_nonzero(mult > means, axis=1)
            where = tuple(torch.from_numpy(part[:, axis]) for axis in range(3))
            values[where] = torch.from_numpy(counts / f).to(values.dtype)


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
        work = (images.stop - images.start) * (rows.stop - rows.start) * (cols.stop - cols.start)
        with torch_threads(threads_for(work * data.f)):
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
