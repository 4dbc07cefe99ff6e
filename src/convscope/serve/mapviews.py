"""The explorer's map views: mosaics, one channel, the similarity matrix, a pair of maps.

Each view is a JSON payload (the numbers the page reads out on hover) and PNG pictures
at native resolution (one pixel per map cell or matrix cell). Pictures are cached per
generation of the weights; the maps come from the explorer's capture cache, and the
similarity matrices from the report's similarity section over the split's first images.

Example:
    >>> import convscope as cs
    >>> from convscope.serve import Explorer
    >>> ex = Explorer(cs.models.build("mnist_convnet"), cs.data.load("mnist5k"), similarity_images=4)
    >>> m = mosaic(ex, ex.ref("split", 0), "2", "map")
    >>> m["name"], m["channels"], m["cols"], len(m["max"])
    ('conv2d_1', 64, 8, 64)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import render
from .._io import json_safe
from ..metrics import similarity as sim
from ..report import sections as S
from . import pixels as P
from .explorer import Explorer
from .ids import ImageRef, RequestError, index

__all__ = ["channel", "cols_for", "mosaic", "pair", "similarity", "similarity_result", "warm_up"]

MASK_ON, MASK_OFF = (230, 159, 0), (40, 40, 40)
"""Cells the multiply metric counts (Okabe-Ito orange), and the others."""
SIMILAR = 5
"""Most and least similar channels listed in the channel view."""


def cols_for(channels: int) -> int:
    """Tiles per mosaic row: 8 up to 64 maps (the report's 4×8, 8×8), then wider.

    Example:
        >>> cols_for(32), cols_for(256), cols_for(512)
        (8, 16, 32)
    """
    return 8 if channels <= 64 else 16 if channels <= 256 else 32


def _stats(chw: np.ndarray) -> dict[str, Any]:
    lo, hi = chw.min(axis=(1, 2)), chw.max(axis=(1, 2))
    flat = (hi - lo) <= np.maximum(np.abs(lo), np.abs(hi)) * 1e-6
    return {"min": np.round(lo, 6), "max": np.round(hi, 6),
            "mean": np.round(chw.mean(axis=(1, 2)), 6), "flat": np.flatnonzero(flat)}  # fmt: skip


def mosaic(ex: Explorer, ref: ImageRef, layer: str, norm: str) -> dict[str, Any]:
    """The layer's maps of the image: grid geometry and each map's value range."""
    name = ex.spatial_layer(layer)
    chw = ex.maps(ref)[name]
    c, h, w = chw.shape
    return json_safe({
        "layer": ex.layer_id(layer), "name": name, "image": ref.key, "norm": norm,
        "channels": c, "height": h, "width": w, "cols": cols_for(c), "gap": 1,
        "layer_min": float(chw.min()), "layer_max": float(chw.max()), **_stats(chw),
        "generation": ex.generation,
    })  # fmt: skip


def mosaic_png(ex: Explorer, ref: ImageRef, layer: str, norm: str) -> bytes:
    """The mosaic: every map at native size, ``cols_for`` per row, one-pixel white gaps."""
    name = ex.spatial_layer(layer)

    def make() -> bytes:
        chw = ex.maps(ref)[name]
        rgb = P.colorize(P.unit_maps(chw, norm), P.MAPS_CMAP)
        return P.png(P.tiles(rgb, cols_for(chw.shape[0])))

    return ex.cached(("mosaic", ref, name, norm), make)


def _channel(ex: Explorer, ref: ImageRef, layer: str, text: str) -> tuple[str, np.ndarray, int]:
    name = ex.spatial_layer(layer)
    chw = ex.maps(ref)[name]
    return name, chw, index(text, chw.shape[0], f"channel of {name}")


def map_png(ex: Explorer, ref: ImageRef, layer: str, text: str, norm: str) -> bytes:
    """One map at native size, scaled as the mosaic scales it (``norm``)."""
    name, chw, ch = _channel(ex, ref, layer, text)
    return ex.cached(("map", ref, name, ch, norm),
                     lambda: P.png(P.colorize(P.unit_maps(chw, norm)[ch], P.MAPS_CMAP)))  # fmt: skip


def overlay_png(ex: Explorer, ref: ImageRef, layer: str, text: str) -> bytes:
    """The map over the input, on the layer's scale for this image (the colour bar's)."""
    name, chw, ch = _channel(ex, ref, layer, text)

    def make() -> bytes:
        lo, hi = float(chw.min()), float(chw.max())
        unit = (chw[ch] - lo) / (hi - lo if hi > lo else 1.0)
        image = ex.image(ref)
        k = max(1, 224 // max(image.shape[1:]))  # crisp input pixels, a smooth heat map
        big = np.repeat(np.repeat(image, k, axis=1), k, axis=2)
        return P.png(render.overlay_image(big, unit, cmap=P.HEAT_CMAP, norm="none", vmax=1.0))

    return ex.cached(("overlay", ref, name, ch), make)


def similarity_result(ex: Explorer, metric: str) -> Any:
    """The report's similarity section over the split's first images, every spatial layer."""

    def make() -> Any:
        samples = {n: m for n, m in ex.analysis().samples.items() if m.shape[1] >= 2}
        first = {n: m[:1] for n, m in samples.items()}
        count = next(iter(samples.values())).shape[0] if samples else 0
        return S.similarity.compute(samples, first, ex.x[0], probe_index=0, metric=metric,
                                    split=ex.split, images=count)  # fmt: skip

    return ex.derived(("similarity", metric), make)


def _layer_similarity(ex: Explorer, name: str, metric: str) -> Any:
    found = [s for s in similarity_result(ex, metric).layers if s.name == name]
    if not found:
        raise RequestError(f"layer {name} has fewer than two channels: nothing to compare", 404)
    return found[0]


def _ranked(
    row: np.ndarray, own: np.ndarray, ch: int, skip: set[int]
) -> dict[str, list[dict[str, Any]]]:
    others = [k for k in np.argsort(-np.nan_to_num(row, nan=-np.inf), kind="stable")
              if k != ch and k not in skip and np.isfinite(row[k])]  # fmt: skip
    entry = lambda k: {"channel": int(k), "value": float(row[k]), "image_value": float(own[k])}  # noqa: E731
    return {"most": [entry(k) for k in others[:SIMILAR]],
            "least": [entry(k) for k in others[::-1][:SIMILAR]]}  # fmt: skip


def inactive(ex: Explorer, name: str) -> set[int]:
    """Channels dead or constant on the split's first images: left out of similar-channel
    lists, as every similarity summary of convscope leaves them out."""
    samples = ex.analysis().samples.get(name)
    if samples is None:
        return set()
    return ex.derived(("inactive", name),
                      lambda: set(sim.inactive_channels(samples, layer=name).excluded))  # fmt: skip


def image_similarity(ex: Explorer, ref: ImageRef, name: str, metric: str) -> np.ndarray:
    """The layer's (C, C) similarity on this image alone (cached)."""
    chw = ex.maps(ref)[name]
    return ex.cached(("imgsim", ref, name, metric), lambda: sim.pairwise(chw[None], metric=metric))


def channel(ex: Explorer, ref: ImageRef, layer: str, text: str, metric: str) -> dict[str, Any]:
    """One map: its range, the layer's range, similar channels, firing per class, exemplars."""
    name, chw, ch = _channel(ex, ref, layer, text)
    done = ex.analysis()
    layer_sim = _layer_similarity(ex, name, metric) if chw.shape[0] >= 2 else None
    similar = None
    if layer_sim is not None:
        own = image_similarity(ex, ref, name, metric)[ch]
        skip = inactive(ex, name)
        similar = {"metric": metric, "images": similarity_result(ex, metric).images,
                   "left_out": sorted(skip), "inactive": ch in skip,
                   **_ranked(layer_sim.matrix[ch], own, ch, skip)}  # fmt: skip
    profile = done.channel_firing.get(name)
    top = done.top.get(name)
    exemplars = None
    if top is not None:
        exemplars = [{"index": int(i), "value": float(v), "label": int(ex.y[i]),
                      "row": int(r), "col": int(c)}
                     for i, v, r, c in zip(top.images[ch], top.values[ch], top.rows[ch],
                                           top.cols[ch], strict=True)]  # fmt: skip
    m = chw[ch]
    return json_safe({
        "layer": ex.layer_id(layer), "name": name, "channel": ch, "channels": chw.shape[0],
        "image": ref.key, "height": m.shape[0], "width": m.shape[1],
        "min": float(m.min()), "max": float(m.max()), "mean": float(m.mean()),
        "layer_min": float(chw.min()), "layer_max": float(chw.max()), "similar": similar,
        "firing": None if profile is None else {
            "rates": np.round(profile.rates[:, ch], 6), "counts": profile.counts,
            "level": float(done.levels[name][ch]), "level_images": len(done.samples.get(name, ()))},
        "exemplars": exemplars, "generation": ex.generation,
    })  # fmt: skip


def similarity(ex: Explorer, layer: str, metric: str) -> dict[str, Any]:
    """The layer's channel × channel matrix over the first images, its clustered order."""
    name = ex.spatial_layer(layer)
    entry = _layer_similarity(ex, name, metric)
    matrix = np.asarray(entry.matrix, np.float64)
    order = render.cluster_order(np.nan_to_num(matrix, nan=0.0))
    off = matrix[~np.eye(len(matrix), dtype=bool)]
    lo, hi = min(0.0, float(np.nanmin(off))), float(np.nanmax(off))
    return json_safe({
        "layer": ex.layer_id(layer), "name": name, "metric": metric, "channels": len(matrix),
        "images": similarity_result(ex, metric).images, "split": ex.split,
        "matrix": np.round(matrix, 5), "order": order, "lo": lo, "hi": hi,
        "mean": float(entry.per_image.mean()), "groups": [list(g) for g in entry.groups],
        "most": None if entry.most is None else entry.most._asdict(),
        "least": None if entry.least is None else entry.least._asdict(),
        "generation": ex.generation,
    })  # fmt: skip


def similarity_png(ex: Explorer, layer: str, metric: str) -> bytes:
    """The matrix in clustered order, one pixel per cell (the diagonal drawn at the top)."""
    payload = similarity(ex, layer, metric)

    def make() -> bytes:
        matrix = np.array(payload["matrix"], np.float64)
        order = np.asarray(payload["order"])
        return P.png(P.heatmap(matrix[np.ix_(order, order)], payload["lo"], payload["hi"]))

    return ex.cached(("simpng", payload["name"], metric), make)


def pair(ex: Explorer, ref: ImageRef, layer: str, i: str, j: str, metric: str) -> dict[str, Any]:
    """Two channels on this image: the metric's value, and the cells ``multiply`` counts."""
    name, chw, a = _channel(ex, ref, layer, i)
    b = index(j, chw.shape[0], f"channel of {name}")
    _norm, _product, mask = render.multiply_parts(chw[a], chw[b])
    value = float(image_similarity(ex, ref, name, metric)[a, b])
    data_value = float(_layer_similarity(ex, name, metric).matrix[a, b])
    return json_safe({
        "layer": ex.layer_id(layer), "name": name, "i": a, "j": b, "metric": metric,
        "image": ref.key, "value": value, "data_value": data_value,
        "counted": int(mask.sum()), "cells": int(mask.size),
        "images": similarity_result(ex, metric).images,
    })  # fmt: skip


def pair_png(ex: Explorer, ref: ImageRef, layer: str, i: str, j: str, panel: str) -> bytes:
    """Panel 0, 1: the two maps min-max scaled; 2: the counted cells; 3: their product."""
    name, chw, a = _channel(ex, ref, layer, i)
    b = index(j, chw.shape[0], f"channel of {name}")
    which = index(panel, 4, "pair panel")

    def make() -> bytes:
        norm, product, mask = render.multiply_parts(chw[a], chw[b])
        if which < 2:
            return P.png(P.colorize(norm[which], P.MAPS_CMAP))
        if which == 2:
            return P.png(np.where(mask[..., None], MASK_ON, MASK_OFF).astype(np.uint8))
        return P.png(P.colorize(product / max(float(product.max()), 1e-12), P.HEAT_CMAP))

    return ex.cached(("pair", ref, name, a, b, which), make)


def warm_up(ex: Explorer) -> float:
    """Do before serving what the first clicks would wait for: the split pass, the first
    image's maps, the similarity matrices of the default metric, the colour tables.

    Returns:
        The seconds it took.
    """
    started = time.perf_counter()
    ex.warm()
    similarity_result(ex, ex.metric)
    ref = ImageRef("split", 0)
    for name in ex.spatial:
        if ex.maps(ref)[name].shape[0] >= 2:
            image_similarity(ex, ref, name, ex.metric)
    P.colorize(np.zeros(1), P.MAPS_CMAP), P.colorize(np.zeros(1), P.HEAT_CMAP)
    return time.perf_counter() - started
