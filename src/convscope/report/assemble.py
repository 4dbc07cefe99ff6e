"""The report's assembly line: each section computed, drawn and written in page order;
figures saved on a background thread, the step reporter and the page's banners.

Example:
    >>> from convscope.report.assemble import banners
    >>> banners({"evaluation": {"accuracy": 0.1}, "data": {"class_names": list("abcdefghij")}}, None, None)[0][:29]
    'These weights look untrained '
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._io import safe_filename, save_figure
from .._threads import cpu_budget
from .._version import __version__
from . import html as H
from .nonfinite import banner as nonfinite_banner
from .sections import SECTIONS

FIGURES = "figures"


def banners(metrics: dict[str, Any], history: Any, untrained: bool | None) -> list[str]:
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


def stepper(progress: Any) -> tuple[Callable[[str], None], Callable[[], None]]:
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


def assemble(
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
