"""The report of a training run folder: its model, history, evaluation and data.

Example:
    >>> report_for_run("runs/demo/run").index  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from ..data import load as load_data
from ..errors import ConvscopeError
from ..models import load as load_model
from ..runfolder import RunFolder
from ..train import Evaluation
from ..train.tracker import load_epoch_maps
from .build import build_report
from .outputs import Report

__all__ = ["report_for_run"]

log = logging.getLogger("convscope")


def _history(run: RunFolder) -> dict[str, list] | None:
    """The run's history, its nulls (non-finite numbers in JSON) back to NaN."""
    history = run.history()
    if history is None:
        return None
    return {key: [math.nan if v is None else v for v in values] for key, values in history.items()}


def _evaluation(run: RunFolder, count: int) -> Evaluation | None:
    """The run's own evaluation of its test split, if readable and of ``count`` images."""
    if not run.evaluation.exists():
        return None
    try:
        evaluation = Evaluation.load(run.evaluation_dir)
    except Exception as exc:  # stale or foreign file: evaluate again instead
        log.warning("could not read %s (%s); evaluating again", run.evaluation, exc)
        return None
    return evaluation if len(evaluation.labels) == count else None  # else of another split


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
        **kwargs: passed to :func:`~convscope.report.build_report` (``images``,
            ``metric``, ``split``...).

    Raises:
        ConvscopeError: the run does not name its data set and ``data`` is not given.

    Example:
        >>> report_for_run("runs/demo/run").index  # doctest: +SKIP
    """
    folder = RunFolder(run)
    model, meta = load_model(folder.path)
    name = data or meta.dataset
    if not name:
        raise ConvscopeError(f"{run} does not name its data set; pass data=NAME (--data NAME)")
    run_seed = folder.seed()
    split_seed = run_seed if seed is None else int(seed)
    dataset = load_data(
        name, seed=split_seed, data_dir=data_dir, input_shape=tuple(meta.input_shape)
    )
    same_data = name == meta.dataset and split_seed == run_seed
    evaluation = None
    if same_data and kwargs.get("split", "test") == "test":
        evaluation = _evaluation(folder, len(dataset.y_test))
    kwargs.setdefault("epoch_maps", load_epoch_maps(folder.path))
    return build_report(
        model,
        dataset,
        out or folder.report_dir,
        history=_history(folder),
        evaluation=evaluation,
        **kwargs,
    )
