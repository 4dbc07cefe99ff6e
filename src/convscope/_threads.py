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
import os
from collections.abc import Iterator

import torch

SMALL_WORK = 4_000_000
"""Below this many elementary operations a computation runs on one thread."""

WORK_PER_THREAD = 2_000_000
"""Each extra thread needs at least this much work to pay for its start and barrier."""


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
    return max(1, min(cpus, torch.get_num_threads()))


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

    Example:
        >>> before = torch.get_num_threads()
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    old = torch.get_num_threads()
    count = max(1, min(int(count), old))
    if count == old:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)
