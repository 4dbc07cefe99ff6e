"""Assemble the report: one pass over the data, then each section computed, drawn, written."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._io import safe_filename, save_figure, write_json, write_text
from .._version import __version__
from . import html as H
from .inputs import prepare, run_pass, section_computes
from .outputs import Report
from .sections import SECTIONS
from .sections.model import DataSummary

FIGURES = "figures"


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

    Returns:
        A :class:`Report` with the paths and the metrics dict.

    Raises:
        UnknownNameError: unknown metric or firing layer (nothing is written).
        ConvscopeError: a probe index is out of range, or the data does not fit the model.

    Example:
        >>> import tempfile, convscope as cs
        >>> model = cs.models.build("mnist_convnet")
        >>> data = cs.data.load("mnist5k")
        >>> out = tempfile.mkdtemp()
        >>> build_report(model, data, out, images=[0], similarity_images=4).index.name
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
    out = Path(out)
    (out / FIGURES).mkdir(parents=True, exist_ok=True)
    summary = DataSummary(
        data.name, split, len(plan.x), plan.class_names, bool(getattr(data, "synthetic", False))
    )
    step, close = _stepper(progress)
    try:
        step("data-set pass")
        done = run_pass(model, plan, evaluate=evaluation is None)
        computes = section_computes(
            model, plan, done, data=summary, history=history, evaluation=evaluation, metric=metric
        )
        metrics, figures, page = _assemble(out, computes, step)
    finally:
        close()
    arch = getattr(model, "arch", type(model).__name__)
    title = title or f"convscope report: {arch} on {data.name}"
    subtitle = (
        f"{data.name} ({split} split, {len(plan.x)} images) · convscope {__version__} · "
        f"{metrics['created']}"
    )
    metrics_path = write_json(out / "metrics.json", metrics)
    index = write_text(out / "index.html", H.page(title, subtitle, page))
    return Report(out=out, index=index, metrics_path=metrics_path, metrics=metrics, figures=figures)


def _stepper(progress: Any) -> tuple[Callable[[str], None], Callable[[], None]]:
    """A step reporter for a callable or a progress bar, and its closer."""
    bar = None
    if progress is True:
        bar = tqdm(total=len(SECTIONS) + 1, desc="report", unit="step", leave=False, disable=None)

    def step(name: str) -> None:
        if callable(progress) and progress is not True:
            progress(name)
        if bar is not None:
            bar.set_postfix_str(name)
            bar.update(1)

    return step, (bar.close if bar is not None else lambda: None)


def _assemble(
    out: Path, computes: dict[Any, Callable[[], Any]], step: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, str], list[H.Section]]:
    """Compute, draw and write each section in page order; the metrics, figures and HTML."""
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    metrics: dict[str, Any] = {"convscope_version": __version__, "created": created}
    figures: dict[str, str] = {}
    page = []
    for section in SECTIONS:
        step(section.STEP)
        result = computes[section]()
        paths = {}
        for key, fig in section.figures(result).items():
            paths[key] = f"{FIGURES}/{safe_filename(key)}.png"
            save_figure(fig, out / paths[key], dpi=100)
        figures.update(paths)
        metrics.update((k, v) for k, v in result.to_json().items() if k in section.METRICS)
        page.append(H.Section(section.ID, section.TITLE).add(section.html(result, paths)))
    metrics["figures"] = dict(figures)
    return metrics, figures, page
