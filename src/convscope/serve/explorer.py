"""The explorer's state: a model, its data, one pass over the split, captures, uploads, runs.

:class:`Explorer` has no web code: the app (:mod:`convscope.serve.app`) turns requests
into its calls, and the payloads (:mod:`convscope.serve.views`,
:mod:`convscope.serve.mapviews`) turn its arrays into JSON and PNG. Everything that
depends on the weights is keyed by :attr:`Explorer.generation`, which moves when the
watched run saves new weights; per-image captures live in a bounded LRU cache.

Example:
    >>> import warnings, convscope as cs
    >>> data = cs.data.load("mnist5k")
    >>> ex = Explorer(cs.models.build("mnist_convnet"), data, similarity_images=4)
    >>> ref = ex.ref("split", "3")
    >>> sorted(ex.maps(ref))[:2], ex.maps(ref)["conv2d"].shape
    (['conv2d', 'conv2d_1'], (32, 26, 26))
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from ..adapters.base import default_tracked_layer
from ..analysis import output_layer
from ..capturing import capture
from ..errors import ConvscopeError
from ..models import load as load_model
from ..report.inputs import prepare
from ..runfolder import RunFolder
from .analysis import SplitAnalysis, analyse
from .cache import LRUCache
from .ids import ImageRef, RequestError, image_ref, index
from .runs import RunWatch, file_stamp
from .uploads import MAX_BYTES, MAX_PIXELS, Upload, UploadStore, decode_upload

__all__ = ["Explorer"]

log = logging.getLogger("convscope.serve")


class Explorer:
    """A model and its data, ready to answer the explorer's questions.

    Args:
        model: a torch module, Keras model or ONNX model.
        data: a :class:`convscope.data.Dataset` the model takes.
        split: the split to browse (``test``, ``val``, ``train``).
        runs: run folders whose training the page shows (several: overlaid).
        model_run: the run folder the model came from: its weights are reloaded when
            the run saves new ones (a run being trained).
        metric: the similarity metric shown first.
        similarity_images: first images of the split the similarity matrices average.
        exemplars: top-k exemplars kept per channel.
        cache_bytes: bound of the per-image capture cache (rendered pictures get a
            quarter of it again).
        max_uploads, max_upload_bytes, max_upload_pixels: bounds on uploads.
        title: the page title.
    """

    def __init__(
        self,
        model: Any,
        data: Any,
        *,
        split: str = "test",
        runs: Sequence[str | os.PathLike] = (),
        model_run: str | os.PathLike | None = None,
        metric: str = "multiply",
        similarity_images: int = 32,
        exemplars: int = 9,
        cache_bytes: int = 256 * 2**20,
        max_uploads: int = 32,
        max_upload_bytes: int = MAX_BYTES,
        max_upload_pixels: int = MAX_PIXELS,
        title: str | None = None,
    ) -> None:
        self.plan = prepare(model, data, split, images=[0], metric=metric,
                            similarity_images=similarity_images)  # fmt: skip
        self.data, self.split, self.metric = data, split, metric
        self.x, self.y = self.plan.x, self.plan.y
        self.class_names = list(self.plan.class_names)
        self.infos = list(self.plan.infos)
        self.spatial = list(self.plan.spatial)
        self.output = output_layer(self.infos)
        self.exemplars = int(exemplars)
        self.arch = str(getattr(model, "arch", None) or getattr(model, "name", None)
                        or type(model).__name__)  # fmt: skip
        self.title = title or f"convscope explorer: {self.arch} on {data.name}"
        self.runs = [RunWatch(path, k) for k, path in enumerate(runs)]
        self.model_run = RunFolder(model_run) if model_run is not None else None
        self.captures = LRUCache(cache_bytes)
        self.pictures = LRUCache(max(cache_bytes // 4, 1 << 20))
        self.uploads = UploadStore(max_uploads)
        self.upload_limits = (int(max_upload_bytes), int(max_upload_pixels))
        self._lock = threading.RLock()
        self._model = model
        self._model_stamp = file_stamp(self.model_run.model) if self.model_run else None
        self._derived: dict[Hashable, Any] = {}
        self.generation = 0
        self.reloaded_at = time.time()

    # -- the model and what depends on it ------------------------------------------------
    @property
    def model(self) -> Any:
        """The model as it is now (it changes when the watched run saves new weights)."""
        return self._model

    def derived(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """A value computed once per generation of the weights (the split pass, sections)."""
        with self._lock:
            full = (self.generation, key)
            if full not in self._derived:
                self._derived[full] = make()
            return self._derived[full]

    def analysis(self) -> SplitAnalysis:
        """The one pass over the split (computed on first use, again after a reload)."""
        return self.derived("analysis", lambda: analyse(
            self._model, self.x, self.y, self.class_names, spatial=self.spatial,
            firing_layer=self.plan.firing_layer, samples=self.plan.similarity_images,
            exemplars=self.exemplars,
        ))  # fmt: skip

    def reload_if_changed(self) -> bool:
        """Load the watched run's weights again if the file changed; True when it did.

        A file that cannot be read yet (being replaced, or not written) keeps the old
        weights: the next poll tries again.
        """
        if self.model_run is None:
            return False
        stamp = file_stamp(self.model_run.model)
        if stamp is None or stamp == self._model_stamp:
            return False
        try:
            model, _meta = load_model(self.model_run.path)
        except (ConvscopeError, OSError, RuntimeError) as exc:
            log.warning("keeping the current weights: %s", exc)
            return False
        with self._lock:
            self._model, self._model_stamp = model, stamp
            self.generation += 1
            self.reloaded_at = time.time()
            self._derived.clear()
            self.captures.clear()
            self.pictures.clear()
        return True

    # -- names by id ------------------------------------------------------------------------
    def layer_id(self, text: str | int) -> int:
        """A request's layer id (its position in the layer table)."""
        return index(text, len(self.infos), "layer")

    def spatial_layer(self, text: str | int) -> str:
        """The name of a request's layer, which must have (C, H, W) maps.

        Raises:
            RequestError: no such layer (404), or a layer without maps (400; the spatial
                layers' ids are listed).
        """
        info = self.infos[self.layer_id(text)]
        if info.name not in self.spatial:
            ids = ", ".join(str(k) for k, i in enumerate(self.infos) if i.name in self.spatial)
            raise RequestError(
                f"layer {text} ({info.kind}) has no (C, H, W) maps; pick one of {ids}"
            )
        return info.name

    def default_layer(self) -> int | None:
        """Id of the layer shown first: the last spatial conv layer (seed 000's)."""
        try:
            name = default_tracked_layer(self.infos)
        except ConvscopeError:
            name = self.spatial[-1] if self.spatial else None
        return next((k for k, i in enumerate(self.infos) if i.name == name), None)

    def ref(self, source: str, text: str | int) -> ImageRef:
        """A request's image: ``split`` index or ``upload`` id (404 when evicted)."""
        count = len(self.x) if source == "split" else self.uploads.count
        ref = image_ref(source, text, count)
        if ref.source == "upload" and self.uploads.get(ref.index) is None:
            raise RequestError(f"upload {ref.index} is no longer kept: upload it again", 404)
        return ref

    # -- images and their maps --------------------------------------------------------------
    def image(self, ref: ImageRef) -> np.ndarray:
        """The image ``(C, H, W)`` as the model takes it."""
        if ref.source == "split":
            return self.x[ref.index]
        upload = self.uploads.get(ref.index)
        if upload is None:
            raise RequestError(f"upload {ref.index} is no longer kept: upload it again", 404)
        return upload.image

    def maps(self, ref: ImageRef) -> dict[str, np.ndarray]:
        """Every spatial layer's maps ``(C, H, W)`` of the image, and the output ``(K,)``.

        Captured once per image and generation, then served from the LRU cache.
        """

        def make() -> dict[str, np.ndarray]:
            with self._lock:
                names = [*self.spatial, self.output]
                got = capture(self._model, self.image(ref)[None], layers=names)
            return {name: np.ascontiguousarray(value[0]) for name, value in got.items()}

        return self.captures.get_or_make(("maps", self.generation, ref), make)

    def cached(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """A rendered picture or small payload, cached per generation (LRU, bounded)."""
        return self.pictures.get_or_make((self.generation, key), make)

    def add_upload(self, data: bytes, name: str) -> Upload:
        """Decode an uploaded file in memory and keep it; nothing is written anywhere."""
        max_bytes, max_pixels = self.upload_limits
        shape = tuple(int(v) for v in self.x.shape[1:])
        image = decode_upload(data, shape, max_bytes=max_bytes, max_pixels=max_pixels)
        return self.uploads.add(image, name)

    def warm(self) -> float:
        """Compute the split pass and capture the first image now; returns the seconds."""
        started = time.perf_counter()
        self.analysis()
        self.maps(ImageRef("split", 0))
        return time.perf_counter() - started
