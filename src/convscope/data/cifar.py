"""CIFAR-10 from its python batches: a folder of them, or the MD5-verified archive.

The batches are pickles; they are read with :func:`convscope.data._pickle.safe_load`,
which refuses anything but plain containers and arrays.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import numpy as np

from ..errors import FormatError
from . import _download
from ._cache import cache_dir
from ._dataset import Dataset, from_official
from ._pickle import safe_load, safe_load_path

CIFAR10 = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]

CIFAR_ARCHIVE = _download.Remote(
    "cifar-10-python.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/",),
    "md5",
    "c58f30108f718f92721af3b95e74349a",
)
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"


def _cifar_batch_folder(folder: Path) -> Path | None:
    for candidate in (folder / CIFAR_FOLDER, folder):
        if all((candidate / f).is_file() for f in (*CIFAR_TRAIN, CIFAR_TEST)):
            return candidate
    return None


def _cifar_source(data_dir: str | os.PathLike | None) -> tuple[str, Path] | None:
    """``("folder", path)`` or ``("archive", path)`` where CIFAR-10 already is, else None."""
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    roots.append(cache_dir(data_dir) / "cifar10")
    for root in roots:
        found = _cifar_batch_folder(root)
        if found is not None:
            return "folder", found
    for root in roots:
        if (root / CIFAR_ARCHIVE.filename).is_file():
            return "archive", root / CIFAR_ARCHIVE.filename
    return None


def cifar_available(data_dir: str | os.PathLike | None = None) -> bool:
    """Whether CIFAR-10 (batch folder or archive) is on disk already."""
    return _cifar_source(data_dir) is not None


def _text(value: object) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _parse_cifar_batch(obj: object, source: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(obj, dict):
        raise FormatError(f"{source}: expected a dict, got {type(obj).__name__}")
    batch = {_text(k): v for k, v in obj.items()}
    if "data" not in batch or "labels" not in batch:
        raise FormatError(f"{source}: a CIFAR-10 batch needs 'data' and 'labels' entries")
    data, labels = batch["data"], np.asarray(batch["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise FormatError(f"{source}: 'data' must be a uint8 (N, 3072) array")
    if data.shape[1] != 3 * 32 * 32:
        raise FormatError(f"{source}: 'data' rows have {data.shape[1]} values, expected 3072")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise FormatError(f"{source}: expected {len(data)} integer labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CIFAR10)):
        raise FormatError(f"{source}: labels outside 0..9")
    # rows hold the red, green and blue 32x32 planes in turn: exactly NCHW
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _cifar_names(meta: object, source: str) -> list[str]:
    if not isinstance(meta, dict):
        raise FormatError(f"{source}: expected a dict")
    names = {_text(k): v for k, v in meta.items()}.get("label_names")
    if not isinstance(names, list) or len(names) != len(CIFAR10):
        raise FormatError(f"{source}: 'label_names' must list 10 class names")
    return [_text(n) for n in names]


def load_cifar10(
    data_dir: str | os.PathLike | None,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    download: bool,
    description: str = "",
) -> Dataset:
    """CIFAR-10 from its python batches (a folder, or the MD5-verified archive)."""
    source = _cifar_source(data_dir)
    if source is None:
        folder = cache_dir(data_dir) / "cifar10"
        hint = (
            f"Alternatively extract it so that {folder / CIFAR_FOLDER} holds "
            f"{', '.join((*CIFAR_TRAIN, CIFAR_TEST))} (and batches.meta)."
        )
        got = _download.ensure_files(
            "cifar10", folder, [CIFAR_ARCHIVE], download=download, hint=hint
        )
        source = ("archive", got[CIFAR_ARCHIVE.filename])
    kind, path = source
    blobs: dict[str, object] = {}
    if kind == "folder":
        for f in (*CIFAR_TRAIN, CIFAR_TEST, "batches.meta"):
            if (path / f).is_file():
                blobs[f] = safe_load_path(path / f, gzipped=False)
    else:
        try:
            with tarfile.open(path, "r:gz") as tar:
                for f in (*CIFAR_TRAIN, CIFAR_TEST, "batches.meta"):
                    try:
                        member = tar.extractfile(f"{CIFAR_FOLDER}/{f}")
                    except KeyError:
                        member = None
                    if member is None:
                        if f == "batches.meta":
                            continue
                        raise FormatError(f"{path} has no {CIFAR_FOLDER}/{f}")
                    blobs[f] = safe_load(io.BytesIO(member.read()), source=f"{path}:{f}")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise FormatError(f"{path} is not a readable .tar.gz ({exc}); delete it") from exc
    train = [_parse_cifar_batch(blobs[f], f"{path}/{f}") for f in CIFAR_TRAIN]
    x_train = np.concatenate([b[0] for b in train])
    y_train = np.concatenate([b[1] for b in train])
    test = _parse_cifar_batch(blobs[CIFAR_TEST], f"{path}/{CIFAR_TEST}")
    names = (
        _cifar_names(blobs["batches.meta"], f"{path}/batches.meta")
        if "batches.meta" in blobs
        else CIFAR10
    )
    return from_official(
        "cifar10",
        names,
        (x_train, y_train),
        test,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        description=description,
    )
