"""``fit``: train a classifier with Adam and cross-entropy, Keras-style, with a run folder.

``fit`` checks its inputs, builds the default callbacks from its arguments (history,
best weights, early stopping, checkpoint, run record) after the user's, and hands them
to the epoch loop (:func:`convscope.train.loop.run_epochs`). Every file of the run folder
is named by :class:`~convscope.runfolder.RunFolder`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import ConvscopeError
from ..runfolder import RunFolder
from ..validation import check_int, check_real
from .callbacks import BestWeights, Callback, CallbackList, EarlyStopping, HistoryWriter
from .checkpoint import Checkpoint, TrainState
from .history import History
from .inputs import TrainingData, check_model_fits, class_names_for, model_device
from .loop import ProgressFn, run_epochs
from .record import (
    CHECKPOINT_FILE,
    HISTORY_CSV,
    HISTORY_JSON,
    RUN_FILE,
    RunRecord,
    model_description,
    new_record,
    read_run,
    run_seed,
)

__all__ = [
    "CHECKPOINT_FILE",
    "HISTORY_CSV",
    "HISTORY_JSON",
    "RUN_FILE",
    "Callback",
    "ProgressFn",
    "fit",
    "read_run",
    "run_seed",
]

logger = logging.getLogger("convscope.train")


def fit(
    model: torch.nn.Module,
    data: Any,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    patience: int | None = None,
    callbacks: Sequence[Any] = (),
    resume: bool = False,
    device: str | torch.device | None = None,
    progress: bool | ProgressFn = True,
    class_names: list[str] | None = None,
    dataset_name: str | None = None,
    penalty: Any = None,
) -> History:
    """Train a classifier that returns logits with Adam and cross-entropy, like ``model.fit``.

    Every epoch shuffles the training split with a generator seeded by ``seed``, trains
    in train mode, then measures ``val_loss``/``val_accuracy`` on ``data.x_val``/``y_val``
    in eval mode without gradients. With the same seed, initial weights and device, two
    runs give identical histories and weights on CPU (``torch.manual_seed(seed)`` is
    called, so dropout draws from the global torch generator).

    **At the end the model holds the best weights** (lowest ``val_loss``; lowest ``loss``
    when there is no validation split), not those of the last epoch, and is in eval mode.

    Args:
        model: a torch module mapping ``(N, C, H, W)`` float32 to ``(N, K)`` logits, such
            as a :func:`convscope.models.build` zoo model.
        data: a :class:`convscope.data.Dataset` or any object with ``x_train``,
            ``y_train`` (and optionally ``x_val``, ``y_val``, ``class_names``, ``name``):
            NCHW float32 images and int class indices.
        epochs: total number of epochs (a resumed run continues up to this number).
        batch_size: training images per step (also used for validation).
        lr: Adam learning rate.
        seed: seeds the shuffle generator and ``torch.manual_seed``.
        out: run folder (see :class:`~convscope.runfolder.RunFolder` for its files).
            After every epoch it receives, each file written atomically: the history
            (JSON and CSV), the checkpoint (loadable with ``torch.load(...,
            weights_only=True)``), the best weights so far (see
            :func:`convscope.models.save_model`) and the run record.
        patience: stop when ``val_loss`` has not improved for this many epochs
            (Keras ``EarlyStopping(patience=...)``); ``None`` trains all epochs.
        callbacks: objects with some of ``on_train_begin(model, data)``,
            ``on_epoch_end(epoch, logs, model)``, ``on_train_end(model, logs)``,
            ``state_dict()``/``load_state_dict(state)`` (see
            :mod:`convscope.train.callbacks`); they run before the default ones.
        resume: continue from the run folder's checkpoint (model, optimizer, random
            states, history, callbacks' states); the result equals that of an
            uninterrupted run.
        device: where to train (default: where the model's parameters are).
        progress: ``True`` for a tqdm bar per epoch on stderr (hidden when stderr is not
            a terminal), ``False`` for none, or a callable
            ``progress(epoch, step, steps, logs)`` called after every batch.
        class_names: class names to store with the model (default ``data.class_names``).
        dataset_name: data-set name to store with the model (default ``data.name``).
        penalty: an extra loss term, such as
            :class:`~convscope.train.penalty.SimilarityPenalty`: called with no argument
            after each training forward pass, its scalar tensor is added to the
            cross-entropy that is minimised (the logged ``loss`` stays the cross-entropy).
            It also runs as a callback (after the user's) and the run record keeps its
            ``describe()``. ``None`` (default) trains on the cross-entropy alone.

    Returns:
        The :class:`History`: per epoch ``epoch`` (1-based), ``loss``, ``accuracy``,
        ``val_loss``, ``val_accuracy``, ``lr``, ``time_s`` and any keys callbacks add.

    Raises:
        ShapeError: the images do not fit the model (both shapes are named), or arrays
            have the wrong shape; raised before any training.
        ConvscopeError: empty training split, labels outside ``[0, num_classes)``, bad
            options, or ``resume`` with a checkpoint of another model or data set.
        KeyboardInterrupt: re-raised after the run record is marked ``"interrupted"``;
            the last completed epoch is safe in the checkpoint, so ``resume=True``
            continues.

    Example:
        >>> import convscope as cs  # doctest: +SKIP
        >>> data = cs.data.load("mnist5k", seed=0)  # doctest: +SKIP
        >>> model = cs.models.build("mnist_convnet")  # doctest: +SKIP
        >>> history = cs.train.fit(model, data, epochs=8, out="runs/demo", patience=5)  # doctest: +SKIP
        >>> history["val_accuracy"][-1]  # doctest: +SKIP
    """
    options = _checked_options(epochs, batch_size, lr, seed, patience, resume)
    if not (isinstance(progress, bool) or callable(progress)):
        raise ConvscopeError(f"progress must be True, False or a callable, got {progress!r}")
    run = _run_folder(out, resume)
    split = TrainingData.from_data(data)
    dev = torch.device(device) if device is not None else model_device(model)
    model.to(dev)
    num_classes = check_model_fits(model, split.x_train, dev)
    split.check_labels(num_classes)
    names = class_names_for(class_names, data, num_classes)
    ds_name = dataset_name if dataset_name is not None else getattr(data, "name", None)
    options.update(device=str(dev), monitor="val_loss" if split.has_val else "loss")
    if penalty is not None:
        callbacks = [*callbacks, _checked_penalty(penalty)]
        options["penalty"] = getattr(penalty, "describe", lambda: repr(penalty))()
    torch.manual_seed(options["seed"])
    state = TrainState(
        model,
        torch.optim.Adam(model.parameters(), lr=options["lr"]),
        torch.Generator().manual_seed(options["seed"]),
        model_desc=model_description(model),
        data_desc=split.description(ds_name),
        options=options,
    )
    ckpt = state.resume(run.checkpoint) if resume else None
    state.callbacks = CallbackList([*callbacks, *_default_callbacks(state, run, names)])
    if ckpt is not None:
        state.callbacks.load_state_dict(ckpt["callbacks"])
    run_epochs(
        state, split, data, epochs=options["epochs"], batch_size=options["batch_size"],
        device=dev, progress=progress, rng=ckpt["rng"] if ckpt is not None else None,
        penalty=penalty,
    )  # fmt: skip
    return state.history


def _checked_options(
    epochs: Any, batch_size: Any, lr: Any, seed: Any, patience: Any, resume: Any
) -> dict[str, Any]:
    """``fit``'s options, checked, as the run record keeps them (device and monitor later)."""
    if patience is not None:
        try:
            patience = check_int(patience, "patience", minimum=1)
        except ConvscopeError as exc:
            raise ConvscopeError(f"{exc} (None trains every epoch)") from None
    return {
        "epochs": check_int(epochs, "epochs", minimum=1),
        "batch_size": check_int(batch_size, "batch_size", minimum=1),
        "lr": check_real(lr, "lr", minimum=0, exclusive_minimum=True),
        "seed": check_int(seed, "seed"),
        "patience": patience,
        "device": None,
        "resume": bool(resume),
        "optimizer": "adam",
        "loss": "cross_entropy",
        "monitor": None,
    }


def _checked_penalty(penalty: Any) -> Any:
    """The penalty, if it can be called for the extra loss term."""
    if not callable(penalty):
        raise ConvscopeError(
            f"penalty must be callable (returning a scalar tensor), got {type(penalty).__name__}"
            "; see convscope.train.penalty.SimilarityPenalty"
        )
    return penalty


def _run_folder(out: str | os.PathLike | None, resume: bool) -> RunFolder | None:
    """The run folder, if any; resuming needs one with a checkpoint."""
    if out is None:
        if resume:
            raise ConvscopeError("resume=True needs the run folder: pass out=...")
        return None
    run = RunFolder(out)
    if resume and not run.checkpoint.exists():
        raise ConvscopeError(
            f"cannot resume: {run.checkpoint} does not exist. Train without resume to start "
            "the run."
        )
    if not resume and run.checkpoint.exists():
        logger.warning("overwriting the run in %s (pass resume=True to continue it)", run.path)
    return run


def _default_callbacks(state: TrainState, run: RunFolder | None, names: list[str]) -> list[Any]:
    """What ``fit`` always does, as callbacks in order: record the history, keep the
    best weights, stop early, then (with a run folder) write the history, the
    checkpoint and the run record."""
    options = state.options
    monitor = options["monitor"]
    best = BestWeights(
        monitor,
        run.model if run is not None else None,
        class_names=names,
        dataset=state.data_desc["name"],
        extra={"seed": options["seed"]},
    )
    defaults: list[Any] = [state.history, best]
    if options["patience"] is not None:
        defaults.append(EarlyStopping(monitor, options["patience"]))
    if run is None:
        return defaults
    record = new_record(
        model_desc=state.model_desc,
        data_desc=state.data_desc,
        class_names=names,
        options=options,
        epochs_completed=state.epoch,
    )
    defaults += [
        HistoryWriter(run, state.history),
        Checkpoint(run.checkpoint, state.checkpoint),
        RunRecord(run, record, best),
    ]
    return defaults
