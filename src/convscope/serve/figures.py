"""Pictures that are not maps: input images, colour bars, kept epoch maps, class matrices,
and the static report's own figures of a section (``figures(result)``), on demand.

Example:
    >>> import convscope as cs
    >>> from convscope.serve import Explorer
    >>> ex = Explorer(cs.models.build("mnist_convnet"), cs.data.load("mnist5k"), similarity_images=4)
    >>> image_png(ex, ex.ref("split", 0))[:4], colorbar_png("viridis")[:4]
    (b'\\x89PNG', b'\\x89PNG')
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..metrics.similarity import available_metrics
from ..report import sections as S
from . import pixels as P
from .explorer import Explorer
from .ids import ImageRef, RequestError, choice, index
from .mapviews import cols_for, similarity_result
from .views import evaluation_result, firing_result

__all__ = ["CMAPS", "SECTIONS", "class_png", "colorbar_png", "epoch_maps_png", "figure_png",
           "figure_keys", "image_png"]  # fmt: skip

CMAPS = (P.MAPS_CMAP, P.HEAT_CMAP)
"""The colour maps the page asks colour bars of."""
SECTIONS = ("evaluation", "similarity", "classes", "training")
"""Sections whose static-report figures the page links to."""


def image_png(ex: Explorer, ref: ImageRef) -> bytes:
    """The input image at its own size (grey or RGB)."""
    return ex.cached(("image", ref), lambda: P.png(P.image_pixels(ex.image(ref))))


def colorbar_png(name: str) -> bytes:
    """A 256-step horizontal colour bar of ``viridis`` or ``inferno``."""
    return P.png(P.colorbar(choice(name, CMAPS, "colour map"), height=8))


def epoch_maps_png(ex: Explorer, run: str, k: str, norm: str) -> bytes:
    """The tracked layer's maps kept at the ``k``-th kept epoch of a run, as a mosaic."""
    watch = ex.runs[index(run, len(ex.runs), "run")]
    kept = watch.epoch_maps()
    if kept is None:
        raise RequestError(f"run {watch.id} kept no maps (train with the similarity tracker)", 404)
    at = index(k, len(kept.maps), "kept epoch")

    def make() -> bytes:
        chw = kept.maps[at]
        return P.png(P.tiles(P.colorize(P.unit_maps(chw, norm), P.MAPS_CMAP), cols_for(len(chw))))

    return ex.cached(("epochs", watch.id, watch.version(), at, norm), make)


def class_png(ex: Explorer, which: str) -> bytes:
    """``rates``: class × unit firing rates (0..1); ``distance``: class × class distance."""
    kind = choice(which, ("rates", "distance"), "class matrix")
    result = firing_result(ex)
    if result.layer is None:
        raise RequestError("no layer before the output to profile", 404)

    def make() -> bytes:
        if kind == "rates":
            return P.png(P.heatmap(result.rates, 0.0, 1.0))
        dist = result.distance
        return P.png(P.heatmap(dist, 0.0, max(float(dist.max()), 1e-12), P.HEAT_CMAP))

    return ex.cached(("classes", kind), make)


def _section_result(ex: Explorer, section: str, arg: str | None) -> tuple[Any, Any, tuple]:
    if section == "evaluation":
        return S.evaluation, evaluation_result(ex), ()
    if section == "similarity":
        metric = choice(arg, available_metrics(), "metric", default=ex.metric)
        return S.similarity, similarity_result(ex, metric), (metric,)
    if section == "classes":
        return S.firing, firing_result(ex), ()
    watch = ex.runs[index(arg if arg is not None else "0", len(ex.runs), "run")]
    history = watch.history()
    if history is not None:
        history = {k: [np.nan if v is None else v for v in vs] for k, vs in history.items()}
    result = S.training.compute(history, watch.epoch_maps())
    return S.training, result, (watch.id, watch.version())


def _figures(ex: Explorer, section: str, arg: str | None) -> dict[str, bytes]:
    name = choice(section, SECTIONS, "section")
    module, result, extra = _section_result(ex, name, arg)

    def make() -> dict[str, bytes]:
        out = {}
        for key, fig in module.figures(result).items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100)
            out[key] = buf.getvalue()
        return out

    return ex.cached(("figures", name, *extra), make)


def figure_keys(ex: Explorer, section: str, arg: str | None = None) -> list[str]:
    """The keys of the section's figures, in the order the report draws them (ids = positions)."""
    return list(_figures(ex, section, arg))


def figure_png(ex: Explorer, section: str, n: str, arg: str | None = None) -> bytes:
    """The section's ``n``-th figure as the static report saves it."""
    index(n, 10**6, f"figure of {section}")  # a malformed id is refused before any drawing
    figures = _figures(ex, section, arg)
    keys = list(figures)
    return figures[keys[index(n, len(keys), f"figure of {section}")]]
