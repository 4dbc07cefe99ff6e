"""Images users upload: capped, decoded in memory, kept in a bounded store, never written.

An upload is the raw bytes of an image file (the page posts the file itself, so no
multipart parser spools it to disk). :func:`decode_upload` refuses more than
``max_bytes``, reads the header to refuse more than ``max_pixels`` before any pixel is
decoded (Pillow's decompression-bomb guard stays on as well, its warning an error), and
turns the image into the model's input as ``convscope maps`` does
(:func:`convscope.data.read_images`' own steps, on the bytes instead of a file: EXIF
orientation applied, alpha composited on white, 16-bit scaled, converted to the model's
channels, resized to its input with ``"fit"``, values in [0, 1] like the data sets').

Example:
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("L", (40, 30), 255).save(buf, format="PNG")
    >>> decode_upload(buf.getvalue(), (1, 28, 28)).shape
    (1, 28, 28)
"""

from __future__ import annotations

import io
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..data.images import pixels, resize
from ..errors import ConvscopeError
from .ids import RequestError

__all__ = ["MAX_BYTES", "MAX_PIXELS", "Upload", "UploadStore", "decode_upload"]

MAX_BYTES = 8 * 1024 * 1024
"""Largest upload accepted (bytes of the file)."""
MAX_PIXELS = 4096 * 4096
"""Largest image accepted (width × height, read from the header before decoding)."""


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Open the image header; refuse bombs and oversize images before decoding pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RequestError(f"image refused as a decompression bomb: {exc}", 413) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise RequestError(
            f"not an image file Pillow can read ({type(exc).__name__})", 415
        ) from None
    width, height = img.size
    if width * height > max_pixels:
        raise RequestError(
            f"image of {width}×{height} pixels refused: at most {max_pixels:,} pixels", 413
        )
    return img


def decode_upload(
    data: bytes,
    input_shape: tuple[int, int, int],
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """An uploaded image file as one model input ``(C, H, W)`` float32.

    Raises:
        RequestError: empty or too many bytes (413), too many pixels or a decompression
            bomb (413), not an image or bands with no rule to the model's channels (415).
    """
    if not data:
        raise RequestError("the upload is empty: send the bytes of an image file")
    if len(data) > max_bytes:
        raise RequestError(f"upload of {len(data):,} bytes refused: at most {max_bytes:,}", 413)
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3:
        raise RequestError(f"uploads need a model taking (C, H, W) images; it takes {shape}")
    img = _open_checked(data, max_pixels)
    try:
        img.load()
        img = ImageOps.exif_transpose(img) or img
        array = pixels(img, shape[0])
    except (OSError, ValueError, SyntaxError, ConvscopeError) as exc:
        raise RequestError(f"could not decode the image: {exc}", 415) from None
    return resize(array, shape[1], shape[2], "fit").transpose(2, 0, 1).astype(np.float32)


@dataclass(frozen=True)
class Upload:
    """One uploaded image: its id, its display name (user text: escaped by the page)."""

    id: int
    name: str
    image: np.ndarray


class UploadStore:
    """The session's uploads in memory, at most ``max_items`` (the oldest go first).

    Ids only grow, so an evicted upload's id is never reused for another image.

    Example:
        >>> store = UploadStore(max_items=1)
        >>> a = store.add(np.zeros((1, 2, 2)), "a.png"); b = store.add(np.ones((1, 2, 2)), "b")
        >>> store.get(a.id) is None, store.get(b.id).name, store.count
        (True, 'b', 2)
    """

    def __init__(self, max_items: int = 32) -> None:
        self.max_items = int(max_items)
        self._items: OrderedDict[int, Upload] = OrderedDict()
        self._lock = threading.Lock()
        self.count = 0

    def add(self, image: np.ndarray, name: str) -> Upload:
        """Keep ``image`` under a new id; ``name`` is cut to 120 characters."""
        with self._lock:
            upload = Upload(self.count, str(name)[:120], np.asarray(image, np.float32))
            self._items[upload.id] = upload
            self.count += 1
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
            return upload

    def get(self, upload_id: int) -> Upload | None:
        """The upload, or ``None`` when it never existed or was evicted."""
        with self._lock:
            return self._items.get(upload_id)

    def listing(self) -> list[dict[str, object]]:
        """``[{id, name}]`` of the uploads kept, oldest first."""
        with self._lock:
            return [{"id": u.id, "name": u.name} for u in self._items.values()]
