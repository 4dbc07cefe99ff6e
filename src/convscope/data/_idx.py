"""A strict reader for the IDX format of MNIST and Fashion-MNIST (optionally gzipped)."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import FormatError

# IDX type codes -> big-endian numpy dtypes
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(raw: bytes, source: str = "IDX data", ndim: int | None = None) -> np.ndarray:
    """Parse the bytes of an IDX file into an array (native byte order).

    Layout: two zero bytes, a type code, the number of dimensions, one big-endian uint32
    per dimension, then the data. The size must match exactly.

    Raises:
        FormatError: bad magic number, unexpected dimensionality, or a size mismatch.

    Example:
        >>> raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
        >>> parse_idx(raw)
        array([7, 8, 9], dtype=uint8)
    """
    if len(raw) < 4:
        raise FormatError(f"{source} is truncated: {len(raw)} bytes is too short for an IDX header")
    zero, code, dims = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or code not in _DTYPES or dims < 1:
        raise FormatError(
            f"{source} is not an IDX file: bad magic number 0x{raw[:4].hex()} "
            "(expected 0x0000TTDD with a known type TT)"
        )
    if ndim is not None and dims != ndim:
        raise FormatError(f"{source} has {dims} dimension(s), expected {ndim}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise FormatError(f"{source} is truncated inside its header")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">u4", count=dims, offset=4))
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual != expected:
        what = "truncated" if actual < expected else "longer than its header says"
        raise FormatError(
            f"{source} is {what}: header says shape {shape} ({expected} data bytes) but the "
            f"file has {actual}; delete it and load again to re-download"
        )
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file, gunzipping it when its name ends in ``.gz``.

    Raises:
        FormatError: a corrupt gzip stream or IDX content (see :func:`parse_idx`).

    Example:
        >>> labels = read_idx("train-labels-idx1-ubyte.gz", ndim=1)  # doctest: +SKIP
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise FormatError(
                f"{path} is not a complete gzip file ({exc}); delete it and load again"
            ) from exc
    return parse_idx(raw, source=str(path), ndim=ndim)
