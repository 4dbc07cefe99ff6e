"""The one batching helper every loop over a data set goes through."""

from __future__ import annotations

from collections.abc import Iterator

from .errors import ConvscopeError


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """Yield slices that cover ``range(n)`` in order, ``batch_size`` at a time.

    Example:
        >>> list(batch_slices(5, 2))
        [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConvscopeError(f"batch_size must be a positive integer, got {batch_size!r}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
