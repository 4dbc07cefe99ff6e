"""Checksum-verified downloads with an offline error that names every missing file."""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .._io import atomic_write
from ..errors import ConvscopeError, FormatError
from ._dataset import DataNotFoundError

log = logging.getLogger("convscope.data")

CHUNK = 1 << 20
TIMEOUT_S = 60


@dataclass(frozen=True)
class Remote:
    """A file to fetch: its name, the mirrors' base URLs, the hash algorithm and digest."""

    filename: str
    mirrors: tuple[str, ...]
    algorithm: str
    digest: str


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of the file at ``path``."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, dest: Path, algorithm: str, digest: str) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying its ``algorithm`` hex ``digest``.

    A failed download or a checksum mismatch leaves nothing at ``dest``.

    Raises:
        OSError: the download failed (offline, HTTP error).
        FormatError: the downloaded bytes have the wrong checksum.
    """

    def write(handle: IO[bytes]) -> None:
        h = hashlib.new(algorithm)
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310
            for block in iter(lambda: response.read(CHUNK), b""):
                h.update(block)
                handle.write(block)
        if h.hexdigest() != digest:
            raise FormatError(
                f"{url} has {algorithm} {h.hexdigest()}, expected {digest}; the download is "
                "corrupt or the mirror changed"
            )

    log.info("downloading %s -> %s", url, dest)
    return atomic_write(dest, write)


def _check_cache_writable(dataset: str, folder: Path) -> None:
    """Refuse a download into a cache folder that cannot be written, naming the folder.

    Raises:
        DataNotFoundError: ``folder`` cannot be made or written (one message, not one
            failed download per mirror).
    """
    from .._io import check_writable_dir

    try:
        check_writable_dir(folder, what="the data cache folder")
    except ConvscopeError as exc:
        raise DataNotFoundError(
            f"data set {dataset} needs a download, but {exc}. Point --data-dir (data_dir=) or "
            "CONVSCOPE_DATA at a writable folder"
        ) from None


def ensure_files(
    dataset: str, folder: Path, remotes: Sequence[Remote], *, download: bool, hint: str = ""
) -> dict[str, Path]:
    """Make sure every file of ``remotes`` is in ``folder``, downloading missing ones.

    Files already there are used as they are. Returns ``{filename: path}``.

    Raises:
        DataNotFoundError: some files are missing and ``download`` is off or failed; the
            message names each missing file, the folder to put it in and the URLs tried.
    """
    paths: dict[str, Path] = {}
    missing: list[tuple[Remote, str]] = []
    for remote in remotes:
        dest = folder / remote.filename
        if dest.is_file():
            paths[remote.filename] = dest
            continue
        if not download:
            missing.append(
                (remote, "downloads are off: --offline, CONVSCOPE_OFFLINE=1 or download=False")
            )
            continue
        _check_cache_writable(dataset, folder)
        errors = []
        for base in remote.mirrors:
            try:
                fetch(base + remote.filename, dest, remote.algorithm, remote.digest)
            except (OSError, FormatError) as exc:
                errors.append(f"{base + remote.filename}: {exc}")
                continue
            paths[remote.filename] = dest
            break
        else:
            missing.append((remote, "; ".join(errors) or "no mirror"))
    if missing:
        lines = [
            f"data set {dataset}: {len(missing)} file(s) missing from {folder} and not "
            "downloadable:"
        ]
        for remote, why in missing:
            lines.append(
                f"  {remote.filename} ({remote.algorithm} {remote.digest}) from "
                f"{remote.mirrors[0] + remote.filename} [{why}]"
            )
        lines.append(
            f"Put these files in {folder} (or point --data-dir, data_dir= or CONVSCOPE_DATA "
            "at a folder that holds them) and run again."
        )
        if hint:
            lines.append(hint)
        raise DataNotFoundError("\n".join(lines))
    return paths
