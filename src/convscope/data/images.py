"""Images from files (seeds 003, 004): read, orient, convert, resize and normalise with Pillow.

Seed 004 loads a photo with ``load_img(path, target_size=(150, 150))`` and divides by 255;
:func:`read_images` does that for any file Pillow reads (PNG, JPEG, BMP, TIFF, WebP...):

* EXIF orientation is applied first (a phone photo is upright);
* transparency (RGBA, LA, palette with a transparent colour) is composited on white;
* 16-bit images are scaled by 65535 (not clipped to white), float images kept as they are;
* grey images are repeated into three channels for an RGB model, colour images turned
  into luminance for a grey one; CMYK and YCbCr are converted to RGB. Anything else (a
  4-band image for a 3-channel model, LAB...) has no rule and is refused by name;
* ``resize``: ``"fit"`` stretches to the model's size (what ``load_img`` does),
  ``"crop"`` scales the short side and crops the centre, ``"pad"`` scales the long side
  and pads the rest with ``pad_value``;
* ``mean``/``std`` normalise per channel after scaling to [0, 1], for models trained on
  normalised inputs (:data:`PREPROCESS` has ImageNet's).

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from PIL import Image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey16.png"
    >>> Image.fromarray(np.full((4, 6), 65535, np.uint16)).save(path)
    >>> x = read_images([path], (3, 2, 3))  # 3 channels, 2x3
    >>> x.shape, float(x.min())  # white, not clipped
    ((1, 3, 2, 3), 1.0)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ConvscopeError, ShapeError

__all__ = [
    "PREPROCESS",
    "RESIZE_MODES",
    "ImageReadError",
    "normalize",
    "pixels",
    "read_image",
    "read_images",
    "resize",
]

RESIZE_MODES = ("fit", "crop", "pad")

PREPROCESS: dict[str, tuple[tuple[float, ...] | None, tuple[float, ...] | None]] = {
    "none": (None, None),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
"""Named ``(mean, std)`` normalisations, per channel, of images scaled to [0, 1]."""

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
_EIGHT_BIT = ("1", "L", "P", "PA", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr")
_ALPHA = ("RGBA", "LA", "PA")


class ImageReadError(ConvscopeError):
    """Image files that could not be read; ``errors`` holds ``(path, reason)`` for each."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(f"{path}: {reason}" for path, reason in self.errors))


def _open(path: Path) -> Image.Image:
    """The decoded image, or :class:`ImageReadError` naming the file and the reason."""
    if not path.exists():
        raise ImageReadError([(str(path), "no such file")])
    if path.is_dir():
        raise ImageReadError([(str(path), "is a folder, not an image file")])
    try:
        with Image.open(path) as img:
            img.load()
            return ImageOps.exif_transpose(img) or img
    except UnidentifiedImageError:
        reason = "not an image format Pillow reads (PNG, JPEG, BMP, TIFF, WebP, GIF...)"
    except (OSError, SyntaxError, ValueError) as exc:
        reason = f"corrupt or truncated image ({exc})"
    except Image.DecompressionBombError as exc:
        reason = f"too many pixels to open safely ({exc})"
    raise ImageReadError([(str(path), reason)])


def _no_rule(img: Image.Image, channels: int) -> str:
    bands = len(img.getbands())
    return (
        f"a {img.mode} image ({bands} band{'s' if bands > 1 else ''}) has no rule that maps it "
        f"to the model's {channels} channel{'s' if channels > 1 else ''}"
    )


def pixels(img: Image.Image, channels: int) -> np.ndarray:
    """One image as float32 (H, W, ``channels``) in [0, 1]: composited, converted, scaled.

    Raises:
        ConvscopeError: no rule maps the image's bands to ``channels`` (the message says why).

    Example:
        >>> from PIL import Image
        >>> pixels(Image.new("RGBA", (2, 1), (0, 0, 0, 0)), 3).tolist()  # transparent: white
        [[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]
    """
    mode = img.mode
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        grey = np.asarray(img).astype(np.float32)
        if mode != "F":
            grey = np.clip(grey / 65535.0, 0.0, 1.0)
        if channels not in (1, 3):
            raise ConvscopeError(_no_rule(img, channels))
        return np.repeat(grey[:, :, None], channels, axis=2)
    if mode not in _EIGHT_BIT:
        raise ConvscopeError(_no_rule(img, channels))
    if channels == 4:
        if mode not in ("RGBA", "CMYK"):
            raise ConvscopeError(_no_rule(img, channels))
        return np.asarray(img, dtype=np.float32) / 255.0
    if channels not in (1, 3):
        raise ConvscopeError(_no_rule(img, channels))
    if mode in _ALPHA or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    img = img.convert("L" if channels == 1 else "RGB")
    array = np.asarray(img, dtype=np.float32) / 255.0
    return array[:, :, None] if array.ndim == 2 else array


def _resize_bands(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, C) float32 resized to ``size`` = (W, H), bilinear, band by band."""
    if (array.shape[1], array.shape[0]) == size:
        return array
    bands = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(array[:, :, c]), "F").resize(size, Image.BILINEAR)
        )
        for c in range(array.shape[2])
    ]
    return np.stack(bands, axis=2)


def resize(
    array: np.ndarray, height: int, width: int, mode: str = "fit", pad_value: float = 0.0
) -> np.ndarray:
    """(H, W, C) pixels to ``height`` x ``width``: stretched, centre-cropped or padded.

    Example:
        >>> resize(np.ones((2, 4, 1), np.float32), 4, 4, "pad")[:, :, 0].tolist()
        [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    """
    if mode not in RESIZE_MODES:
        raise ConvscopeError(f"resize={mode!r}: use one of {', '.join(RESIZE_MODES)}")
    h, w = array.shape[:2]
    if mode == "fit":
        return _resize_bands(array, (width, height))
    scale = max(height / h, width / w) if mode == "crop" else min(height / h, width / w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    scaled = _resize_bands(array, (new_w, new_h))
    if mode == "crop":
        top, left = (new_h - height) // 2, (new_w - width) // 2
        return scaled[top : top + height, left : left + width]
    out = np.full((height, width, array.shape[2]), pad_value, np.float32)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top : top + new_h, left : left + new_w] = scaled
    return out


def _per_channel(value: Any, channels: int, name: str) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float32).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, channels)
    if array.size != channels or not np.isfinite(array).all():
        raise ShapeError(
            f"{name} has {array.size} values for a model with {channels} channels; give one "
            "finite number per channel (or one for all)"
        )
    return array


def read_image(
    path: str | os.PathLike,
    input_shape: Sequence[int],
    resize_mode: str = "fit",
    mean: Any = None,
    std: Any = None,
    pad_value: float = 0.0,
) -> np.ndarray:
    """One image file as the model takes it: float32 (C, H, W).

    Raises:
        ImageReadError: the file is missing, a folder, not an image, corrupt or truncated,
            or its bands do not map to ``C`` channels (the message names the file).

    Example:
        >>> read_image("photo.jpg", (3, 150, 150)).shape  # doctest: +SKIP
        (3, 150, 150)
    """
    channels, height, width = (int(d) for d in input_shape)
    path = Path(path)
    img = _open(path)
    try:
        array = pixels(img, channels)
    except ConvscopeError as exc:
        raise ImageReadError([(str(path), str(exc))]) from None
    array = resize(array, height, width, resize_mode, pad_value).transpose(2, 0, 1)
    return normalize(array, mean, std)


def normalize(images: np.ndarray, mean: Any = None, std: Any = None) -> np.ndarray:
    """``(images - mean) / std`` per channel of (C, H, W) or (N, C, H, W) float32 images.

    Raises:
        ShapeError: ``mean``/``std`` do not have one value per channel (or one for all).
        ConvscopeError: a ``std`` that is not positive.

    Example:
        >>> normalize(np.ones((2, 1, 1), np.float32), mean=0.5, std=[0.5, 0.25]).ravel().tolist()
        [1.0, 2.0]
    """
    array = np.asarray(images, dtype=np.float32)
    channels = array.shape[-3]
    mean_c, std_c = _per_channel(mean, channels, "mean"), _per_channel(std, channels, "std")
    if std_c is not None and (std_c <= 0).any():
        raise ConvscopeError(f"std must be positive, got {std_c.tolist()}")
    if mean_c is not None:
        array = array - mean_c[:, None, None]
    if std_c is not None:
        array = array / std_c[:, None, None]
    return np.ascontiguousarray(array, dtype=np.float32)


def read_images(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    input_shape: Sequence[int],
    resize: str = "fit",
    mean: Any = None,
    std: Any = None,
    *,
    pad_value: float = 0.0,
) -> np.ndarray:
    """Image files as one batch the model takes: float32 (N, C, H, W).

    Args:
        paths: image files (PNG, JPEG, BMP, TIFF, WebP, GIF... whatever Pillow reads).
        input_shape: the model's (C, H, W).
        resize: ``"fit"`` (stretch, like Keras ``load_img(target_size=...)``), ``"crop"``
            (scale the short side, crop the centre) or ``"pad"`` (scale the long side, pad
            with ``pad_value``).
        mean, std: per-channel normalisation after scaling to [0, 1] (one number, or one
            per channel); ``PREPROCESS["imagenet"]`` holds ImageNet's.
        pad_value: the value of padded pixels (before normalisation).

    Raises:
        ImageReadError: one or more files cannot be read; every one is named with its
            reason, one per line (``errors`` lists them).
        ShapeError: ``mean``/``std`` do not have one value per channel.

    Example:
        >>> x = read_images(["cat.jpg", "dog.png"], (3, 224, 224), resize="crop",
        ...                 mean=PREPROCESS["imagenet"][0], std=PREPROCESS["imagenet"][1])  # doctest: +SKIP
        >>> x.shape  # doctest: +SKIP
        (2, 3, 224, 224)
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if len(input_shape) != 3:
        raise ShapeError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    images, errors = [], []
    for path in paths:
        try:
            images.append(read_image(path, input_shape, resize, mean, std, pad_value))
        except ImageReadError as exc:
            errors += exc.errors
    if errors:
        raise ImageReadError(errors)
    if not images:
        raise ConvscopeError("no image files given")
    return np.stack(images)
