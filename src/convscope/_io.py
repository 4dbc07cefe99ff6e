"""Atomic file writes: a temporary file in the same folder, then ``os.replace``."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fileobj)`` on a temporary file and move it over ``path`` when it succeeds.

    A crash or exception leaves any earlier file at ``path`` untouched.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
        >>> _ = atomic_write(p, lambda f: f.write(b"hi"))
        >>> p.read_bytes()
        b'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _read_umask() -> int:
    """The process umask, read once at import (``os.umask`` can only read it by setting it)."""
    try:  # Linux: read it without changing it
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
"""The umask at import time: new files get ``0o666 & ~_UMASK``, like ``open()`` gives."""


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def safe_filename(text: str) -> str:
    """A file-name-safe form of ``text`` (a layer name); distinct texts stay distinct.

    Characters other than letters, digits, ``-``, ``_`` and ``.`` become ``_``; when that
    changed anything, a short hash of the original is appended, so ``a/b`` and ``a_b``
    do not overwrite each other's files.

    Example:
        >>> safe_filename("conv2d_1"), safe_filename("a/b") != safe_filename("a_b")
        ('conv2d_1', True)
    """
    import hashlib
    import re

    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip(".") or "_"
    if slug != text:
        slug += "-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]
    return slug


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy values made plain and NaN/inf floats made ``None`` (JSON has neither).

    Example:
        >>> import numpy as np
        >>> json_safe({"a": [1.0, float("nan")], "b": np.float32(2.5), "c": np.arange(2)})
        {'a': [1.0, None], 'b': 2.5, 'c': [0, 1]}
    """
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically; numpy values allowed, NaN/inf become null."""
    return write_text(
        path, json.dumps(json_safe(obj), indent=2, default=_json_default, allow_nan=False) + "\n"
    )


PNG_OPTIONS: dict[str, Any] = {"pil_kwargs": {"compress_level": 1}}
"""PNG encoding convscope uses: zlib level 1 is about 3x faster than the default 6 for
files about 20% larger, the better trade for figures made by the dozen."""


def save_figure(fig: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically; the format comes from ``path``'s suffix."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    kwargs.setdefault("bbox_inches", "tight")
    if fmt == "png":
        for key, value in PNG_OPTIONS.items():
            kwargs.setdefault(key, value)
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, **kwargs))
