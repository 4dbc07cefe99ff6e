"""Data sets for convscope: built-in sets, image folders and a synthetic shapes set.

:func:`read_images` reads image files (PNG, JPEG, BMP, TIFF, WebP) into the batch a
model takes. Every loader returns a :class:`Dataset` of NCHW float32 images in [0, 1] and int64 labels,
split three ways (train/val/test) deterministically from ``seed``. The data sets are
listed once, in the registry :data:`DATASETS` (one :class:`DatasetEntry` each).

Example:
    >>> import convscope.data as data
    >>> ds = data.load("mnist5k")  # doctest: +SKIP
    >>> ds.x_train.shape, ds.class_names[:3]  # doctest: +SKIP
    ((3500, 1, 28, 28), ['0', '1', '2'])
"""

from __future__ import annotations

from ._cache import cache_dir
from ._dataset import (
    DataNotFoundError,
    Dataset,
    DataWarning,
    check_fits,
    class_examples,
    stratified_split,
)
from ._idx import parse_idx, read_idx
from ._pickle import RestrictedUnpickler, safe_load
from .folder import load_folder
from .images import PREPROCESS, RESIZE_MODES, ImageReadError, read_image, read_images
from .registry import (
    DATASETS,
    FOLDER_PREFIX,
    DatasetEntry,
    LoadRequest,
    available,
    image_shape,
    is_cached,
    is_offline_available,
    load,
    lookup,
    offline,
)
from .shapes import SHAPE_CLASSES, make_shapes3

__all__ = [
    "DATASETS",
    "FOLDER_PREFIX",
    "PREPROCESS",
    "RESIZE_MODES",
    "SHAPE_CLASSES",
    "DataNotFoundError",
    "DataWarning",
    "Dataset",
    "DatasetEntry",
    "ImageReadError",
    "LoadRequest",
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
    "lookup",
    "make_shapes3",
    "offline",
    "parse_idx",
    "read_idx",
    "read_image",
    "read_images",
    "safe_load",
    "stratified_split",
]
