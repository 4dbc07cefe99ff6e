"""How requests name things: by small integer ids and fixed words, never by paths.

Every part of a request that picks something (an image, a layer, a channel, a class, a
run, a norm, a metric) goes through :func:`index` or :func:`choice` here: digits only
(at most nine), within range, or one word of a fixed list. A path (``../x``, ``/etc``)
cannot pass either, so no request can name a file: traversal is impossible by
construction, not by filtering.

Example:
    >>> index("12", 64, "channel")
    12
    >>> index("../etc", 64, "channel")
    Traceback (most recent call last):
    ...
    convscope.serve.ids.RequestError: channel must be a whole number 0..63, got '../etc'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConvscopeError

__all__ = ["SOURCES", "ImageRef", "RequestError", "choice", "image_ref", "index"]

_DIGITS = re.compile(r"[0-9]{1,9}")
SOURCES = ("split", "upload")
"""Where an image comes from: the data set's split, or the uploads of this session."""


class RequestError(ConvscopeError):
    """A request the explorer refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = int(status)


def index(text: str | int, count: int, what: str) -> int:
    """``text`` as an index into ``count`` things, else a :class:`RequestError`.

    Out of range answers 404 (no such thing); anything not digits answers 400.

    Example:
        >>> index(3, 4, "layer")
        3
        >>> index("4", 4, "layer")
        Traceback (most recent call last):
        ...
        convscope.serve.ids.RequestError: no layer 4: there are 4 (0..3)
    """
    raw = str(text)
    if not _DIGITS.fullmatch(raw):
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise RequestError(f"{what} must be a whole number 0..{max(count - 1, 0)}, got {shown!r}")
    value = int(raw)
    if not 0 <= value < count:
        raise RequestError(f"no {what} {value}: there are {count} (0..{count - 1})", 404)
    return value


def choice(text: str | None, options: Sequence[str], what: str, default: str | None = None) -> str:
    """``text`` if it is one of ``options`` (``default`` when ``None``), else a 400.

    Example:
        >>> choice(None, ("map", "layer"), "norm", default="map")
        'map'
    """
    if text is None and default is not None:
        return default
    if text not in options:
        shown = str(text)[:40]
        raise RequestError(f"{what} must be one of {', '.join(options)}; got {shown!r}")
    return str(text)


@dataclass(frozen=True)
class ImageRef:
    """An image the explorer can show: ``("split", i)`` or ``("upload", i)``."""

    source: str
    index: int

    @property
    def key(self) -> str:
        """``split/12``: how the page names it."""
        return f"{self.source}/{self.index}"


def image_ref(source: str, text: str | int, count: int) -> ImageRef:
    """Check a request's image: its source word and its index (``count`` of that source).

    Example:
        >>> image_ref("split", "7", 10).key
        'split/7'
    """
    src = choice(source, SOURCES, "image source")
    what = "image of the split" if src == "split" else "uploaded image"
    return ImageRef(src, index(text, count, what))
