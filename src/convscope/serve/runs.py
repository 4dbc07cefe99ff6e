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
        stamp = file_stamp(self.folder.history_json)
        with self._lock:
            if stamp is not None and stamp == self._history[0]:
                return self._history[1]
            try:
                history = self.folder.history() if stamp is not None else None
            except ConvscopeError as exc:
                log.warning("keeping the last history of %s: %s", self.folder.path, exc)
                return self._history[1]
            self._history = (stamp, history)
            return history

    def epoch_maps(self) -> EpochMaps | None:
        """The tracker's kept maps of the run, if it keeps them."""
        stamp = file_stamp(self.folder.epoch_maps)
        with self._lock:
            if stamp == self._maps[0]:
                return self._maps[1]
            try:
                kept = load_epoch_maps(self.folder.path) if stamp is not None else None
            except ConvscopeError as exc:
                log.warning("keeping the last epoch maps of %s: %s", self.folder.path, exc)
                return self._maps[1]
            self._maps = (stamp, kept)
            return kept

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
