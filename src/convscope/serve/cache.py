"""A small thread-safe LRU cache bounded by bytes: the explorer's per-image captures and
rendered PNGs.

Example:
    >>> cache = LRUCache(max_bytes=100)
    >>> cache.get_or_make("a", lambda: b"x" * 60)
    b'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
    >>> _ = cache.get_or_make("b", lambda: b"y" * 60)  # "a" is evicted: 120 bytes > 100
    >>> "a" in cache, "b" in cache, cache.bytes
    (False, True, 60)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np

__all__ = ["LRUCache", "size_of"]


def size_of(value: Any) -> int:
    """Bytes a cached value holds: arrays, bytes, and dicts/lists/tuples of them.

    Example:
        >>> size_of({"a": np.zeros(4, np.float32), "b": b"12"})
        18
    """
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)
    if isinstance(value, Mapping):
        return sum(size_of(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(size_of(v) for v in value)
    return 64  # a small object: counted, so the item limit still binds


class LRUCache:
    """Least-recently-used cache holding at most ``max_bytes`` (a single bigger item is
    returned but not kept).

    Args:
        max_bytes: the bound on the bytes of the values kept (see :func:`size_of`).

    Example:
        >>> cache = LRUCache(1 << 20)
        >>> cache.get_or_make(("img", 3), lambda: np.zeros(10)).shape
        (10,)
        >>> cache.hits, cache.misses
        (0, 1)
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value of ``key`` (marked as used), else ``default``."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return default
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, value: Any) -> Any:
        """Keep ``value`` under ``key``, evicting the least recently used; returns it."""
        size = size_of(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            if size > self.max_bytes:
                return value
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes and self._items:
                _key, (_value, dropped) = self._items.popitem(last=False)
                self.bytes -= dropped
        return value

    def get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The cached value of ``key``, or ``make()`` kept under it."""
        missing = object()
        value = self.get(key, missing)
        if value is not missing:
            return value
        with self._lock:
            self.misses += 1
        return self.put(key, make())

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._items.clear()
            self.bytes = 0
