"""Assemble the report: one pass over the data, then each section computed, drawn, written.

Every figure is drawn once (saved at its own size, no tight bounding box); line charts
are SVG, the rest PNG; the page links a static stylesheet and gives every image its size.
The report is built in a temporary folder beside its target and swapped in whole at the
end, under a lock (:mod:`convscope.report.output_dir`); ``single_file=True`` writes one
HTML file with the figures inlined instead.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._io import safe_filename, save_figure, write_json, write_text
from .._threads import cpu_budget
from .._version import __version__
from ..train.tracker import EpochMaps
from . import html as H
from . import sections as S
from .inputs import prepare, run_pass, section_computes
from .nonfinite import banner as nonfinite_banner
from .output_dir import staged
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
    target = Path(out)
    summary = DataSummary(
        data.name, split, len(plan.x), plan.class_names, bool(getattr(data, "synthetic", False))
    )
    with staged(target, single_file=single_file) as out:
        (out / FIGURES).mkdir(parents=True, exist_ok=True)
        step, close = _stepper(progress)
        try:
            step("data-set pass")
            done = run_pass(model, plan, evaluate=evaluation is None, engine=engine)
            computes = section_computes(
                model, plan, done, data=summary, history=history, evaluation=evaluation,
                metric=metric,
            )  # fmt: skip
            computes[S.training] = lambda: S.training.compute(history, epoch_maps=epoch_maps)
            metrics, figures, page = _assemble(out, computes, step)
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
        banners = _banners(metrics, history, untrained)
        write_text(out / "index.html", H.page(title, subtitle, page, banners=banners))
    if single_file:
        return Report(out=target.parent, index=target, metrics_path=None, metrics=metrics,
                      figures=figures)  # fmt: skip
    return Report(out=target, index=target / "index.html", metrics_path=target / "metrics.json",
                  metrics=metrics, figures=figures)  # fmt: skip


def _banners(metrics: dict[str, Any], history: Any, untrained: bool | None) -> list[str]:
    """Warnings for the top of the page: untrained weights, synthetic data."""
    out = []
    evaluation = metrics.get("evaluation") or {}
    classes = len((metrics.get("data") or {}).get("class_names") or ()) or 1
    accuracy = evaluation.get("accuracy")
    if untrained is None:
        near_chance = accuracy is not None and accuracy <= 1.5 / classes
        untrained = not history and near_chance
    if untrained:
        score = (
            "" if accuracy is None else f" (accuracy {accuracy:.3f}; chance is {1 / classes:.3f})"
        )
        out.append(
            f"These weights look untrained{score}: the maps, similarities and firing "
            "profiles below show what random filters do, not what a trained model learned."
        )
    if (metrics.get("data") or {}).get("synthetic"):
        out.append("The data set is synthetic (generated shapes), not real images.")
    flagged = nonfinite_banner(metrics.get("nonfinite") or {})
    if flagged:
        out.insert(0, flagged)
    return out


def _stepper(progress: Any) -> tuple[Callable[[str], None], Callable[[], None]]:
    """A step reporter for a callable or a progress bar, and its closer."""
    bar = None
    if progress is True:
        bar = tqdm(total=len(SECTIONS) + 2, desc="report", unit="step", leave=False, disable=None)

    def step(name: str) -> None:
        if callable(progress) and progress is not True:
            progress(name)
        if bar is not None:
            bar.set_postfix_str(name)
            bar.update(1)

    return step, (bar.close if bar is not None else lambda: None)


def _write(fig: Any, path: Path, svg: bool) -> None:
    """Save one figure, drawn once (no tight bounding box)."""
    if svg:  # text as <text> (the page's fonts), not glyph outlines: 3x faster, smaller
        import matplotlib

        with matplotlib.rc_context({"svg.fonttype": "none"}):
            save_figure(fig, path, dpi=100, bbox_inches=None)
    else:
        save_figure(fig, path, dpi=100, bbox_inches=None)


class _Writer:
    """Writes figures on one background thread while the next ones are composed, when two
    CPUs are ours to use (PNG encoding releases the GIL); in line otherwise."""

    def __init__(self) -> None:
        self.pool = (
            ThreadPoolExecutor(1, thread_name_prefix="report-writer") if cpu_budget() >= 2 else None
        )
        self.jobs: list[Future] = []

    def save(self, out: Path, key: str, fig: Any, svg: bool) -> tuple[str, tuple[int, int]]:
        """Queue (or write) one figure; its path relative to the page and its pixel size."""
        rel = f"{FIGURES}/{safe_filename(key)}.{'svg' if svg else 'png'}"
        width, height = (fig.get_size_inches() * 100).round().astype(int).tolist()
        if self.pool is None:
            _write(fig, out / rel, svg)
        else:
            self.jobs.append(self.pool.submit(_write, fig, out / rel, svg))
        return rel, (width, height)

    def close(self) -> None:
        """Wait for every figure; the first error is raised here."""
        try:
            for job in self.jobs:
                job.result()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)


def _assemble(
    out: Path, computes: dict[Any, Callable[[], Any]], step: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, str], list[H.Section]]:
    """Compute, draw and write each section in page order; the metrics, figures and HTML."""
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    metrics: dict[str, Any] = {"convscope_version": __version__, "created": created}
    figures: dict[str, str] = {}
    page = []
    writer = _Writer()
    try:
        for section in SECTIONS:
            step(section.STEP)
            result = computes[section]()
            paths = H.Figures()
            vector = set(getattr(section, "SVG", ()))
            for key, fig in section.figures(result).items():
                paths[key], paths.sizes[key] = writer.save(out, key, fig, key in vector)
            figures.update(paths)
            metrics.update((k, v) for k, v in result.to_json().items() if k in section.METRICS)
            page.append(H.Section(section.ID, section.TITLE).add(section.html(result, paths)))
        step("writing figures")
    finally:
        writer.close()
    metrics["figures"] = dict(figures)
    return metrics, figures, page
