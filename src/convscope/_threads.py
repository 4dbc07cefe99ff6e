"""How many threads a computation gets: one for small work, more only where it pays.

On a machine shared with other processes, torch's intra-op threads spin at every barrier
waiting for a thread whose core is busy elsewhere: a call made of many small ops can run
10-100x slower on two threads than on one. So convscope picks the thread count per call
from the size of the work, never above what the user allows (``torch.set_num_threads`` or
``OMP_NUM_THREADS``, which torch reads at start), and never above the CPUs this process may
run on.

Example:
    >>> threads_for(1_000)
    1
    >>> with torch_threads(1):
    ...     pass
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

SMALL_WORK = 32_000_000
"""Below this many elementary operations a computation runs on one thread."""

WORK_PER_THREAD = 16_000_000
"""Each extra thread needs at least this much work to pay for its start and barrier."""

_USER_THREADS: list[int] = []
"""torch's thread count before convscope's outermost :func:`torch_threads` changed it."""


def cpu_budget() -> int:
    """Threads the user allows: torch's setting, capped by the CPUs this process may use.

    Example:
        >>> cpu_budget() >= 1
        True
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    user = _USER_THREADS[0] if _USER_THREADS else torch.get_num_threads()
    return max(1, min(cpus, user))


def threads_for(work: float) -> int:
    """Threads for a computation of ``work`` elementary operations (multiply-adds, cells).

    Example:
        >>> threads_for(10**9) == cpu_budget()
        True
    """
    if work < SMALL_WORK:
        return 1
    return max(1, min(cpu_budget(), int(work // WORK_PER_THREAD)))


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with torch's intra-op pool at ``count`` threads, then restore it.

    ``count`` is capped by :func:`cpu_budget` (what the user allowed before convscope's
    outermost call changed anything), so nested calls may raise it back up to that.

    Example:
        >>> before = torch.get_num_threads()
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    old = torch.get_num_threads()
    count = max(1, min(int(count), cpu_budget()))
    _USER_THREADS.append(_USER_THREADS[0] if _USER_THREADS else old)
    try:
        if count == old:
            yield
            return
        torch.set_num_threads(count)
        try:
            yield
        finally:
            torch.set_num_threads(old)
    finally:
        _USER_THREADS.pop()


F = TypeVar("F", bound=Callable[..., Any])


def small_ops_on_one_thread(fn: F) -> F:
    """Run ``fn`` with torch on one thread; its heavy steps ask for more with :func:`torch_threads`.

    A call made of many small torch ops (reductions, masks, indexing) gains nothing from a
    second thread and can lose 10-100x to barrier spinning when the machine is busy.

    Example:
        >>> @small_ops_on_one_thread
        ... def threads():
        ...     return torch.get_num_threads()
        >>> threads()
        1
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch_threads(1):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
