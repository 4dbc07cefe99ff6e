"""Assemble the report: one pass over the data, then each section computed, drawn, written.

Every figure is drawn once (saved at its own size, no tight bounding box); line charts
are SVG, the rest PNG; the page links a static stylesheet and gives every image its size.
The report is built in a temporary folder beside its target and swapped in whole at the
end, under a lock (:mod:`convscope.report.output_dir`); ``single_file=True`` writes one
HTML file with the figures inlined instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._io import write_json, write_text
from .._version import __version__
from ..train.tracker import EpochMaps
from . import html as H
from . import sections as S
from .assemble import FIGURES, assemble, banners, stepper
from .inputs import prepare, run_pass, section_computes
from .output_dir import staged
from .outputs import Report
from .sections.model import DataSummary


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
    epoch_maps: EpochMaps | None = None,
    untrained: bool | None = None,
    engine: Any = None,
    single_file: bool = False,
) -> Report:
    """Write the HTML report, ``metrics.json`` and every figure for ``model`` on ``data``.

    The split is scanned once (:func:`convscope.report.inputs.run_pass`); then each section of
    :mod:`convscope.report.sections` computes its result, draws its figures and writes
    its HTML.

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
        epoch_maps: the similarity tracker's probe maps at chosen epochs
            (:func:`convscope.train.tracker.load_epoch_maps` of a run folder), drawn as a
            strip beside the similarity chart.
        untrained: say so in a banner at the top; ``None`` decides from the data: no
            training history and an accuracy within 1.5x of chance (1 / classes).
        engine: where the data-set pass runs (None: here; a
            :class:`convscope.engine.RayEngine` shards it over Ray workers).
        single_file: write ``out`` as one HTML file, the stylesheet and every figure
            inlined as ``data:`` URIs (no ``metrics.json``; ``Report.metrics_path`` is None).

    Returns:
        A :class:`Report` with the paths and the metrics dict.

    Raises:
        UnknownNameError: unknown metric or firing layer (nothing is written).
        ConvscopeError: a probe index is out of range, the data does not fit the model,
            ``out`` is a folder of other files, not writable, or being written by another
            build (checked before the data-set pass; an earlier report stays as it was).

    Example:
        >>> import dataclasses, tempfile, convscope as cs
        >>> model = cs.models.build("mnist_convnet")
        >>> data = cs.data.load("mnist5k")
        >>> small = dataclasses.replace(data, x_test=data.x_test[:40], y_test=data.y_test[:40])
        >>> out = tempfile.mkdtemp()
        >>> build_report(model, small, out, images=[0], similarity_images=4).index.name
        'index.html'
    """
    plan = prepare(
        model,
        data,
        split,
        images=images,
        metric=metric,
        similarity_images=similarity_images,
        firing_layer=firing_layer,
    )
    target = Path(out)
    summary = DataSummary(
        data.name, split, len(plan.x), plan.class_names, bool(getattr(data, "synthetic", False))
    )
    with staged(target, single_file=single_file) as out:
        (out / FIGURES).mkdir(parents=True, exist_ok=True)
        step, close = stepper(progress)
        try:
            step("data-set pass")
            done = run_pass(model, plan, evaluate=evaluation is None, engine=engine)
            computes = section_computes(
                model, plan, done, data=summary, history=history, evaluation=evaluation,
                metric=metric,
            )  # fmt: skip
            computes[S.training] = lambda: S.training.compute(history, epoch_maps=epoch_maps)
            metrics, figures, page = assemble(out, computes, step)
            metrics["nonfinite"] = dict(done.nonfinite)
        finally:
            close()
        arch = getattr(model, "arch", type(model).__name__)
        title = title or f"convscope report: {arch} on {data.name}"
        subtitle = (
            f"{data.name} ({split} split, {len(plan.x)} images) · convscope {__version__} · "
            f"{metrics['created']}"
        )
        write_json(out / "metrics.json", metrics)
        H.write_static(out)
        flagged = banners(metrics, history, untrained)
        write_text(out / "index.html", H.page(title, subtitle, page, banners=flagged))
    if single_file:
        return Report(out=target.parent, index=target, metrics_path=None, metrics=metrics,
                      figures=figures)  # fmt: skip
    return Report(out=target, index=target / "index.html", metrics_path=target / "metrics.json",
                  metrics=metrics, figures=figures)  # fmt: skip
