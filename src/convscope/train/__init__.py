"""Train and evaluate classifiers: ``fit`` (Adam, cross-entropy, run folder) and ``evaluate``.

``fit`` is a short loop; what a run does besides training is a callback on one protocol
(:mod:`convscope.train.callbacks`): :class:`History`, :class:`BestWeights`,
:class:`EarlyStopping`, :class:`HistoryWriter`, :class:`Checkpoint`, :class:`RunRecord`
and :class:`SimilarityTracker`.

Example:
    >>> import convscope as cs  # doctest: +SKIP
    >>> data = cs.data.load("mnist5k", seed=0)  # doctest: +SKIP
    >>> model = cs.models.build("mnist_convnet")  # doctest: +SKIP
    >>> history = cs.train.fit(model, data, epochs=8, out="runs/demo")  # doctest: +SKIP
    >>> ev = cs.train.evaluate(model, data.x_test, data.y_test, data.class_names)  # doctest: +SKIP
    >>> ev.save("runs/demo")  # doctest: +SKIP

A run folder written by :func:`fit` holds the run record, the history (JSON and CSV),
the last checkpoint and the best epoch's weights; ``Evaluation.save`` adds the
evaluation and the predictions. :class:`convscope.runfolder.RunFolder` names every file
(``CHECKPOINT_FILE``, ``HISTORY_JSON``, ``HISTORY_CSV`` and ``RUN_FILE`` here are its
names, kept for compatibility).
"""

from .callbacks import BestWeights, Callback, CallbackList, EarlyStopping, HistoryWriter
from .checkpoint import Checkpoint, load_checkpoint
from .evaluate import EVALUATION_FILE, PREDICTIONS_FILE, Evaluation, evaluate
from .fit import fit
from .history import History
from .record import (
    CHECKPOINT_FILE,
    HISTORY_CSV,
    HISTORY_JSON,
    RUN_FILE,
    RunRecord,
    read_run,
    run_seed,
)
from .tensorboard import TensorBoard
from .tracker import (
    EpochMaps,
    SimilarityTracker,
    default_tracked_layer,
    load_epoch_maps,
    similarity_logs,
)

__all__ = [
    "EpochMaps",
    "TensorBoard",
    "load_epoch_maps",
    "CHECKPOINT_FILE",
    "EVALUATION_FILE",
    "HISTORY_CSV",
    "HISTORY_JSON",
    "PREDICTIONS_FILE",
    "RUN_FILE",
    "BestWeights",
    "Callback",
    "CallbackList",
    "Checkpoint",
    "EarlyStopping",
    "Evaluation",
    "History",
    "HistoryWriter",
    "RunRecord",
    "SimilarityTracker",
    "default_tracked_layer",
    "evaluate",
    "fit",
    "load_checkpoint",
    "read_run",
    "run_seed",
    "similarity_logs",
]
