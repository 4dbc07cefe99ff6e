"""The :class:`Dataset` container, the stratified three-way split and shape checks."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConvscopeError, ShapeError, UnknownNameError
from ..validation import check_int, check_real

SPLITS = ("train", "val", "test")


class DataWarning(UserWarning):
    """Something about a data set the caller should know (unreadable files, ignored options)."""


class DataNotFoundError(ConvscopeError, FileNotFoundError):
    """A data set's files are not on disk and could not be downloaded.

    The message names every missing file and the folder to put it in.
    """


@dataclass
class Dataset:
    """An image-classification data set split three ways.

    Images are NCHW ``float32`` in ``[0, 1]``; labels are ``int64`` class indices into
    ``class_names``.

    Example:
        >>> import numpy as np
        >>> x = np.zeros((2, 1, 4, 4), np.float32)
        >>> y = np.array([0, 1])
        >>> ds = Dataset("toy", ["a", "b"], x, y, x, y, x, y, synthetic=True)
        >>> ds.input_shape, ds.num_classes
        ((1, 4, 4), 2)
        >>> ds.split("val")[0].shape
        (2, 1, 4, 4)
    """

    name: str
    class_names: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    synthetic: bool = False
    description: str = ""
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.class_names = [str(c) for c in self.class_names]
        shape = None
        for split in SPLITS:
            x = getattr(self, f"x_{split}")
            y = getattr(self, f"y_{split}")
            if not isinstance(x, np.ndarray) or x.ndim != 4:
                raise ShapeError(
                    f"data set {self.name}: x_{split} must be an (N, C, H, W) array, "
                    f"got shape {getattr(x, 'shape', type(x).__name__)}"
                )
            if not isinstance(y, np.ndarray) or y.shape != (len(x),):
                raise ShapeError(
                    f"data set {self.name}: y_{split} must have shape ({len(x)},) to match "
                    f"x_{split}, got {getattr(y, 'shape', type(y).__name__)}"
                )
            if shape is None:
                shape = x.shape[1:]
            elif x.shape[1:] != shape:
                raise ShapeError(
                    f"data set {self.name}: x_{split} has images {tuple(x.shape[1:])} "
                    f"but x_train has {tuple(shape)}"
                )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The image shape ``(C, H, W)``."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        """The number of classes (``len(class_names)``)."""
        return len(self.class_names)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` of split ``name`` (``"train"``, ``"val"`` or ``"test"``).

        Raises:
            UnknownNameError: ``name`` is not one of the three splits.

        Example:
            >>> x, y = ds.split("test")  # doctest: +SKIP
        """
        if name not in SPLITS:
            raise UnknownNameError("split", [name], SPLITS)
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def sizes(self) -> dict[str, int]:
        """The number of images in each split, e.g. ``{"train": 3500, "val": 500, "test": 1000}``."""
        return {s: int(len(getattr(self, f"y_{s}"))) for s in SPLITS}


def check_fits(
    dataset_shape: Sequence[int], model_shape: Sequence[int] | None, dataset_name: str
) -> None:
    """Raise :class:`ShapeError` unless images of ``dataset_shape`` fit ``model_shape``.

    Both shapes are ``(C, H, W)``; ``model_shape=None`` accepts anything.

    Raises:
        ShapeError: the shapes differ; the message names both.

    Example:
        >>> check_fits((1, 28, 28), (1, 28, 28), "mnist5k")
        >>> check_fits((1, 28, 28), (3, 32, 32), "mnist5k")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        convscope.errors.ShapeError: data set mnist5k has images (1, 28, 28) but the model takes (3, 32, 32); ...
    """
    if model_shape is None:
        return
    have = tuple(int(v) for v in dataset_shape)
    want = tuple(int(v) for v in model_shape)
    if have != want:
        raise ShapeError(
            f"data set {dataset_name} has images {have} but the model takes {want}; "
            "pick a data set with that image shape, or use folder:PATH, which resizes"
        )


def normalize_input_shape(input_shape: Sequence[int] | None) -> tuple[int, int, int] | None:
    """Validate an ``input_shape`` option: ``None`` or three positive ints ``(C, H, W)``."""
    if input_shape is None:
        return None
    try:
        shape = tuple(check_int(v, "input_shape", minimum=1) for v in input_shape)
    except (TypeError, ConvscopeError):
        shape = ()
    if len(shape) != 3:
        raise ShapeError(f"input_shape must be three positive ints (C, H, W), got {input_shape!r}")
    return shape  # type: ignore[return-value]


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Raise :class:`ConvscopeError` unless both fractions are in [0, 1) and sum below 1.

    Example:
        >>> check_fractions(0.1, 0.2)
        >>> check_fractions(0.1, 1.0)
        Traceback (most recent call last):
        ...
        convscope.errors.ConvscopeError: test_fraction must be a number in [0, 1), got 1.0
    """
    for label, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= check_real(value, label) < 1.0:  # check_real refuses bools and NaN
            raise ConvscopeError(f"{label} must be a number in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1.0:
        raise ConvscopeError(
            f"val_fraction + test_fraction must be below 1 (got {val_fraction} + {test_fraction}); "
            "leave some images for training"
        )


def stratified_split(
    y: np.ndarray,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices ``(train, val, test)`` of a deterministic split stratified per class.

    Each class contributes ``round(n * fraction)`` images (at least one when the fraction
    is positive) to val and test, so every class is in every non-empty split. The result
    depends only on ``y`` and ``seed``; each split's indices come in shuffled order.

    Raises:
        ConvscopeError: a class has too few images to appear in every split.

    Example:
        >>> y = np.repeat(np.arange(2), 10)
        >>> tr, va, te = stratified_split(y, 0, 0.1, 0.2)
        >>> len(tr), len(va), len(te)
        (14, 2, 4)
    """
    check_fractions(val_fraction, test_fraction)
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
        n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
        if n - n_test - n_val < 1:
            label = class_names[int(cls)] if class_names is not None else int(cls)
            raise ConvscopeError(
                f"class {label!r} has only {n} image(s), too few for a train/val/test split "
                f"with val_fraction={val_fraction} and test_fraction={test_fraction}; add "
                "images, or set a fraction to 0 (train --val-fraction 0 / --test-fraction 0; "
                "val_fraction=0 / test_fraction=0 in Python)"
            )
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    out = []
    for split in SPLITS:
        joined = np.concatenate(parts[split]) if parts[split] else np.zeros(0, np.int64)
        out.append(joined[rng.permutation(len(joined))].astype(np.int64))
    return out[0], out[1], out[2]


def halve(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of ``y`` into two stratified halves ``(val, test)``, deterministic from seed.

    Example:
        >>> va, te = halve(np.repeat(np.arange(2), 4), 0)
        >>> len(va), len(te)
        (4, 4)
    """
    rng = np.random.default_rng(seed)
    first, second = [], []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        idx = idx[rng.permutation(len(idx))]
        half = len(idx) // 2
        first.append(idx[:half])
        second.append(idx[half:])
    a = np.concatenate(first) if first else np.zeros(0, np.int64)
    b = np.concatenate(second) if second else np.zeros(0, np.int64)
    return a[rng.permutation(len(a))].astype(np.int64), b[rng.permutation(len(b))].astype(np.int64)


def to_float(images: np.ndarray) -> np.ndarray:
    """Convert uint8 images (0..255) to float32 in [0, 1]."""
    if images.dtype != np.uint8:
        raise ConvscopeError(f"expected uint8 images, got {images.dtype}")
    return images.astype(np.float32) / np.float32(255.0)


def from_pool(
    name: str,
    class_names: Sequence[str],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    synthetic: bool = False,
    description: str = "",
    metadata: dict | None = None,
) -> Dataset:
    """Build a :class:`Dataset` from one pool of images (uint8 or float NCHW) by a stratified split."""
    labels = np.asarray(labels, dtype=np.int64)
    tr, va, te = stratified_split(labels, seed, val_fraction, test_fraction, class_names)

    def conv(idx: np.ndarray) -> np.ndarray:
        part = images[idx]
        return to_float(part) if part.dtype == np.uint8 else part.astype(np.float32, copy=False)

    meta = {"split": f"stratified val {val_fraction}, test {test_fraction}, seed {seed}"}
    meta.update(metadata or {})
    return Dataset(
        name,
        list(class_names),
        conv(tr),
        labels[tr],
        conv(va),
        labels[va],
        conv(te),
        labels[te],
        synthetic=synthetic,
        description=description,
        metadata=meta,
    )


def from_official(
    name: str,
    class_names: Sequence[str],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    description: str = "",
) -> Dataset:
    """Build a :class:`Dataset` from an official train/test pair (uint8 NCHW).

    The official train set stays train; the official test set is halved per class into val
    and test. ``val_fraction``/``test_fraction`` do not apply; non-default values warn.
    """
    if (val_fraction, test_fraction) != (0.1, 0.2):
        warnings.warn(
            f"data set {name} has an official test set, which is halved into val and test; "
            "val_fraction and test_fraction are ignored",
            DataWarning,
            stacklevel=4,
        )
    x_tr, y_tr = train
    x_te, y_te = test
    va, te = halve(y_te, seed)
    y_tr = y_tr.astype(np.int64)
    y_te = y_te.astype(np.int64)
    return Dataset(
        name,
        list(class_names),
        to_float(x_tr),
        y_tr,
        to_float(x_te[va]),
        y_te[va],
        to_float(x_te[te]),
        y_te[te],
        description=description,
        metadata={"split": f"official train; official test halved into val/test, seed {seed}"},
    )


def class_examples(x: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    """The first image of each class, in class order; a class with no image gets zeros.

    Example:
        >>> import numpy as np
        >>> class_examples(np.arange(4.0).reshape(4, 1, 1, 1), np.array([1, 0, 1, 0]), 3)[:, 0, 0, 0]
        array([1., 0., 0.])
    """
    x = np.asarray(x)
    y = np.asarray(y)
    examples = np.zeros((num_classes, *x.shape[1:]), dtype=x.dtype)
    for k in range(num_classes):
        hits = np.flatnonzero(y == k)
        if len(hits):
            examples[k] = x[hits[0]]
    return examples
