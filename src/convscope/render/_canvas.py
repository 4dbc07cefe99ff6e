"""Figures drawn once, at the resolution of their pixels, and saved the cheap way.

Two pieces make convscope's figures fast to save the way users save them
(``fig.savefig(buf, format="png")``), with nothing to change on their side:

* :func:`attach_canvas` gives a figure an Agg canvas whose PNG writer encodes an opaque
  figure as RGB. matplotlib always writes RGBA: a third more bytes to filter and
  compress, for an alpha channel that is 255 everywhere. A figure with any transparency
  (``savefig(transparent=True)``) is written exactly as matplotlib writes it.
* :func:`image_figure` places a uint8 image at 1:1 in a figure exactly as large as the
  image plus its margins, as a figure-level image (no axes to build): at the figure's own
  dpi the pixels are copied as they are, with no resampling pass; at any other dpi, or in
  a vector format, matplotlib resamples as usual, so the figure stays a normal figure.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

DPI = 100
"""Pixels per inch of every convscope figure: one figure inch is 100 image pixels."""


@functools.cache
def _canvas_class() -> type:
    """The canvas class, built on first use (matplotlib is imported lazily)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    class OpaqueCanvas(FigureCanvasAgg):
        """Agg canvas writing opaque figures as RGB PNGs (smaller, about 1.7x faster)."""

        def print_png(
            self,
            filename_or_obj: Any,
            *,
            metadata: Any = None,
            pil_kwargs: Any = None,
            **_figure_options: Any,  # dpi, facecolor...: already applied by print_figure
        ) -> None:
            FigureCanvasAgg.draw(self)
            rgba = np.asarray(self.buffer_rgba())
            dpi = self.figure.dpi
            if not (rgba[..., 3] == 255).all():  # transparency asked for: keep the alpha
                matplotlib.image.imsave(
                    filename_or_obj, rgba, format="png", origin="upper", dpi=dpi,
                    metadata=metadata, pil_kwargs=pil_kwargs,
                )  # fmt: skip
                return
            from PIL import Image, PngImagePlugin

            image = Image.frombuffer("RGBA", rgba.shape[1::-1], rgba, "raw", "RGBA", 0, 1)
            info = PngImagePlugin.PngInfo()
            software = f"matplotlib version{matplotlib.__version__}, https://matplotlib.org/"
            for key, value in {"Software": software, **(metadata or {})}.items():
                if value is not None:
                    info.add_text(key, str(value))
            kwargs = dict(pil_kwargs or {})
            kwargs.setdefault("pnginfo", info)
            image.convert("RGB").save(filename_or_obj, format="png", dpi=(dpi, dpi), **kwargs)

    return OpaqueCanvas


def attach_canvas(fig: Figure) -> Figure:
    """Give ``fig`` the opaque-PNG canvas (see the module note); returns ``fig``."""
    _canvas_class()(fig)
    return fig


@functools.cache
def _pixel_image_class() -> type:
    from matplotlib.image import FigureImage
    from matplotlib.transforms import IdentityTransform

    class PixelImage(FigureImage):
        """A figure-level image of uint8 RGBA placed in figure pixels at :data:`DPI`.

        Drawn 1:1 it is copied as it is (no resampling pass, and no axes to build); at
        another dpi, or in a vector format, it is scaled with the figure as usual.
        """

        def set_pixels(self, rgba: np.ndarray, left: float, bottom: float) -> None:
            self.set_data(rgba)
            self._flipped = np.ascontiguousarray(rgba[::-1])  # Agg wants the bottom row first
            self._place = (float(left), float(bottom))

        def make_image(self, renderer: Any, magnification: float = 1.0, unsampled: bool = False):
            fig = self.get_figure(root=True)
            scale = fig.dpi / DPI
            fac = renderer.dpi / fig.dpi  # vector backends draw at 72 dpi
            self.ox, self.oy = (v * scale * fac for v in self._place)
            if fac != 1.0:  # vector: the renderer's magnification already scales the image
                return super().make_image(renderer, magnification, unsampled)
            if magnification == 1.0 and not unsampled and scale == 1.0:
                return self._flipped, self.ox, self.oy, IdentityTransform()
            return super().make_image(renderer, magnification * scale, unsampled)

    return PixelImage


def add_pixels(fig: Figure, rgba: np.ndarray, left: int = 0, bottom: int = 0) -> Any:
    """Place ``rgba`` (uint8, H x W x 4) with its lower-left corner at pixel ``(left,
    bottom)`` of ``fig`` (a figure at :data:`DPI`), one image pixel per figure pixel."""
    image = _pixel_image_class()(fig, origin="upper")
    image.set_pixels(rgba, left, bottom)
    fig.images.append(image)
    image._remove_method = fig.images.remove
    fig.stale = True
    return image


def new_figure_px(width: int, height: int) -> Figure:
    """A detached figure of exactly ``width x height`` pixels at :data:`DPI`."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(int(width), 1) / DPI, max(int(height), 1) / DPI), dpi=DPI)
    return attach_canvas(fig)


def image_figure(
    rgba: np.ndarray, *, top: int = 0, bottom: int = 0, left: int = 0, right: int = 0
) -> tuple[Figure, Any]:
    """A figure holding ``rgba`` at 1:1 with margins (pixels) for text; ``(fig, image)``.

    Example:
        >>> fig, image = image_figure(np.zeros((20, 30, 4), np.uint8), top=10)
        >>> (fig.get_size_inches() * fig.dpi).round().tolist(), len(fig.images)
        ([30.0, 30.0], 1)
    """
    h, w = rgba.shape[:2]
    fig = new_figure_px(w + left + right, h + top + bottom)
    return fig, add_pixels(fig, rgba, left, bottom)


def titled_figure(canvas: np.ndarray, title: str, fontsize: float = 10) -> Figure:
    """``canvas`` (uint8 RGBA) at 1:1 under its title, one matplotlib text at the top left;
    the canvas is widened (white) when the title needs more room, so it is never cut.

    Example:
        >>> fig = titled_figure(np.full((30, 40, 4), 255, np.uint8), "a long title for a small image")
        >>> fig.texts[0].get_text(), bool(fig.get_size_inches()[0] * DPI > 40)
        ('a long title for a small image', True)
    """
    from . import _pixels

    needed = _pixels.text_size(title, int(round(fontsize * DPI / 72)))[0] + 16
    if needed > canvas.shape[1]:
        pad = _pixels.blank(canvas.shape[0], needed - canvas.shape[1])
        canvas = np.concatenate([canvas, pad], axis=1)
    fig, _image = image_figure(canvas)
    text_px(fig, 8, 4, title, fontsize=fontsize, va="top")
    return fig


def text_px(fig: Figure, x: float, y: float, text: str, **kwargs: Any) -> Any:
    """``fig.text`` at pixel ``(x, y)`` measured from the figure's top-left corner."""
    fw, fh = fig.get_size_inches() * DPI
    return fig.text(x / fw, 1.0 - y / fh, text, **kwargs)
