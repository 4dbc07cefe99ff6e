"""The cache folder and the ``.npz`` cache of converted arrays."""

from __future__ import annotations

import logging
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .._io import atomic_write
from ._dataset import DataWarning

log = logging.getLogger("convscope.data")

CACHE_VERSION = 1


def cache_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder convscope keeps data in: ``data_dir``, else ``$CONVSCOPE_DATA``, else
    ``~/.cache/convscope``.

    Example:
        >>> cache_dir("/tmp/data")
        PosixPath('/tmp/data')
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("CONVSCOPE_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "convscope"


def read_npz(
    path: Path, expect: dict[str, tuple[tuple[int, ...], str]]
) -> dict[str, np.ndarray] | None:
    """Read a convscope cache file, or ``None`` when it is missing, stale or unreadable.

    ``expect`` maps each key to its ``(shape, dtype)``; a shape entry of -1 matches any size.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if int(npz["cache_version"]) != CACHE_VERSION:
                return None
            out = {k: npz[k] for k in expect}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        warnings.warn(
            f"ignoring unreadable cache file {path} ({exc}); rebuilding it",
            DataWarning,
            stacklevel=3,
        )
        return None
    for key, (shape, dtype) in expect.items():
        arr = out[key]
        ok = arr.dtype == np.dtype(dtype) and arr.ndim == len(shape)
        if not ok or any(want not in (-1, got) for want, got in zip(shape, arr.shape, strict=True)):
            log.info("cache file %s has unexpected %s; rebuilding it", path, key)
            return None
    return out


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically; a folder that is not writable only warns."""
    payload = dict(arrays, cache_version=np.array(CACHE_VERSION))
    try:
        atomic_write(path, lambda f: np.savez_compressed(f, **payload))
    except OSError as exc:
        warnings.warn(
            f"could not write cache file {path} ({exc}); set CONVSCOPE_DATA or data_dir to a "
            "writable folder to make later loads fast",
            DataWarning,
            stacklevel=3,
        )
    else:
        log.info("cached %s", path)
