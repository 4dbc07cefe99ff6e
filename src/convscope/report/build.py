"""Assemble the report: one step per section, each adding figures, numbers and HTML."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import safe_filename, save_figure, write_json, write_text
from .._version import __version__
from ..errors import ConvscopeError, UnknownNameError
from . import html as H

log = logging.getLogger("convscope")

FIGURES = "figures"

METRICS_KEYS = {
    "convscope_version": "version of convscope that wrote the report",
    "created": "UTC time the report was written (ISO 8601)",
    "model": "arch, params, input_shape, layers [{name, kind, output_shape, params}]",
    "data": "name, split, count, class_names, synthetic",
    "training": "history {key: [per epoch]} and epochs, or null without a run",
    "evaluation": "loss, accuracy, per_class_accuracy {class: acc}, confusion [[counts]]",
    "probes": "indices into the split, labels, predictions",
    "similarity": "metric, images, layers {name: {mean, std, per_image, channels, most, least, groups, threshold, distinct_maps, effective_rank}}",
    "firing": "layer, threshold, reduce, class_names, rates [[K x U]], counts, distance [[K x K]], nearest {class: [[other, distance]]}",
    "channels": "{layer: {dead [indices], fire_fraction [per channel], mean_activation [per channel], mean_similarity}}",
    "figures": "{figure key: path relative to index.html}",
}


@dataclass
class Report:
    """What :func:`build_report` wrote: the page, the metrics file and the numbers."""

    out: Path
    index: Path
    metrics_path: Path
    metrics: dict[str, Any]
    figures: dict[str, str] = field(default_factory=dict)


@dataclass
class _Context:
    model: Any
    data: Any
    out: Path
    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    split: str
    history: dict[str, list[float]] | None
    evaluation: Any
    probe_indices: list[int]
    metric: str
    similarity_images: int
    firing_layer: str | None
    title: str
    infos: list = field(default_factory=list)
    backend: str = "torch"
    predictions: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    sections: list[H.Section] = field(default_factory=list)

    def save(self, key: str, fig: Any, caption: str) -> str:
        """Save a figure under figures/, remember it, close it and return its <figure> HTML."""
        rel = f"{FIGURES}/{safe_filename(key)}.png"
        save_figure(fig, self.out / rel, dpi=100)
        self.figures[key] = rel
        return H.figure(rel, caption)

    def spatial_layers(self, kinds: Sequence[str] = ("conv", "pool")) -> list[str]:
        return [
            i.name
            for i in self.infos
            if i.kind in kinds and i.output_shape and len(i.output_shape) == 3
        ]


def default_probe_indices(labels: np.ndarray, count: int = 4) -> list[int]:
    """The first image of each of ``count`` different classes, in class order.

    Example:
        >>> default_probe_indices(np.array([3, 3, 1, 0, 1, 2]), count=3)
        [3, 2, 5]
    """
    labels = np.asarray(labels)
    chosen: list[int] = []
    for cls in np.unique(labels):
        if len(chosen) == count:
            break
        chosen.append(int(np.flatnonzero(labels == cls)[0]))
    return chosen


def build_report(
    model: Any,
    data: Any,
    out: str | Path,
    *,
    split: str = "test",
    history: dict[str, list[float]] | None = None,
    evaluation: Any = None,
    images: Sequence[int] | None = None,
    metric: str = "multiply",
    similarity_images: int = 32,
    firing_layer: str | None = None,
    title: str | None = None,
    progress: bool | Callable[[str], None] = False,
) -> Report:
    """Write the HTML report, ``metrics.json`` and every figure for ``model`` on ``data``.

    Args:
        model: a torch module (zoo or not), Keras model or ONNX model.
        data: a :class:`convscope.data.Dataset`.
        out: output folder (created); ``index.html`` and ``metrics.json`` go there.
        split: which split to analyse (``test``, ``val`` or ``train``).
        history: a training history (``{"loss": [...], ...}``), e.g. from a run folder.
        evaluation: a :class:`convscope.train.Evaluation`; computed when ``None``.
        images: indices of probe images in the split (default: one per class, four).
        metric: channel similarity metric (``multiply``, ``cosine``, ``pearson``).
        similarity_images: images used for the similarity matrices and redundancy.
        firing_layer: layer for the class firing profile (default: the penultimate one).
        title: page title.
        progress: ``True`` for a progress bar on stderr, or a callable given each step name.

    Returns:
        A :class:`Report` with the paths and the metrics dict.

    Raises:
        ConvscopeError: a probe index is out of range, or the data does not fit the model.

    Example:
        >>> import tempfile, convscope as cs
        >>> model = cs.models.build("mnist_convnet")
        >>> data = cs.data.load("mnist5k")
        >>> out = tempfile.mkdtemp()
        >>> build_report(model, data, out, images=[0], similarity_images=4).index.name
        'index.html'
    """
    from ..adapters import adapter_for, resolve_layers
    from ..capturing import layers
    from ..metrics.similarity import available_metrics

    if metric not in available_metrics():
        raise UnknownNameError("similarity metric", [metric], available_metrics())
    if (
        isinstance(similarity_images, bool)
        or not isinstance(similarity_images, int)
        or similarity_images < 1
    ):
        raise ConvscopeError(
            f"similarity_images must be a whole number >= 1, got {similarity_images!r}"
        )
    x, y = data.split(split)
    if len(x) == 0:
        raise ConvscopeError(f"the {split} split of {data.name} is empty; pick another split")
    if images is None:
        probe = default_probe_indices(y)
    else:
        probe = [int(i) for i in images]
        bad = [i for i in probe if not 0 <= i < len(x)]
        if bad:
            raise ConvscopeError(
                f"probe image indices {bad} are out of range: the {split} split has {len(x)} images (0..{len(x) - 1})"
            )
    adapter = adapter_for(model)
    adapter.close()
    # a torch model that does not say its input shape: the data's images tell
    infos = layers(
        model, input_shape=None if adapter.input_shape is not None else tuple(x.shape[1:])
    )
    if firing_layer is not None:
        chosen = resolve_layers(firing_layer, infos)
        if len(chosen) != 1:
            raise ConvscopeError(
                f"firing_layer {firing_layer!r} selects {len(chosen)} layers; name one"
            )
        firing_layer = chosen[0]
    out = Path(out)
    (out / FIGURES).mkdir(parents=True, exist_ok=True)
    ctx = _Context(
        model=model,
        data=data,
        out=out,
        x=x,
        y=y,
        class_names=list(data.class_names),
        split=split,
        history=history,
        evaluation=evaluation,
        probe_indices=probe,
        metric=metric,
        similarity_images=similarity_images,
        firing_layer=firing_layer,
        title=title
        or f"convscope report: {getattr(model, 'arch', type(model).__name__)} on {data.name}",
    )
    ctx.infos = infos
    ctx.backend = adapter.backend
    steps: list[tuple[str, Callable[[_Context], None]]] = [
        ("model summary", _model_section),
        ("training curves", _training_section),
        ("evaluation", _evaluation_section),
        ("feature maps", _probe_section),
        ("kernels", _kernel_section),
        ("channel similarity", _similarity_section),
        ("class firing profile", _firing_section),
        ("dead channels", _channel_section),
    ]
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(steps), desc="report", unit="section", leave=False, disable=None)
    for name, step in steps:
        if callable(progress) and progress is not True:
            progress(name)
        if bar is not None:
            bar.set_postfix_str(name)
        step(ctx)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    ctx.metrics = {
        "convscope_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **ctx.metrics,
        "figures": dict(ctx.figures),
    }
    metrics_path = write_json(out / "metrics.json", ctx.metrics)
    subtitle = (
        f"{data.name} ({split} split, {len(x)} images) · convscope {__version__} · "
        f"{ctx.metrics['created']}"
    )
    index = write_text(out / "index.html", H.page(ctx.title, subtitle, ctx.sections))
    return Report(
        out=out, index=index, metrics_path=metrics_path, metrics=ctx.metrics, figures=ctx.figures
    )


# ----------------------------------------------------------------------------- sections
def _model_section(ctx: _Context) -> None:
    infos = ctx.infos
    total = sum(i.params for i in infos if i.kind != "block")
    arch = getattr(ctx.model, "arch", type(ctx.model).__name__)
    input_shape = getattr(ctx.model, "input_shape", None) or tuple(ctx.x.shape[1:])
    ctx.metrics["model"] = {
        "arch": arch,
        "params": int(total),
        "input_shape": list(input_shape),
        "layers": [
            {
                "name": i.name,
                "kind": i.kind,
                "output_shape": list(i.output_shape or []),
                "params": int(i.params),
            }
            for i in infos
        ],
    }
    ctx.metrics["data"] = {
        "name": ctx.data.name,
        "split": ctx.split,
        "count": int(len(ctx.x)),
        "class_names": ctx.class_names,
        "synthetic": bool(getattr(ctx.data, "synthetic", False)),
    }
    rows = [
        (
            k,
            i.name,
            i.type or i.kind,
            i.kind,
            "x".join(map(str, i.output_shape or ())) or "?",
            f"{i.params:,}",
        )
        for k, i in enumerate(infos)
    ]
    section = H.Section("model", "Model")
    section.add(
        H.kpis(
            [
                ("architecture", arch),
                ("parameters", f"{total:,}"),
                ("layers", len(infos)),
                ("classes", len(ctx.class_names)),
            ]
        ),
        H.table(
            ["#", "layer", "type", "kind", "output shape (C×H×W)", "params"], rows, numeric=(0, 5)
        ),
        H.para(
            f"Data: {ctx.data.name}"
            + (" (synthetic)" if getattr(ctx.data, "synthetic", False) else "")
            + f" · classes: {', '.join(ctx.class_names)}",
            "note",
        ),
    )
    ctx.sections.append(section)


def _training_section(ctx: _Context) -> None:
    from .. import render

    section = H.Section("training", "Training")
    history = ctx.history
    if not history or not any(history.get(k) for k in ("loss", "val_loss")):
        ctx.metrics["training"] = None
        section.add(
            H.para(
                "No training history: this report was made from a model file, not a run folder.",
                "note",
            )
        )
        ctx.sections.append(section)
        return
    epochs = len(next(iter(v for v in history.values() if isinstance(v, list))))
    ctx.metrics["training"] = {"epochs": epochs, "history": history}
    section.add(
        ctx.save(
            "history",
            render.history(history),
            "Accuracy and loss per epoch, train against validation (seeds 001, 002).",
        )
    )
    tracked = [k for k in history if k.startswith("similarity/") and not k.endswith("/std")]
    if tracked or "similarity" in history:
        section.add(
            ctx.save(
                "similarity_vs_loss",
                render.similarity_vs_loss(history, key=tracked or None),
                "Mean channel similarity of the tracked layer per epoch against val_loss (seed 000): "
                "feature maps decorrelate as the model learns.",
            )
        )
        rows = [
            (k, f"{v[0]:.4f}", f"{v[-1]:.4f}")
            for k, v in history.items()
            if k.startswith("similarity/") and not k.endswith("/std") and v
        ]
        section.add(H.table(["tracked", "first epoch", "last epoch"], rows, numeric=(1, 2)))
    ctx.sections.append(section)


def _evaluation_section(ctx: _Context) -> None:
    from .. import render
    from ..train import evaluate

    section = H.Section("evaluation", "Evaluation")
    ev = ctx.evaluation
    if ev is None:
        ev = evaluate(ctx.model, ctx.x, ctx.y, ctx.class_names)
    predictions, accuracy, cm, loss = (
        ev.predictions,
        float(ev.accuracy),
        np.asarray(ev.confusion),
        ev.loss,
    )
    ctx.predictions = predictions
    per_class = {name: ev.per_class_accuracy.get(name) for name in ctx.class_names}
    ctx.metrics["evaluation"] = {
        "loss": float(loss),
        "accuracy": accuracy,
        "per_class_accuracy": per_class,
        "confusion": cm.tolist(),
        "count": int(len(ctx.y)),
    }
    items = [
        (f"{ctx.split} accuracy", f"{accuracy:.4f}"),
        (f"{ctx.split} loss", f"{loss:.4f}"),
        ("misclassified", f"{int((predictions != ctx.y).sum())} / {len(ctx.y)}"),
    ]
    section.add(H.kpis(items))
    section.add(
        H.table(
            ["class", "accuracy", "samples"],
            [
                (name, "-" if acc is None else f"{acc:.3f}", int(cm[k].sum()))
                for k, (name, acc) in enumerate(per_class.items())
            ],
            numeric=(1, 2),
        )
    )
    section.add(
        '<div class="grid2">',
        ctx.save(
            "confusion",
            render.confusion(cm, ctx.class_names, normalize=True),
            "Confusion matrix, row-normalised; counts in the cells (seed 002).",
        ),
        ctx.save(
            "predictions",
            render.predictions_grid(
                ctx.x, predictions, ctx.y, per_class=10, class_names=ctx.class_names
            ),
            "Examples grouped by predicted class; misclassified ones framed in red with their true label (seed 002).",
        ),
        "</div>",
    )
    ctx.sections.append(section)


def _probe_section(ctx: _Context) -> None:
    from .. import render
    from ..capturing import capture

    section = H.Section("feature-maps", "Feature maps of probe images")
    names = ctx.spatial_layers()
    probes = ctx.x[ctx.probe_indices]
    preds = ctx.predictions[ctx.probe_indices]
    labels = ctx.y[ctx.probe_indices]
    ctx.metrics["probes"] = {
        "indices": ctx.probe_indices,
        "labels": [int(v) for v in labels],
        "predictions": [int(v) for v in preds],
    }
    if not names:
        section.add(H.para("The model has no layer with spatial (C, H, W) maps.", "note"))
        ctx.sections.append(section)
        return
    maps = capture(ctx.model, probes, layers=names)
    convs = [n for n in names if _kind(ctx, n) == "conv"]
    section.add(
        H.para(
            f"Probe images: {', '.join(str(i) for i in ctx.probe_indices)} of the {ctx.split} split. "
            "Mosaics normalise each map to its own range; belts use seed 004's standardisation "
            "(flat maps are mid-grey).",
            "note",
        )
    )
    first_conv = convs[0] if convs else names[0]
    section.add(
        ctx.save(
            "samples_grid",
            render.samples_grid(
                probes, maps[first_conv], labels, preds, cols=8, class_names=ctx.class_names
            ),
            f"Each probe image ('predict / actual') and its {first_conv} maps (seed 003's plotOutputs).",
        )
    )
    for p, index in enumerate(ctx.probe_indices):
        label = ctx.class_names[int(labels[p])]
        section.add(
            H.heading(f"Image {index}: actual {label}, predicted {ctx.class_names[int(preds[p])]}")
        )
        section.add(
            ctx.save(
                f"belt_{index}",
                render.belt(maps, image_index=p),
                f"Image belts of every conv and pool layer for image {index} (seed 004).",
            )
        )
        for name in names:
            section.add(
                ctx.save(
                    f"mosaic_{index}_{name}",
                    render.mosaic(maps[name], image_index=p, title=f"{name} · image {index}"),
                    f"{name}: {maps[name].shape[1]} maps of {maps[name].shape[2]}×{maps[name].shape[3]} for image {index} (seed 002).",
                )
            )
        last = convs[-1] if convs else names[-1]
        section.add(
            ctx.save(
                f"overlay_{index}_{last}",
                render.overlay(probes[p], maps[last][p]),
                f"{last} maps upsampled and blended over image {index} (seed 000's heatmaps).",
            )
        )
    ctx.sections.append(section)


def _kernel_section(ctx: _Context) -> None:
    from .. import render

    section = H.Section("kernels", "First-layer kernels")
    convs = [i.name for i in ctx.infos if i.kind == "conv"]
    weights = _conv_weights(ctx, convs[0]) if convs else None
    if weights is None:
        section.add(H.para("Kernel weights are not available for this model's backend.", "note"))
    else:
        section.add(
            ctx.save(
                "kernels",
                render.kernels(weights, in_channel=0, title=f"{convs[0]} kernels, input channel 0"),
                f"{convs[0]} weights {tuple(weights.shape)} as heat maps, colours centred on zero (seed 003).",
            )
        )
    ctx.sections.append(section)


def _similarity_section(ctx: _Context) -> None:
    from .. import render
    from ..capturing import capture
    from ..metrics import similarity as sim

    section = H.Section("similarity", "Channel similarity")
    convs = [n for n in ctx.spatial_layers(("conv",))]
    n = min(ctx.similarity_images, len(ctx.x))
    images = ctx.x[:n]
    result: dict[str, Any] = {"metric": ctx.metric, "images": int(n), "layers": {}}
    section.add(
        H.para(
            f"Metric '{ctx.metric}' over the first {n} images of the {ctx.split} split "
            "(seed 000's similarity_multiply: the fraction of cells where the product of two "
            "min-max normalised maps is above its mean). Lower means less redundant maps.",
            "note",
        )
    )
    if not convs:
        section.add(H.para("The model has no conv layer.", "note"))
    maps = capture(ctx.model, images, layers=convs) if convs else {}
    probe = ctx.probe_indices[0]
    probe_maps = capture(ctx.model, ctx.x[probe : probe + 1], layers=convs) if convs else {}
    summary_rows = []
    for name in convs:
        layer_maps = maps[name]
        if layer_maps.shape[1] < 2:
            continue
        per_image = np.asarray(
            sim.mean_similarity(layer_maps, metric=ctx.metric, per_image=True, layer=name)
        )
        S = sim.pairwise(layer_maps, metric=ctx.metric)
        red = sim.redundancy(layer_maps, metric=ctx.metric, similarity=S)
        ext = sim.extreme_pairs(probe_maps[name], metric=ctx.metric)
        entry = {
            "mean": float(per_image.mean()),
            "std": float(per_image.std()),
            "per_image": [float(v) for v in per_image],
            "channels": int(layer_maps.shape[1]),
            "most": None if ext.most is None else ext.most._asdict(),
            "least": None if ext.least is None else ext.least._asdict(),
            "groups": [[int(c) for c in g] for g in red.groups],
            "threshold": float(red.threshold),
            "distinct_maps": int(red.n_distinct),
            "effective_rank": float(red.effective_rank),
        }
        result["layers"][name] = entry
        summary_rows.append(
            (
                name,
                layer_maps.shape[1],
                f"{entry['mean']:.4f}",
                f"{entry['std']:.4f}",
                len(entry["groups"]),
                entry["distinct_maps"],
                f"{entry['effective_rank']:.1f}",
            )
        )
        section.add(H.heading(f"{name}: mean similarity {entry['mean']:.4f}"))
        section.add(
            ctx.save(
                f"similarity_{name}",
                render.similarity_matrix(
                    S, order="cluster", groups=red.groups, title=f"{name} · {ctx.metric} similarity"
                ),
                f"{name}: channel × channel similarity, mean over {n} images, reordered so that redundant groups sit together.",
            )
        )
        probe_image = ctx.x[probe]
        for which, pair_ in (("most", ext.most), ("least", ext.least)):
            if pair_ is None:
                section.add(
                    H.para(
                        f"No {which} similar pair qualifies (all peaks differ by more than {ext.max_ratio}x or are zero).",
                        "note",
                    )
                )
                continue
            i, j, value = pair_
            section.add(
                ctx.save(
                    f"pair_{which}_{name}",
                    render.pair(
                        probe_image,
                        probe_maps[name][0, i],
                        probe_maps[name][0, j],
                        similarity=value,
                        names=(f"#{i}", f"#{j}"),
                    ),
                    f"{name}: the {which} similar pair on image {probe}, #{i} and #{j}, and their cell-wise product (seed 000).",
                )
            )
        if entry["groups"]:
            section.add(
                H.table(
                    ["group", "channels", "size"],
                    [
                        (g + 1, ", ".join(map(str, grp)), len(grp))
                        for g, grp in enumerate(entry["groups"])
                    ],
                    numeric=(0, 2),
                ),
                H.para(
                    f"Groups of channels mutually similar above {entry['threshold']:.2f}; "
                    f"{entry['distinct_maps']} distinct maps of {layer_maps.shape[1]} "
                    f"(effective rank of the similarity matrix {entry['effective_rank']:.1f}).",
                    "note",
                ),
            )
        else:
            section.add(H.para(f"No redundant groups above {entry['threshold']:.2f}.", "note"))
    if summary_rows:
        section.parts.insert(
            1,
            H.table(
                [
                    "layer",
                    "channels",
                    "mean similarity",
                    "std over images",
                    "redundant groups",
                    "distinct maps",
                    "effective rank",
                ],
                summary_rows,
                numeric=(1, 2, 3, 4, 5, 6),
            ),
        )
    ctx.metrics["similarity"] = result
    ctx.sections.append(section)


def _firing_section(ctx: _Context) -> None:
    from .. import render
    from ..metrics import firing

    section = H.Section("classes", "Class firing profile")
    layer = ctx.firing_layer or _default_firing_layer(ctx)
    if layer is None:
        ctx.metrics["firing"] = None
        section.add(H.para("No layer before the output to profile.", "note"))
        ctx.sections.append(section)
        return
    prof = firing.profile(
        ctx.model,
        (ctx.x, ctx.y),
        layer,
        class_names=ctx.class_names,
        num_classes=len(ctx.class_names),
    )
    dist = firing.class_distance(prof, metric="l1")
    near = firing.nearest(dist)
    examples = np.stack(
        [
            ctx.x[np.flatnonzero(ctx.y == k)[0]] if (ctx.y == k).any() else np.zeros_like(ctx.x[0])
            for k in range(len(ctx.class_names))
        ]
    )
    ctx.metrics["firing"] = {
        "layer": layer,
        "threshold": float(prof.threshold),
        "reduce": prof.reduce,
        "class_names": ctx.class_names,
        "counts": [int(c) for c in prof.counts],
        "rates": np.round(prof.rates, 6).tolist(),
        "distance": np.round(dist, 6).tolist(),
        "nearest": {
            ctx.class_names[i]: [[ctx.class_names[j], round(d, 6)] for j, d in row]
            for i, row in enumerate(near)
        },
    }
    units = prof.rates.shape[1]
    section.add(
        H.para(
            f"Seed 001's experiment on layer {layer} ({units} units): a unit fires for an image when its "
            f"activation is above {prof.threshold:g}"
            + (
                " in any cell of its map"
                if prof.reduce == "any" and _kind(ctx, layer) != "dense"
                else ""
            )
            + "; each class's firing rate is the fraction of its images in which the unit fires, over every "
            "image of the class (not a fixed 1000). Classes are compared by the mean absolute difference of their rates.",
            "note",
        )
    )
    section.add(
        H.table(
            ["class", "images", "nearest", "2nd", "3rd"],
            [
                (
                    ctx.class_names[i],
                    int(prof.counts[i]),
                    *[f"{ctx.class_names[j]} ({d:.3f})" for j, d in row[:3]],
                )
                for i, row in enumerate(near)
            ],
            numeric=(1,),
        )
    )
    section.add(
        '<div class="grid2">',
        ctx.save(
            "class_distance",
            render.similarity_matrix(
                1.0 - dist / max(float(dist.max()), 1e-12),
                order="cluster",
                labels=ctx.class_names,
                title=f"class similarity of {layer} firing (1 - normalised L1)",
            ),
            "Classes × classes: how alike their firing patterns are, clustered.",
        ),
        ctx.save(
            "class_ranking",
            render.class_ranking(dist, examples, ctx.class_names),
            "Each row: a class, then the other classes from most to least alike in firing (seed 001's grid).",
        ),
        "</div>",
    )
    ctx.sections.append(section)


def _channel_section(ctx: _Context) -> None:
    from ..metrics.stats import channel_stats

    section = H.Section("channels", "Dead channels and data-set statistics")
    names = ctx.spatial_layers(("conv",))
    if not names:
        ctx.metrics["channels"] = {}
        section.add(H.para("No conv layers.", "note"))
        ctx.sections.append(section)
        return
    stats = channel_stats(ctx.model, (ctx.x, ctx.y), layers=names)
    out: dict[str, Any] = {}
    rows = []
    for name, st in stats.items():
        dead = [int(c) for c in st.dead]
        out[name] = {
            "dead": dead,
            "fire_fraction": np.round(st.fire_fraction, 6).tolist(),
            "mean_activation": np.round(st.mean, 6).tolist(),
            "mean_similarity": None if st.mean_similarity is None else float(st.mean_similarity),
            "images": int(st.num_samples),
            "similarity_images": int(st.similarity_samples),
        }
        rows.append(
            (
                name,
                len(st.fire_fraction),
                len(dead),
                ", ".join(map(str, dead[:20])) + (" …" if len(dead) > 20 else "") or "none",
                f"{float(np.mean(st.fire_fraction)):.3f}",
                "-" if st.mean_similarity is None else f"{st.mean_similarity:.4f}",
            )
        )
    ctx.metrics["channels"] = out
    section.add(
        H.para(
            f"Over all {len(ctx.x)} images of the {ctx.split} split, in one streaming pass. A dead channel never fires (never above 0) on any image.",
            "note",
        ),
        H.table(
            [
                "layer",
                "channels",
                "dead",
                "dead channels",
                "mean firing fraction",
                "data-set mean similarity",
            ],
            rows,
            numeric=(1, 2, 4, 5),
        ),
    )
    ctx.sections.append(section)


# ----------------------------------------------------------------------------- helpers
def _default_firing_layer(ctx: _Context) -> str | None:
    from ..metrics.firing import default_layer

    try:
        return default_layer(ctx.model)
    except ConvscopeError:
        return None


def _kind(ctx: _Context, name: str) -> str:
    return next((i.kind for i in ctx.infos if i.name == name), "other")


def _conv_weights(ctx: _Context, layer: str) -> np.ndarray | None:
    """A conv layer's weights in torch layout (out, in, kh, kw), from any backend."""
    from ..adapters import adapter_for

    with adapter_for(ctx.model) as adapter:
        return adapter.kernels(layer)


def report_for_run(
    run: str | Path,
    out: str | Path | None = None,
    *,
    data: str | None = None,
    data_dir: str | Path | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> Report:
    """Build the report of a training run folder: its model, history, evaluation and data.

    Args:
        run: a folder made by ``convscope train`` or ``convscope demo``.
        out: output folder (default ``RUN/report``).
        data: analyse another data set than the one the run was trained on (the run's
            history is still shown; its stored evaluation is not, being of other data).
        data_dir: data cache folder.
        seed: split seed (default: the run's, so the test split is the one held out).
        **kwargs: passed to :func:`build_report` (``images``, ``metric``, ``split``...).

    Example:
        >>> report_for_run("runs/demo/run").index  # doctest: +SKIP
    """
    from ..data import load
    from ..models import load_model
    from ..train import Evaluation, History, run_seed

    run = Path(run)
    model, meta = load_model(run)
    name = data or meta.dataset
    if not name:
        raise ConvscopeError(f"{run} does not name its data set; pass data=NAME (--data NAME)")
    split_seed = run_seed(run) if seed is None else int(seed)
    dataset = load(name, seed=split_seed, data_dir=data_dir, input_shape=tuple(meta.input_shape))
    history = None
    if (run / "history.json").exists():
        history = History.from_json(run / "history.json").history
    evaluation = None
    same_data = name == meta.dataset and seed in (None, run_seed(run))
    if same_data and (run / "evaluation.json").exists() and kwargs.get("split", "test") == "test":
        try:
            evaluation = Evaluation.load(run)
        except Exception as exc:  # stale or foreign file: evaluate again instead
            log.warning("could not read %s (%s); evaluating again", run / "evaluation.json", exc)
        if evaluation is not None and len(evaluation.labels) != len(dataset.y_test):
            evaluation = None  # of another split size: not this test split
    return build_report(
        model, dataset, out or run / "report", history=history, evaluation=evaluation, **kwargs
    )
