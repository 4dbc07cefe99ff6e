"""Exceptions raised by convscope.

Every error convscope raises on bad input is a :class:`ConvscopeError` whose message
names the bad thing and how to fix it, so callers can catch one type.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable, Sequence


class ConvscopeError(Exception):
    """Base class of every error convscope raises on bad input."""


def did_you_mean(word: str, choices: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to ``word``, else ``""``.

    Example:
        >>> did_you_mean("simlarity", ["similarity", "stats"])
        " (did you mean 'similarity'?)"
        >>> did_you_mean("zzz", ["similarity"])
        ''
    """
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=2, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


class UnknownNameError(ConvscopeError, KeyError):
    """A layer, model, data-set or metric name that does not exist.

    Example:
        >>> raise UnknownNameError("layer", ["typo"], ["conv2d", "dense"])
        Traceback (most recent call last):
        ...
        convscope.errors.UnknownNameError: unknown layer 'typo'; available: conv2d, dense
        >>> str(UnknownNameError("layer", ["conv2"], ["conv2d", "dense"]))
        "unknown layer 'conv2'; available: conv2d, dense; did you mean 'conv2d'?"
    """

    def __init__(self, what: str, missing: Iterable[str], available: Iterable[str]) -> None:
        self.what = what
        self.missing = list(missing)
        self.available = list(available)
        plural = "s" if len(self.missing) > 1 else ""
        names = ", ".join(repr(m) for m in self.missing)
        super().__init__(
            f"unknown {what}{plural} {names}; available: {', '.join(map(str, self.available))}"
        )

    def __str__(self) -> str:  # KeyError would repr() the message
        text = str(self.args[0])
        if "did you mean" in text:
            return text
        hints = [did_you_mean(m, self.available).strip(" ()") for m in self.missing[:3]]
        hint = "; ".join(h for h in hints if h)  # also when a caller reworded args[0]
        return text + (f"; {hint}" if hint else "")


class ShapeError(ConvscopeError, ValueError):
    """An array whose shape does not fit: the message names both shapes."""


class FormatError(ConvscopeError, ValueError):
    """A file that is not what it claims to be (not a convscope model, truncated, corrupt)."""


class BackendMissingError(ConvscopeError, ImportError):
    """An optional backend (keras, onnxruntime) is not installed; names the pip extra."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; install it with: pip install 'convscope[{extra}]'"
        )


class ClassMismatchError(ConvscopeError):
    """A data set whose classes are not the ones the model was trained on."""


def check_same_classes(
    model_classes: Sequence[str] | None,
    data_classes: Sequence[str] | None,
    *,
    model: str,
    data: str,
    force: bool = False,
) -> None:
    """Refuse to analyse a model on a data set with other classes (unless ``force``).

    Labels of another data set would be read with the model's class names: animals
    counted as digits. Nothing is checked when either side names no classes.

    Raises:
        ClassMismatchError: the names differ; the message shows both and the fix.

    Example:
        >>> check_same_classes(["0", "1"], ["0", "1"], model="run", data="mnist5k")
        >>> check_same_classes(["0", "1"], ["cat", "dog"], model="run", data="pets")
        Traceback (most recent call last):
        ...
        convscope.errors.ClassMismatchError: run was trained on 2 classes (0, 1) but data set pets has 2 other classes (cat, dog); analyse it on the data it was trained on, or pass --force to read pets's labels with run's class names
    """
    if force or not model_classes or not data_classes:
        return
    mine, theirs = [str(c) for c in model_classes], [str(c) for c in data_classes]
    if mine == theirs:
        return

    def shown(names: list[str]) -> str:
        return ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")

    raise ClassMismatchError(
        f"{model} was trained on {len(mine)} classes ({shown(mine)}) but data set {data} has "
        f"{len(theirs)} other classes ({shown(theirs)}); analyse it on the data it was "
        f"trained on, or pass --force to read {data}'s labels with {model}'s class names"
    )


_OS_FIXES = {
    errno.EACCES: ("permission denied", "choose a folder you can write to, or fix its permissions"),
    errno.EPERM: ("operation not permitted", "choose a folder you can write to"),
    errno.EROFS: ("the file system is read-only", "write somewhere else"),
    errno.ENOSPC: (
        "no space left on the device",
        "free some space or write somewhere else; files written before are unchanged",
    ),
    errno.EDQUOT: (
        "disk quota exceeded",
        "free some space or write somewhere else; files written before are unchanged",
    ),
    errno.ENOTDIR: ("a part of this path is a file, not a folder", "choose another path"),
    errno.EEXIST: ("it exists as a file", "remove it or choose another path"),
    errno.EISDIR: ("it is a folder, not a file", "name a file"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) and run again"),
}


def describe_os_error(exc: OSError) -> str:
    """One line for a failed file operation: the path, what went wrong, and the fix.

    Example:
        >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device", "out/a.png"))
        'cannot write out/a.png: no space left on the device; free some space or write somewhere else; files written before are unchanged'
        >>> describe_os_error(PermissionError(errno.EACCES, "Permission denied", "/root/x"))
        'cannot write /root/x: permission denied; choose a folder you can write to, or fix its permissions'
    """
    path = exc.filename if exc.filename is not None else None
    if path is not None and not isinstance(path, str):
        path = os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else str(path)
    what, fix = _OS_FIXES.get(exc.errno or -1, (exc.strerror or str(exc), ""))
    verb = "read" if exc.errno in (errno.ENOENT, errno.EISDIR) else "write"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG):
        verb = "use"
    where = f"cannot {verb} {path}" if path else "a file operation failed"
    return f"{where}: {what}" + (f"; {fix}" if fix else "")
