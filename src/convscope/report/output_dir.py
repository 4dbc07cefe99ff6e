"""Where a report is written: built beside its folder, swapped in whole, one writer at a time.

:func:`staged` gives the builder a temporary folder beside the target
(``.NAME.build-PID``); when the build succeeds the temporary and the target are swapped
(one ``renameat2(RENAME_EXCHANGE)`` on Linux, two renames elsewhere) and the old report is
deleted. So a reader never sees a half-built report, no figure of an earlier build
survives a rebuild, and a crash or Ctrl-C leaves the old report as it was. A lock file
(``.NAME.lock`` holding the writer's process id) refuses a second concurrent build;
temporaries and locks of processes that no longer run are cleaned first.

A folder is only replaced when it is a convscope report (or empty): ``--out`` a folder
of other files is refused rather than swapped away. :func:`single_file_html` turns a
built report into one HTML file with the stylesheet and every figure inlined.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from .._io import check_writable_dir, is_stale
from ..errors import ConvscopeError

__all__ = ["is_replaceable", "lock_path", "single_file_html", "staged", "staging_path"]

_MARKS = ("build", "old")


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file of a report folder (or file): ``.NAME.lock`` beside it.

    Example:
        >>> lock_path("runs/a/report").as_posix()
        'runs/a/.report.lock'
    """
    target = Path(target)
    return target.parent / f".{target.name}.lock"


def staging_path(target: str | os.PathLike, mark: str = "build", pid: int | None = None) -> Path:
    """The temporary folder beside ``target``: ``.NAME.build-PID`` (or ``.old-PID``).

    Example:
        >>> staging_path("out/report", pid=7).as_posix()
        'out/.report.build-7'
    """
    target = Path(target)
    return target.parent / f".{target.name}.{mark}-{os.getpid() if pid is None else pid}"


def is_replaceable(target: str | os.PathLike) -> bool:
    """Whether ``target`` may be replaced by a new report: missing, a folder without files, or a
    convscope report (its ``metrics.json`` names a convscope version; a single-file report
    says convscope in its head).

    Example:
        >>> is_replaceable("/nonexistent/report")
        True
    """
    target = Path(target)
    if not target.exists():
        return True
    if target.is_file():
        with open(target, "rb") as handle:
            return b"convscope" in handle.read(4096)
    if not any(path.is_file() or path.is_symlink() for path in target.rglob("*")):
        return True  # no file at all (empty folders): nothing of anyone's to lose
    try:
        metrics = json.loads((target / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and "convscope_version" in metrics


def _check_target(target: Path, single_file: bool) -> None:
    if target.resolve() == Path.cwd().resolve():
        raise ConvscopeError(
            f"--out {target} is the current folder; a report replaces its folder whole: "
            "write it into a folder of its own (e.g. --out report)"
        )
    if target.exists() and target.is_dir() == single_file:
        want = "an .html file" if single_file else "a folder"
        raise ConvscopeError(
            f"--out {target} exists and is not {want}; choose another path"
            + (" (--single-file writes one .html file)" if single_file else "")
        )
    if not is_replaceable(target):
        raise ConvscopeError(
            f"--out {target} holds files that are not a convscope report; a report replaces "
            "its folder whole, so choose a new or empty folder"
        )
    check_writable_dir(target.parent, what=f"--out {target} (built beside it)")


def clean_stale(target: str | os.PathLike) -> list[Path]:
    """Remove the build folders and lock a killed report build left beside ``target``; an
    old report set aside by a build killed mid-swap is put back.

    Example:
        >>> clean_stale("/nonexistent/report")
        []
    """
    target = Path(target)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.({'|'.join(_MARKS)})-(\d+)$")
    removed = []
    try:
        entries = sorted(target.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or not is_stale(int(match[2]), entry):
            continue
        if match[1] == "old" and not target.exists():
            os.rename(entry, target)  # killed between the two renames: the old report back
            continue
        _remove(entry)
        removed.append(entry)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` for the build; a live holder is an error naming it."""
    lock = lock_path(target)
    for _attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text(encoding="ascii").strip() or 0)
            except (OSError, ValueError):
                pid = None
            if pid is not None and pid and not is_stale(pid, lock):
                raise ConvscopeError(
                    f"another convscope (process {pid}) is writing the report {target}; wait "
                    f"for it to finish, or delete {lock} if none runs"
                ) from None
            _remove(lock)  # its writer is gone
    else:  # pragma: no cover - lost a race twice
        raise ConvscopeError(f"could not take the lock {lock}; try again")
    try:
        os.write(fd, str(os.getpid()).encode("ascii"))
        os.close(fd)
        yield
    finally:
        _remove(lock)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False when unsupported."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return result == 0


def _swap_in(built: Path, target: Path) -> None:
    """Put ``built`` at ``target``; the old report (if any) is deleted afterwards."""
    if not target.exists():
        os.rename(built, target)
        return
    if target.is_dir() and built.is_dir() and _exchange(built, target):
        _remove(built)  # now the old report
        return
    old = staging_path(target, "old")
    os.rename(target, old)
    os.rename(built, target)
    _remove(old)


@contextlib.contextmanager
def staged(target: str | os.PathLike, *, single_file: bool = False) -> Iterator[Path]:
    """Build a report in a temporary folder and swap it in at ``target`` when done.

    Checks first (before any compute): the target is a report, an empty folder or
    missing; its parent is writable; no other build holds the lock. On success the
    temporary folder becomes ``target``; with ``single_file`` it becomes one HTML file
    at ``target`` (:func:`single_file_html`). On any error the temporary is removed and
    ``target`` is as it was.

    Raises:
        ConvscopeError: the target is not replaceable, not writable, or locked.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
        >>> with staged(out) as folder:
        ...     _ = (folder / "metrics.json").write_text('{"convscope_version": "0"}')
        >>> sorted(p.name for p in out.iterdir())
        ['metrics.json']
    """
    target = Path(target)
    _check_target(target, single_file)
    clean_stale(target)
    with _locked(target):
        building = staging_path(target)
        _remove(building)
        building.mkdir(parents=True)
        try:
            yield building
            if single_file:
                from .._io import write_text

                write_text(target, single_file_html(building))
                _remove(building)
            else:
                _swap_in(building, target)
        except BaseException as exc:
            _remove(building)
            if isinstance(exc, OSError) and str(exc.filename or "").startswith(str(building)):
                exc.filename = str(target) + str(exc.filename)[len(str(building)) :]
            raise


_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".css": "text/css"}


def single_file_html(folder: str | os.PathLike, page: str = "index.html") -> str:
    """The report in ``folder`` as one HTML document: stylesheet and figures inlined.

    Every ``src="figures/..."`` becomes a ``data:`` URI (nothing is lazy-loaded: the
    bytes are already there); the "open full size" links, which a browser will not open
    as ``data:`` URIs, are dropped; the stylesheet becomes a ``<style>`` element.

    Raises:
        ConvscopeError: the page names a file the folder does not hold.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "figures").mkdir()
        >>> _ = (d / "figures" / "a.svg").write_text("<svg/>")
        >>> _ = (d / "index.html").write_text('<a href="figures/a.svg"><img src="figures/a.svg" loading="lazy"></a>')
        >>> single_file_html(d)
        '<a><img src="data:image/svg+xml;base64,PHN2Zy8+"></a>'
    """
    folder = Path(folder)
    html = (folder / page).read_text(encoding="utf-8")

    def data_uri(match: re.Match) -> str:
        path = folder / match[2]
        if not path.is_file():
            raise ConvscopeError(f"the report names {match[2]}, which is not in {folder}")
        mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'{match[1]}="data:{mime};base64,{encoded}"'

    def style(match: re.Match) -> str:
        css = (folder / match[1]).read_text(encoding="utf-8").replace("</", "<\\/")
        return f"<style>\n{css}</style>"

    html = re.sub(r'<link rel="stylesheet" href="([^":]+)">', style, html)
    html = re.sub(r'\s+href="(?:figures|static)/[^"]*"', "", html)
    html = re.sub(r'\s+loading="lazy"', "", html)
    return re.sub(r'(src)="((?:figures|static)/[^"]+)"', data_uri, html)
