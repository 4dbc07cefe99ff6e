"""Exceptions raised by convscope.

Every error convscope raises on bad input is a :class:`ConvscopeError` whose message
names the bad thing and how to fix it, so callers can catch one type.
"""

from __future__ import annotations

from collections.abc import Iterable


class ConvscopeError(Exception):
    """Base class of every error convscope raises on bad input."""


class UnknownNameError(ConvscopeError, KeyError):
    """A layer, model, data-set or metric name that does not exist.

    Example:
        >>> raise UnknownNameError("layer", ["typo"], ["conv2d", "dense"])
        Traceback (most recent call last):
        ...
        convscope.errors.UnknownNameError: unknown layer 'typo'; available: conv2d, dense
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
        return str(self.args[0])


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
