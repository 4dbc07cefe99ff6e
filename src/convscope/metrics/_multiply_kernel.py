"""The multiply metric's compiled counting kernel (numba), exact against seed 000.

For a tile of rows x columns of one image, with the pair means ``m`` already computed by
a BLAS matrix product, the kernel counts per pair the cells whose float32 product ``a*b``
(the seed's ``mult``, rounded the same way) is above ``m * (1 + tol)``, and flags the pair
when a cell lies inside the band ``m * (1 ± tol)``, which surely contains the seed's own
float32 mean (numpy's pairwise sum). Flagged pairs are recomputed exactly like the seed by
the caller. One pass over the cells per pair, four rows at a time so each column map is
loaded once for four pairs; float accumulators (exact below 2**24 cells) let LLVM vectorise.

``available()`` is False where numba cannot be imported; callers then use the pure torch
path, which gives the same values.

Example:
    >>> import numpy as np
    >>> norm = np.array([[1.0, 0.0, 0.5], [1.0, 1.0, 0.0]], np.float32)
    >>> mean = norm @ norm.T / np.float32(3)
    >>> values, unsure = count_tile(norm, norm, mean, 0, 0, band_tolerance(3, np.float32))
    >>> float(values[0, 1])  # products 1, 0, 0; mean 1/3: one cell of three above
    0.3333333333333333
"""

from __future__ import annotations

import concurrent.futures
import math

import numpy as np

try:  # numba is optional at run time: without it the torch path computes the same values
    import numba

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised where numba is missing
    numba = None
    _HAVE_NUMBA = False

__all__ = ["available", "band_tolerance", "count_tile"]

_UNIT_ROUNDOFF = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}


def available() -> bool:
    """Whether the compiled kernel can run here (numba imports)."""
    return _HAVE_NUMBA


def band_tolerance(cells: int, mean_dtype: np.dtype | type) -> float:
    """Relative half-width of the band that surely holds the seed's float32 mean.

    The seed's mean is a float32 pairwise sum (rounding depth at most ~20 + log2(F) for
    numpy's 8-way, 128-blocked sum) then a division; the BLAS mean adds at most ``F + 1``
    roundings in its own dtype. Both bounds, doubled for slack.

    Example:
        >>> band_tolerance(49, np.float32) < 2e-5
        True
    """
    depth = 24 + 2 * math.log2(max(cells, 2))
    seed = depth * 2.0**-24
    blas = (cells + 2) * _UNIT_ROUNDOFF[np.dtype(mean_dtype)]
    return 2.0 * (seed + blas)


if _HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
    def _count_rows(a_rows, b_cols, mean, first, tol, values, unsure, r0, r1):  # pragma: no cover
        """Rows ``r0..r1`` of a tile: column ``j`` from ``first[i]`` on (the upper triangle)."""
        cells = a_rows.shape[1]
        ncols = b_cols.shape[0]
        one = np.float32(1.0)
        zero = np.float32(0.0)
        up = 1.0 + tol
        down = 1.0 - tol
        i = r0
        while i < r1:
            step = min(4, r1 - i)
            start = first[i]
            a0 = a_rows[i]
            a1 = a_rows[i + 1] if step > 1 else a0
            a2 = a_rows[i + 2] if step > 2 else a0
            a3 = a_rows[i + 3] if step > 3 else a0
            for j in range(start, ncols):
                b = b_cols[j]
                m0 = np.float64(mean[i, j])
                m1 = np.float64(mean[i + 1, j]) if step > 1 else m0
                m2 = np.float64(mean[i + 2, j]) if step > 2 else m0
                m3 = np.float64(mean[i + 3, j]) if step > 3 else m0
                h0, l0 = np.float32(m0 * up), np.float32(m0 * down)
                h1, l1 = np.float32(m1 * up), np.float32(m1 * down)
                h2, l2 = np.float32(m2 * up), np.float32(m2 * down)
                h3, l3 = np.float32(m3 * up), np.float32(m3 * down)
                c0 = c1 = c2 = c3 = zero
                d0 = d1 = d2 = d3 = zero
                for k in range(cells):
                    bk = b[k]
                    p0 = a0[k] * bk
                    p1 = a1[k] * bk
                    p2 = a2[k] * bk
                    p3 = a3[k] * bk
                    c0 += one if p0 > h0 else zero
                    d0 += one if p0 >= l0 else zero
                    c1 += one if p1 > h1 else zero
                    d1 += one if p1 >= l1 else zero
                    c2 += one if p2 > h2 else zero
                    d2 += one if p2 >= l2 else zero
                    c3 += one if p3 > h3 else zero
                    d3 += one if p3 >= l3 else zero
                values[i, j] = np.float64(c0) / cells
                unsure[i, j] = (c0 != d0) and m0 > 0.0
                if step > 1:
                    values[i + 1, j] = np.float64(c1) / cells
                    unsure[i + 1, j] = (c1 != d1) and m1 > 0.0
                if step > 2:
                    values[i + 2, j] = np.float64(c2) / cells
                    unsure[i + 2, j] = (c2 != d2) and m2 > 0.0
                if step > 3:
                    values[i + 3, j] = np.float64(c3) / cells
                    unsure[i + 3, j] = (c3 != d3) and m3 > 0.0
            i += step


def _row_chunks(first: np.ndarray, ncols: int, parts: int) -> list[tuple[int, int]]:
    """Cut the rows into ``parts`` runs of about equal pair counts (the triangle is uneven)."""
    work = np.cumsum(np.maximum(ncols - first, 0))
    total = int(work[-1]) if len(work) else 0
    if parts <= 1 or total == 0:
        return [(0, len(first))]
    cuts = np.searchsorted(work, np.linspace(0, total, parts + 1)[1:-1])
    bounds = [0, *sorted({int(c) + 1 for c in cuts if 0 < c + 1 < len(first)}), len(first)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def count_tile(
    a_rows: np.ndarray,
    b_cols: np.ndarray,
    mean: np.ndarray,
    row0: int,
    col0: int,
    tol: float,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts above the band and near-tie flags for a tile of pairs (column >= row).

    Args:
        a_rows: ``(b, F)`` float32 normalised maps of the tile's rows.
        b_cols: ``(c, F)`` float32 normalised maps of its columns.
        mean: ``(b, c)`` pair means (any float dtype).
        row0, col0: global index of the first row and column (the triangle is global).
        tol: :func:`band_tolerance`.
        threads: threads to split the rows over (the kernel releases the GIL).

    Returns:
        ``(values, unsure)``: the similarities (count / F, float64, as the seed divides) and
        the near-tie flags, both ``(b, c)``; entries below the diagonal are unspecified.
    """
    b, c = len(a_rows), len(b_cols)
    values = np.zeros((b, c), np.float64)
    unsure = np.zeros((b, c), np.bool_)
    # first column of each row: its diagonal (a group of four rows starts at its first row's)
    first = np.clip(row0 + np.arange(b) - col0, 0, c).astype(np.int64)
    chunks = _row_chunks(first, c, threads)
    args = (a_rows, b_cols, mean, first, float(tol), values, unsure)
    if len(chunks) == 1:
        _count_rows(*args, 0, b)
    else:
        with concurrent.futures.ThreadPoolExecutor(len(chunks)) as pool:
            list(pool.map(lambda rows: _count_rows(*args, *rows), chunks))
    return values, unsure
