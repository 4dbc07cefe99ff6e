"""Data sets for convscope: built-in sets, image folders and a synthetic shapes set.

Every loader returns a :class:`Dataset` of NCHW float32 images in [0, 1] and int64 labels,
split three ways (train/val/test) deterministically from ``seed``.

Example:
    >>> import convscope.data as data
    >>> ds = data.load("mnist5k")  # doctest: +SKIP
    >>> ds.x_train.shape, ds.class_names[:3]  # doctest: +SKIP
    ((3500, 1, 28, 28), ['0', '1', '2'])
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import UnknownNameError
from . import builtin
from ._cache import cache_dir
from ._dataset import (
    DataNotFoundError,
    Dataset,
    DataWarning,
    check_fits,
    check_fractions,
    class_examples,
    normalize_input_shape,
    stratified_split,
)
from ._idx import parse_idx, read_idx
from ._pickle import RestrictedUnpickler, safe_load
from .folder import load_folder
from .shapes import SHAPE_CLASSES, make_shapes3

FOLDER_PREFIX = "folder:"

_DESCRIPTIONS = {
    **builtin.DESCRIPTIONS,
    "shapes3": ("synthetic: 900 generated circles, squares and triangles (3x150x150 RGB); offline"),
    "folder:PATH": "your image folder, one subfolder per class; resized to input_shape",
}
_SHAPES: dict[str, tuple[int, int, int] | None] = {
    **builtin.SHAPES,
    "shapes3": (3, 150, 150),
    "folder:PATH": None,
}


def available() -> dict[str, str]:
    """Names of the data sets :func:`load` knows, with a one-line description each.

    Example:
        >>> "mnist5k" in available()
        True
    """
    return dict(_DESCRIPTIONS)


def image_shape(name: str) -> tuple[int, int, int] | None:
    """The ``(C, H, W)`` of a built-in data set without loading it (None for ``folder:``).

    Raises:
        UnknownNameError: ``name`` is not a known data set.

    Example:
        >>> image_shape("cifar10")
        (3, 32, 32)
    """
    if name.startswith(FOLDER_PREFIX):
        return None
    if name not in _SHAPES:
        raise UnknownNameError("data set", [name], list(_DESCRIPTIONS))
    return _SHAPES[name]


def is_offline_available(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether :func:`load` can return ``name`` without a download.

    Example:
        >>> is_offline_available("shapes3")
        True
    """
    root = cache_dir(data_dir)
    if name in ("mnist5k", "shapes3", "folder:PATH") or name.startswith(FOLDER_PREFIX):
        return True
    if name == "animals10k":
        try:
            builtin.animal_shape_files()
        except DataNotFoundError:
            return (root / "animals10k.npz").is_file()
        return True
    if name in ("mnist", "fashion_mnist"):
        return builtin.idx_available(name, data_dir)
    if name == "cifar10":
        return builtin.cifar_available(data_dir)
    raise UnknownNameError("data set", [name], list(_DESCRIPTIONS))


def is_cached(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether ``name``'s converted arrays or downloaded files are in the cache folder.

    Example:
        >>> is_cached("shapes3")  # generated every time, never cached
        False
    """
    root = cache_dir(data_dir)
    if name in ("mnist5k", "animals10k"):
        return (root / f"{name}.npz").is_file()
    if name in ("mnist", "fashion_mnist", "cifar10"):
        return is_offline_available(name, data_dir)
    if name in _DESCRIPTIONS or name.startswith(FOLDER_PREFIX):
        return False
    raise UnknownNameError("data set", [name], list(_DESCRIPTIONS))


def load(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
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
    if not isinstance(name, str):
        raise UnknownNameError("data set", [repr(name)], list(_DESCRIPTIONS))
    shape = normalize_input_shape(input_shape)
    check_fractions(val_fraction, test_fraction)
    split = {"seed": seed, "val_fraction": val_fraction, "test_fraction": test_fraction}
    if name.startswith(FOLDER_PREFIX):
        path = name[len(FOLDER_PREFIX) :]
        if not path:
            raise UnknownNameError("data set", [name], list(_DESCRIPTIONS))
        return load_folder(path, input_shape=shape, strict=strict, **split)
    if name not in builtin.DESCRIPTIONS and name != "shapes3":
        raise UnknownNameError("data set", [name], list(_DESCRIPTIONS))
    # fail before loading anything when the shapes cannot match
    check_fits(_SHAPES[name], shape, name)  # type: ignore[arg-type]
    root = cache_dir(data_dir)
    if name == "shapes3":
        ds = make_shapes3(**split)
    elif name == "mnist5k":
        ds = builtin.load_mnist5k(root, **split)
    elif name == "animals10k":
        ds = builtin.load_animals10k(root, **split)
    elif name == "mnist":
        ds = builtin.load_mnist(data_dir, download=download, **split)
    elif name == "fashion_mnist":
        ds = builtin.load_fashion_mnist(data_dir, download=download, **split)
    else:
        ds = builtin.load_cifar10(data_dir, download=download, **split)
    check_fits(ds.input_shape, shape, name)
    return ds


__all__ = [
    "SHAPE_CLASSES",
    "DataNotFoundError",
    "DataWarning",
    "Dataset",
    "RestrictedUnpickler",
    "available",
    "cache_dir",
    "check_fits",
    "class_examples",
    "image_shape",
    "is_cached",
    "is_offline_available",
    "load",
    "load_folder",
    "make_shapes3",
    "parse_idx",
    "read_idx",
    "safe_load",
    "stratified_split",
]
