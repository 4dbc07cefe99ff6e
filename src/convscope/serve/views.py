"""The explorer's data views as JSON: overview, images, an image's scores, classes, training.

Each payload comes from the report's own section results where the report has one
(:mod:`convscope.report.sections`: model, evaluation, firing, training ``to_json()``), so
the page and the static report show the same numbers. Payloads are plain JSON: NaN is
``null``, and every name (layers, classes, runs, uploads) is data that the page puts in
as text, never as markup.

Example:
    >>> import convscope as cs
    >>> from convscope.serve import Explorer
    >>> ex = Explorer(cs.models.build("mnist_convnet"), cs.data.load("mnist5k"), similarity_images=4)
    >>> overview(ex)["layers"][0]["name"], len(images(ex, limit="5")["items"])
    ('conv2d', 5)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._io import json_safe
from ..data import class_examples
from ..metrics.evaluation import EvaluationAccumulator
from ..metrics.similarity import available_metrics
from ..report import sections as S
from .explorer import Explorer
from .ids import ImageRef, RequestError, index

__all__ = ["NORMS", "classes", "image_info", "images", "overview", "training"]

NORMS = ("map", "layer", "standardize")
"""The mosaic's scales: per map, one for the layer, seed 004's standardisation."""
PAGE = 200
"""Most images one listing returns."""


def model_result(ex: Explorer) -> Any:
    """The report's model section for this model and split."""
    summary = S.model.DataSummary(ex.data.name, ex.split, len(ex.x), tuple(ex.class_names),
                                  bool(getattr(ex.data, "synthetic", False)))  # fmt: skip
    shape = getattr(ex.model, "input_shape", None) or tuple(ex.x.shape[1:])
    return S.model.compute(ex.infos, arch=ex.arch, input_shape=shape, data=summary)


def evaluation_result(ex: Explorer) -> Any:
    """The report's evaluation section over the split (cached per generation)."""
    return ex.derived("evaluation", lambda: S.evaluation.compute(
        ex.analysis().evaluation, ex.x, ex.y, ex.class_names, ex.split))  # fmt: skip


def firing_result(ex: Explorer) -> Any:
    """The report's class firing section (cached per generation)."""
    done = ex.analysis()
    kind = ex.plan.kind(ex.plan.firing_layer)
    examples = class_examples(ex.x, ex.y, len(ex.class_names))
    return ex.derived("firing", lambda: S.firing.compute(done.firing, examples, kind))


def overview(ex: Explorer) -> dict[str, Any]:
    """What the page needs first: model, layers (by id), classes, evaluation, runs."""
    model = model_result(ex).to_json()
    spatial = set(ex.spatial)
    layers = [
        {"id": k, "name": i.name, "kind": i.kind, "type": i.type or i.kind,
         "shape": list(i.output_shape or []), "params": int(i.params), "maps": i.name in spatial}
        for k, i in enumerate(ex.infos)
    ]  # fmt: skip
    evaluation = evaluation_result(ex).to_json()["evaluation"]
    return json_safe({
        "title": ex.title, "arch": ex.arch, "model": model["model"], "data": model["data"],
        "layers": layers, "default_layer": ex.default_layer(), "classes": ex.class_names,
        "evaluation": evaluation, "metrics": available_metrics(), "metric": ex.metric,
        "norms": list(NORMS), "runs": [run.summary() for run in ex.runs],
        "uploads": ex.uploads.listing(), "generation": ex.generation,
        "similarity_images": ex.plan.similarity_images, "image_shape": list(ex.x.shape[1:]),
        "watching": str(ex.model_run.path.name) if ex.model_run else None,
    })  # fmt: skip


def _filter(ex: Explorer, cls: str | None, true: str | None, pred: str | None, wrong: bool):
    done = ex.analysis().evaluation
    k = len(ex.class_names)
    keep = np.ones(len(ex.y), bool)
    if cls is not None:
        keep &= ex.y == index(cls, k, "class")
    if true is not None:
        keep &= ex.y == index(true, k, "class")
    if pred is not None:
        keep &= done.predictions == index(pred, k, "class")
    if wrong:
        keep &= done.predictions != ex.y
    return np.flatnonzero(keep), done


def images(
    ex: Explorer,
    cls: str | None = None,
    true: str | None = None,
    pred: str | None = None,
    wrong: bool = False,
    offset: str | None = None,
    limit: str | None = None,
) -> dict[str, Any]:
    """The split's images matching a filter: class, misclassified, confusion cell.

    Args:
        cls: true class id; ``true`` and ``pred``: a confusion-matrix cell (either alone
            is a row or a column); ``wrong``: misclassified only.
        offset, limit: the page of the listing (at most :data:`PAGE` images).
    """
    chosen, done = _filter(ex, cls, true, pred, wrong)
    start = 0 if offset is None else index(offset, 10**9, "offset")
    count = PAGE if limit is None else max(1, min(index(limit, 10**9, "limit"), PAGE))
    page = chosen[start : start + count]
    items = [
        {"index": int(i), "label": int(ex.y[i]), "prediction": int(done.predictions[i]),
         "confidence": float(done.probabilities[i, done.predictions[i]])}
        for i in page
    ]  # fmt: skip
    return {"total": int(len(chosen)), "offset": start, "items": items}


def probabilities(ex: Explorer, ref: ImageRef) -> np.ndarray:
    """The model's class probabilities for one image, scored as the split pass scored."""
    scores = ex.maps(ref)[ex.output].reshape(1, -1)
    if scores.shape[1] != len(ex.class_names):
        raise RequestError(
            f"the output layer {ex.output} has {scores.shape[1]} values for "
            f"{len(ex.class_names)} classes", 500,
        )  # fmt: skip
    acc = EvaluationAccumulator(scores=ex.analysis().scores, keep_predictions=True)
    acc.update(scores, np.zeros(1, np.int64))
    return acc.result().probabilities[0]


def image_info(ex: Explorer, ref: ImageRef) -> dict[str, Any]:
    """An image's true class (split images), prediction and top-5 classes."""
    probs = probabilities(ex, ref)
    top = np.argsort(-probs, kind="stable")[: min(5, len(probs))]
    info: dict[str, Any] = {
        "key": ref.key, "source": ref.source, "index": ref.index,
        "prediction": int(top[0]), "top5": [[int(k), float(probs[k])] for k in top],
        "label": int(ex.y[ref.index]) if ref.source == "split" else None,
        "name": None, "generation": ex.generation,
    }  # fmt: skip
    if ref.source == "upload":
        upload = ex.uploads.get(ref.index)
        info["name"] = upload.name if upload is not None else None
    return json_safe(info)


def classes(ex: Explorer) -> dict[str, Any]:
    """The report's firing section: class × unit rates, class distances, nearest classes."""
    result = firing_result(ex)
    payload = result.to_json()["firing"]
    if payload is None:
        return {"firing": None}
    return {"firing": payload, "units": int(result.rates.shape[1])}


def training(ex: Explorer) -> dict[str, Any]:
    """Every watched run's history and kept maps, through the report's training section."""
    runs = []
    for run in ex.runs:
        history = run.history()
        if history is not None:  # JSON nulls (non-finite numbers) back to NaN, as the report
            history = {k: [math.nan if v is None else v for v in vs] for k, vs in history.items()}
        result = S.training.compute(history, run.epoch_maps())
        runs.append({**run.summary(), "training": result.to_json()["training"]})
    return {"runs": runs}
