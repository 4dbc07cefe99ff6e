"""``folder:PATH`` — an image folder with one subfolder per class."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ConvscopeError, ShapeError
from ._dataset import Dataset, DataWarning, from_pool
from .images import _SIXTEEN_BIT, pixels, resize


def _class_dirs(root: Path) -> list[Path]:
    if not root.exists():
        raise ConvscopeError(f"image folder {root} does not exist; check the path in folder:PATH")
    if not root.is_dir():
        raise ConvscopeError(f"folder:PATH needs a folder, but {root} is a file")
    dirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    if not dirs:
        raise ConvscopeError(
            f"image folder {root} has no class subfolders; put each class's images in "
            f"{root}/<class name>/"
        )
    return dirs


def load_folder(
    path: str | os.PathLike,
    *,
    input_shape: tuple[int, int, int] | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    strict: bool = False,
) -> Dataset:
    """Load an image folder with one subfolder per class (class names: sorted subfolder names).

    Every image is converted to ``C`` channels and resized (PIL bilinear) to ``(H, W)`` of
    ``input_shape``; without it, to the first image's size, with 3 channels unless every
    image is grayscale. Conversion follows :func:`convscope.data.read_images`: EXIF
    orientation applied, transparency composited on white, 16-bit images scaled by 65535. Files that PIL cannot read are reported by name in one
    :class:`DataWarning` (or a :class:`ConvscopeError` when ``strict``). Hidden files
    (names starting with ``.``) are skipped.

    Raises:
        ConvscopeError: a missing folder, no class subfolders, an empty class folder,
            unreadable files with ``strict=True``.
        ShapeError: ``input_shape`` asks for a channel count other than 1 or 3.

    Example:
        >>> ds = load_folder("photos/", input_shape=(3, 150, 150))  # doctest: +SKIP
        >>> ds.class_names  # doctest: +SKIP
        ['cats', 'dogs', 'horses']
    """
    root = Path(path).expanduser()
    if input_shape is not None and input_shape[0] not in (1, 3):
        raise ShapeError(
            f"folder:{root} can make 1- or 3-channel images, but input_shape is {input_shape}"
        )
    class_dirs = _class_dirs(root)
    size: tuple[int, int] | None = None  # (W, H) for PIL
    if input_shape is not None:
        size = (input_shape[2], input_shape[1])
    images: list[np.ndarray] = []
    labels: list[int] = []
    bad: list[str] = []
    empty: list[str] = []
    all_gray = True
    channels = 3 if input_shape is None else int(input_shape[0])
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith("."))
        count = 0
        for file in files:
            try:
                with Image.open(file) as img:
                    img.load()
                    gray = img.mode in ("1", "L", "LA", "I", "F", *_SIXTEEN_BIT)
                    # 16-bit images scaled by 65535, transparency on white (data.images)
                    arr = pixels(ImageOps.exif_transpose(img) or img, channels)
                if size is None:
                    size = (arr.shape[1], arr.shape[0])
                arr = resize(arr, size[1], size[0], "fit")
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
                bad.append(f"{file} ({type(exc).__name__}: {exc})")
                continue
            except ConvscopeError as exc:  # no rule maps its bands to the channels asked
                bad.append(f"{file} ({exc})")
                continue
            all_gray &= gray
            # kept as 8 bits: a folder of photos takes a quarter of the memory of floats
            images.append(np.round(arr * 255.0).clip(0, 255).astype(np.uint8))
            labels.append(label)
            count += 1
        if count == 0:
            empty.append(class_dir.name)
    if bad:
        message = f"{len(bad)} unreadable file(s) in {root}:\n  " + "\n  ".join(bad)
        if strict:
            raise ConvscopeError(message + "\nremove or fix them, or load with strict=False")
        warnings.warn(message + "\nthey were left out", DataWarning, stacklevel=3)
    if empty:
        raise ConvscopeError(
            f"class folder(s) {', '.join(repr(e) for e in empty)} in {root} have no readable "
            "images; add images or remove the folder(s)"
        )
    stacked = np.stack(images).transpose(0, 3, 1, 2)  # NHWC -> NCHW
    if input_shape is None and all_gray:
        stacked = stacked[:, :1]
    stacked = np.ascontiguousarray(stacked)
    c, h, w = stacked.shape[1:]
    return from_pool(
        f"folder:{root}",
        [d.name for d in class_dirs],
        stacked,
        np.asarray(labels, np.int64),
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        description=(
            f"{len(labels)} images ({c}x{h}x{w}) in {len(class_dirs)} classes from {root}"
        ),
        metadata={"source": str(root), "unreadable": len(bad)},
    )
