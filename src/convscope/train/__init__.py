"""Train and evaluate classifiers: ``fit`` (Adam, cross-entropy, run folder) and ``evaluate``.

Example:
    >>> import convscope as cs  # doctest: +SKIP
    >>> data = cs.data.load("mnist5k", seed=0)  # doctest: +SKIP
    >>> model = cs.models.build("mnist_convnet")  # doctest: +SKIP
    >>> history = cs.train.fit(model, data, epochs=8, out="runs/demo")  # doctest: +SKIP
    >>> ev = cs.train.evaluate(model, data.x_test, data.y_test, data.class_names)  # doctest: +SKIP
    >>> ev.save("runs/demo")  # doctest: +SKIP

A run folder written by :func:`fit` holds ``run.json``, ``history.json``, ``history.csv``,
``last.ckpt`` and ``model.safetensors`` (the best epoch's weights); ``Evaluation.save``
adds ``evaluation.json`` and ``predictions.npz``.
"""

from .evaluate import EVALUATION_FILE, PREDICTIONS_FILE, Evaluation, evaluate
from .fit import (
    CHECKPOINT_FILE,
    HISTORY_CSV,
    HISTORY_JSON,
    RUN_FILE,
    Callback,
    fit,
    read_run,
    run_seed,
)
from .history import History
from .tracker import SimilarityTracker, default_tracked_layer, similarity_logs

__all__ = [
    "CHECKPOINT_FILE",
    "EVALUATION_FILE",
    "HISTORY_CSV",
    "HISTORY_JSON",
    "PREDICTIONS_FILE",
    "RUN_FILE",
    "SimilarityTracker",
    "Callback",
    "Evaluation",
    "History",
    "default_tracked_layer",
    "evaluate",
    "fit",
    "read_run",
    "run_seed",
    "similarity_logs",
]
