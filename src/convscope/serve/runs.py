"""Runs the explorer watches: their history, status and kept maps, re-read when they change.

A :class:`RunWatch` reads a run folder only through :class:`~convscope.runfolder.RunFolder`
(and :func:`convscope.train.tracker.load_epoch_maps`, which asks it for the file). Its
:meth:`~RunWatch.stamp` is the size and modification time of each file the explorer
reads; the page polls the stamps and re-reads a run when its stamp moves, so curves
follow ``convscope train`` epoch by epoch, and a run that finishes or restarts with
``--resume`` is simply read again.

Example:
    >>> watch = RunWatch("/nonexistent/run", 0)
    >>> watch.summary()["epochs"], watch.history() is None
    (0, True)
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import ConvscopeError
from ..runfolder import RunFolder
from ..train.tracker import EpochMaps, load_epoch_maps

__all__ = ["RunWatch", "file_stamp"]

log = logging.getLogger("convscope.serve")

Stamp = tuple[int, int] | None


def file_stamp(path: os.PathLike | str) -> Stamp:
    """``(size, mtime in ns)`` of a file, or ``None`` when it does not exist.

    Example:
        >>> file_stamp("/nonexistent") is None
        True
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (int(st.st_size), int(st.st_mtime_ns))


class RunWatch:
    """One run folder the explorer shows; re-reads what changed, keeps the last good read.

    Args:
        path: the run folder.
        run_id: its id in the page (its position on the command line).
    """

    def __init__(self, path: str | os.PathLike, run_id: int) -> None:
        self.folder = RunFolder(path)
        self.id = int(run_id)
        self.name = Path(path).resolve().name or str(path)
        self._lock = threading.Lock()
        self._history: tuple[Stamp, dict[str, list] | None] = (None, None)
        self._maps: tuple[Stamp, EpochMaps | None] = (None, None)

    def stamp(self) -> tuple[Stamp, ...]:
        """The stamps of the record, history, kept maps and weights."""
        f = self.folder
        return tuple(file_stamp(p) for p in (f.record_path, f.history_json, f.epoch_maps, f.model))

    def version(self) -> str:
        """A short fingerprint of :meth:`stamp`: it changes when any of those files does."""
        return hashlib.sha1(repr(self.stamp()).encode()).hexdigest()[:12]

    def history(self) -> dict[str, list] | None:
        """The run's history (``None`` before its first epoch); the last good read when
        the file is being replaced."""
        return self._reread("_history", self.folder.history_json, self.folder.history, "history")

    def epoch_maps(self) -> EpochMaps | None:
        """The tracker's kept maps of the run, if it keeps them."""
        return self._reread(
            "_maps", self.folder.epoch_maps, lambda: load_epoch_maps(self.folder.path),
            "epoch maps",
        )  # fmt: skip

    def _reread(self, slot: str, path: Path, load: Any, what: str) -> Any:
        """``load()`` again when ``path``'s stamp changed (None when it is gone), else the
        cached value; on a read error, the last good one with a warning."""
        stamp = file_stamp(path)
        with self._lock:
            cached_stamp, cached = getattr(self, slot)
            if stamp == cached_stamp:
                return cached
            try:
                value = load() if stamp is not None else None
            except ConvscopeError as exc:
                log.warning("keeping the last %s of %s: %s", what, self.folder.path, exc)
                return cached
            setattr(self, slot, (stamp, value))
            return value

    def status(self) -> str | None:
        """``running``, ``complete``, ``stopped early``, ``interrupted``, ``failed`` or None."""
        try:
            return self.folder.status()
        except ConvscopeError:
            return None

    def summary(self) -> dict[str, Any]:
        """``{id, name, status, epochs, version}`` for the page's poll."""
        history = self.history() or {}
        epochs = max((len(v) for v in history.values()), default=0)
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status(),
            "epochs": epochs,
            "version": self.version(),
        }
