"""The report of a training run folder: its model, history, evaluation and data.

The evaluation a run's report shows is always the run's own: the held-out test split
of the data it was trained on, split with its seed and fractions. A stored
``evaluation.json`` is used only when it says so (split, data set, seed) and its labels
are that split's; anything else (an old file, a foreign one) is evaluated again, and
``convscope evaluate`` never writes it (each request has its own folder).

Example:
    >>> report_for_run("runs/demo/run").index  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load as load_data
from ..errors import ConvscopeError, check_same_classes
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


def own_evaluation(run: RunFolder, dataset: Any) -> Evaluation | None:
    """The run's stored evaluation if it is of ``dataset``'s test split, else None.

    It must say it is the test split of the run's data set and seed (files written
    before the seed was recorded say nothing of it), and its labels must be exactly the
    test split's labels, in order.
    """
    if not run.evaluation.exists():
        return None
    try:
        evaluation = Evaluation.load(run.evaluation_dir)
    except ConvscopeError as exc:  # stale or foreign file: evaluate again instead
        log.warning("could not read %s (%s); evaluating again", run.evaluation, exc)
        return None
    seed = run.seed()
    said = (evaluation.split, evaluation.dataset, evaluation.seed)
    if said[:2] != ("test", dataset.name) or said[2] not in (None, seed):
        return None
    labels = np.asarray(dataset.y_test)
    if evaluation.labels.shape != labels.shape or not np.array_equal(evaluation.labels, labels):
        return None  # of another split (an older file overwritten by another request)
    return evaluation


def report_for_run(
    run: str | Path,
    out: str | Path | None = None,
    *,
    data: str | None = None,
    data_dir: str | Path | None = None,
    seed: int | None = None,
    force: bool = False,
    download: bool = True,
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
        force: analyse a data set whose classes are not the run's.
        download: let the data set be downloaded when it is not on disk.
        **kwargs: passed to :func:`~convscope.report.build_report` (``images``,
            ``metric``, ``split``...).

    Raises:
        ConvscopeError: the run does not name its data set and ``data`` is not given.
        ClassMismatchError: ``data`` has other classes than the run (without ``force``).

    Example:
        >>> report_for_run("runs/demo/run").index  # doctest: +SKIP
    """
    folder = RunFolder(run)
    model, meta = load_model(folder.path)
    name = data or meta.dataset
    if not name:
        raise ConvscopeError(f"{run} does not name its data set; pass data=NAME (--data NAME)")
    split = folder.split_options()
    split_seed = split["seed"] if seed is None else int(seed)
    dataset = load_data(
        name, seed=split_seed, data_dir=data_dir, input_shape=tuple(meta.input_shape),
        val_fraction=split["val_fraction"], test_fraction=split["test_fraction"],
        download=download,
    )  # fmt: skip
    check_same_classes(meta.class_names, dataset.class_names, model=str(run), data=name,
                       force=force)  # fmt: skip
    evaluation = None
    if folder.is_own_request(kwargs.get("split", "test"), name, split_seed):
        evaluation = own_evaluation(folder, dataset)
    kwargs.setdefault("epoch_maps", load_epoch_maps(folder.path))
    return build_report(
        model,
        dataset,
        out or folder.report_dir,
        history=_history(folder),
        evaluation=evaluation,
        **kwargs,
    )
