"""A restricted unpickler that loads numpy arrays and plain containers and nothing else."""

from __future__ import annotations

import gzip
import io
import os
import pickle
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import FormatError


def _reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct as fn  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct as fn
    return fn


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """What Python 3 protocol 0-2 pickles use to rebuild ``bytes``; only latin-1 is allowed."""
    if encoding.replace("_", "-").lower() not in ("latin1", "latin-1"):
        raise FormatError(f"refusing _codecs.encode with encoding {encoding!r} in a pickle")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_encode,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("builtins", "list"): list,
    ("builtins", "dict"): dict,
    ("builtins", "tuple"): tuple,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` admits only what numpy arrays and containers need.

    Allowed globals: ``numpy.core.multiarray._reconstruct`` (and ``numpy._core``'s),
    ``numpy.ndarray``, ``numpy.dtype``, the builtin container types and a latin-1-only
    ``_codecs.encode`` (how protocol 2 stores ``bytes``). Anything else
    (``os.system``, ``builtins.eval``, ...) raises :class:`FormatError` naming it.

    Example:
        >>> import io, pickle, numpy as np
        >>> blob = pickle.dumps({"x": np.arange(3)}, protocol=4)
        >>> RestrictedUnpickler(io.BytesIO(blob)).load()["x"]
        array([0, 1, 2])
    """

    source = "pickle"

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # Python 2 and protocol-2 pickles
            module = "builtins"
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise FormatError(
                f"refusing to load global '{module}.{name}' from {self.source}: convscope only "
                "loads numpy arrays and plain containers from pickles; the file is corrupt or "
                "not the data set it claims to be"
            ) from None


def safe_load(handle: IO[bytes], source: str = "pickle", encoding: str = "latin1") -> Any:
    """Unpickle ``handle`` with :class:`RestrictedUnpickler`.

    ``encoding="latin1"`` reads Python 2 pickles (CIFAR batches) as numpy expects.

    Raises:
        FormatError: a refused global, or a truncated/corrupt pickle; names ``source``.

    Example:
        >>> import io, pickle
        >>> safe_load(io.BytesIO(pickle.dumps([1, 2], protocol=4)))
        [1, 2]
    """
    unpickler = RestrictedUnpickler(handle, encoding=encoding)
    unpickler.source = source
    try:
        return unpickler.load()
    except FormatError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OSError, gzip.BadGzipFile) as exc:  # fmt: skip
        raise FormatError(f"cannot read {source}: {type(exc).__name__}: {exc}") from exc


def safe_load_path(path: str | os.PathLike, *, gzipped: bool | None = None) -> Any:
    """Unpickle the file at ``path`` (gzip-compressed when it starts with the gzip magic).

    Example:
        >>> obj = safe_load_path("data_batch_1")  # doctest: +SKIP
    """
    path = Path(path)
    raw = path.read_bytes()
    if gzipped is None:
        gzipped = raw[:2] == b"\x1f\x8b"
    if gzipped:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise FormatError(f"cannot read {path}: not a valid gzip file ({exc})") from exc
    return safe_load(io.BytesIO(raw), source=str(path))
