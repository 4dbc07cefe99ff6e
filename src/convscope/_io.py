"""Atomic file writes: a temporary file in the same folder, then ``os.replace``.

Also the checks every verb that writes makes before any compute
(:func:`check_writable_dir`: the folder can be made and written, and the device has
room) and the cleanup of the temporaries a killed process leaves behind
(:func:`clean_stale_temporaries`: their names carry the writer's process id).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .errors import ConvscopeError, describe_os_error

MIN_FREE_BYTES = 1 << 20
"""A folder on a device with less free space than this is refused before any compute."""

STALE_AFTER_S = 24 * 3600.0
"""A temporary whose writer cannot be identified counts as stale after this long."""

_TEMP = re.compile(r"^\..+\.(?P<pid>\d+)-[^./]*\.tmp$")


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
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent
    )
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        with os.fdopen(fd, "wb") as handle:
            _fill_temporary(handle, write)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename in (None, tmp):
            exc.filename = str(path)  # name the file being written, not the temporary
        raise
    return path


def _fill_temporary(handle: IO[bytes], write: Callable[[IO[bytes]], Any]) -> None:
    """Write a temporary file's bytes and flush them to the disk: the one place every
    convscope file is written through (tests make it raise ``ENOSPC`` to fill the disk)."""
    write(handle)
    handle.flush()
    os.fsync(handle.fileno())


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (our own counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    return True


def is_stale(pid: int | None, path: str | os.PathLike) -> bool:
    """Whether a temporary of process ``pid`` (None: unknown) at ``path`` is left over.

    Example:
        >>> is_stale(os.getpid(), "."), is_stale(None, ".")
        (False, False)
    """
    if pid is not None:
        return not _pid_alive(pid)
    try:
        return time.time() - os.stat(path).st_mtime > STALE_AFTER_S
    except OSError:
        return False


def clean_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporaries of :func:`atomic_write` that a killed process left in ``folder``.

    A temporary is stale when the process that made it (its id is in the name) no longer
    runs. Returns the files removed; a folder that does not exist has none.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".a.json.999999999-x1.tmp").write_bytes(b"")
        >>> [p.name for p in clean_stale_temporaries(folder)]
        ['.a.json.999999999-x1.tmp']
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        if is_stale(int(match["pid"]), entry.path):
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


def free_bytes(folder: str | os.PathLike) -> int:
    """Free bytes on the device holding ``folder`` (for the user, not root's reserve)."""
    return int(shutil.disk_usage(folder).free)


def check_writable_dir(path: str | os.PathLike, what: str = "the output folder") -> Path:
    """Check, before any compute, that ``path`` can be made (or is) a folder we can write.

    The nearest existing folder on the way is probed by creating and deleting a file in
    it (permission bits say nothing for root or read-only mounts); a device with less
    than :data:`MIN_FREE_BYTES` free is refused too. Nothing is left behind.

    Raises:
        ConvscopeError: a file is in the way, the folder is not writable, or the device is
            full; the message names the path and the fix.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> check_writable_dir(folder / "new" / "deeper") == folder / "new" / "deeper"
        True
        >>> _ = (folder / "f").write_text("x")
        >>> check_writable_dir(folder / "f")
        Traceback (most recent call last):
        ...
        convscope.errors.ConvscopeError: the output folder ... is a file, not a folder; remove it or choose another path
    """
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.is_symlink():  # a dangling link: writing there would fail later
            raise ConvscopeError(f"{what} {path}: {probe} is a broken symbolic link")
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = path if probe == path else f"{path} (its part {probe})"
        raise ConvscopeError(
            f"{what} {where} is a file, not a folder; remove it or choose another path"
        )
    try:
        fd, name = tempfile.mkstemp(prefix=f".convscope-probe.{os.getpid()}-", dir=probe)
        os.close(fd)
        os.unlink(name)
        free = free_bytes(probe)
    except OSError as exc:
        if exc.filename is None or str(exc.filename).startswith(str(probe)):
            exc.filename = str(path)
        raise ConvscopeError(f"{what}: {describe_os_error(exc)}") from None
    if free < MIN_FREE_BYTES:
        full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        raise ConvscopeError(f"{what}: {describe_os_error(full)} ({free} bytes free)")
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
