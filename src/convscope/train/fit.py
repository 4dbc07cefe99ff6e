"""``fit``: train a classifier with Adam and cross-entropy, Keras-style, with a run folder."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._batching import batch_slices
from .._io import atomic_write, write_json
from ..errors import ConvscopeError, FormatError, ShapeError
from .evaluate import _as_images, _as_labels, _check_label_range, _model_device
from .history import History

logger = logging.getLogger("convscope.train")

CHECKPOINT_FILE = "last.ckpt"
RUN_FILE = "run.json"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
_CKPT_FORMAT = "convscope-train-checkpoint"

#: ``progress`` callables are called as ``progress(epoch, step, steps, logs)`` after
#: every training batch (0-based ``epoch`` and ``step``; ``logs`` holds the running
#: ``loss`` and ``accuracy`` of the epoch so far).
ProgressFn = Callable[[int, int, int, dict], None]


class Callback:
    """Base class of training callbacks; override the hooks you need.

    Any object with these methods works (they are looked up with ``getattr``).
    ``on_epoch_end`` runs with the model in eval mode, after validation; keys it adds
    to ``logs`` go into the history (and ``history.json``).

    Example:
        >>> class LogNorm(Callback):
        ...     def on_epoch_end(self, epoch, logs, model):
        ...         logs["weight_norm"] = float(sum(p.norm() for p in model.parameters()))
    """

    def on_train_begin(self, model: torch.nn.Module, data: Any) -> None:
        """Called once before the first (or first resumed) epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: torch.nn.Module) -> None:
        """Called after every epoch; ``epoch`` is 0-based, ``logs`` this epoch's numbers."""


# --------------------------------------------------------------------------- helpers


def read_run(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``run.json`` of a run folder as a dict (empty when the folder has none).

    Raises:
        FormatError: the file exists but is not readable JSON.

    Example:
        >>> read_run("/nonexistent")
        {}
    """
    import json

    path = Path(folder) / RUN_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(record, dict):
        raise FormatError(f"{path} does not hold a run record (a JSON object)")
    return record


def run_seed(folder: str | os.PathLike) -> int:
    """The seed a run was trained with (its split depends on it); 0 without a run.json.

    Example:
        >>> run_seed("/nonexistent")
        0
    """
    record = read_run(folder)
    try:
        return int((record.get("options") or {}).get("seed", record.get("seed", 0)) or 0)
    except (TypeError, ValueError):
        raise FormatError(f"{Path(folder) / RUN_FILE} has a seed that is not an integer") from None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    from .._version import __version__

    return {
        "convscope": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _split(data: Any, name: str) -> tuple[Any, Any]:
    return getattr(data, f"x_{name}", None), getattr(data, f"y_{name}", None)


def _fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    h = hashlib.sha1()
    h.update(str(tuple(x.shape)).encode())
    h.update(np.ascontiguousarray(y.numpy()).tobytes())
    h.update(np.ascontiguousarray(x[:64].numpy()).tobytes())
    return h.hexdigest()[:16]


def _model_description(model: torch.nn.Module) -> dict[str, Any]:
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    h = hashlib.sha1(repr(sorted(shapes.items())).encode()).hexdigest()[:16]
    return {
        "arch": getattr(model, "arch", None) or type(model).__name__,
        "input_shape": list(getattr(model, "input_shape", None) or []) or None,
        "num_classes": getattr(model, "num_classes", None),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "state_signature": h,
    }


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "shuffle": gen.get_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["shuffle"])
    np.random.set_state(
        (
            "MT19937",
            state["numpy_keys"].numpy().astype(np.uint32),
            int(state["numpy_pos"]),
            int(state["numpy_has_gauss"]),
            float(state["numpy_gauss"]),
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """cuDNN in deterministic mode for the duration of training (CPU ops already are)."""
    if device.type != "cuda":
        yield
        return
    old = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old


def _check_model_fits(model: torch.nn.Module, x: torch.Tensor, device: torch.device) -> int:
    """Fail before training when the images do not fit the model; return its class count."""
    shape = tuple(int(s) for s in x.shape[1:])
    name = getattr(model, "arch", None) or type(model).__name__
    expected = getattr(model, "input_shape", None)
    if expected is not None and tuple(int(s) for s in expected) != shape:
        raise ShapeError(
            f"model {name} takes images of shape {tuple(expected)} (C, H, W), but the data's "
            f"images have shape {shape}. Pick a model built for {shape} "
            f"(e.g. convscope.models.build(..., input_shape={shape})) or other data."
        )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:2].to(device))
    except ShapeError:
        raise
    except RuntimeError as exc:
        raise ShapeError(
            f"model {name} cannot take the data's images of shape {shape} (C, H, W): {exc}"
        ) from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShapeError(f"model {name} must return logits of shape (N, num_classes); got {got}")
    k = int(out.shape[1])
    declared = getattr(model, "num_classes", None)
    if declared is not None and int(declared) != k:
        raise ShapeError(f"model {name} declares {declared} classes but returns {k} logits")
    return k


def _maybe_to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    # Small data sets live on the accelerator for the whole run (no per-batch copies).
    if device.type != "cpu" and t.numel() * t.element_size() <= 1 << 30:
        return t.to(device)
    return t


class _Running:
    """Running sums of one training epoch, kept on the device (no sync per batch)."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.seen = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        n = int(y.shape[0])
        self.loss_sum += loss.detach().double() * n
        self.correct += (logits.detach().argmax(dim=1) == y).sum()
        self.seen += n

    def logs(self) -> dict[str, float]:
        seen = max(self.seen, 1)
        return {"loss": float(self.loss_sum) / seen, "accuracy": float(self.correct) / seen}


class _Progress:
    """A tqdm bar per epoch (``progress=True``), a user callable, or nothing."""

    def __init__(self, progress: bool | ProgressFn, epoch: int, epochs: int, steps: int):
        self.fn = progress if callable(progress) else None
        self.bar = None
        self.epoch, self.steps = epoch, steps
        self.every = max(1, steps // 50)
        if progress is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=steps,
                desc=f"Epoch {epoch + 1}/{epochs}",
                unit="batch",
                file=sys.stderr,
                leave=False,
                disable=None,  # off when stderr is not a terminal
                dynamic_ncols=True,
            )

    @property
    def wants_numbers(self) -> bool:
        return self.fn is not None or (self.bar is not None and not self.bar.disable)

    def update(self, step: int, running: Callable[[], dict[str, float]]) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if not self.wants_numbers:
            return
        if self.fn is not None:
            self.fn(self.epoch, step, self.steps, running())
        elif step % self.every == 0 or step == self.steps - 1:
            logs = running()
            self.bar.set_postfix(
                loss=f"{logs['loss']:.4f}", acc=f"{logs['accuracy']:.4f}", refresh=False
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise FormatError(
            f"{path} is not a readable training checkpoint ({exc}); start a new run without resume"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != _CKPT_FORMAT:
        raise FormatError(f"{path} is not a convscope training checkpoint")
    return ckpt


def _check_resumable(
    ckpt: dict[str, Any], model_desc: dict[str, Any], data_desc: dict[str, Any], path: Path
) -> None:
    old_m, old_d = ckpt["model_desc"], ckpt["data_desc"]
    model_keys = ("arch", "input_shape", "num_classes", "state_signature")
    if any(old_m.get(k) != model_desc.get(k) for k in model_keys):
        raise ConvscopeError(
            f"cannot resume: {path} was written for model {old_m['arch']} "
            f"(input {old_m['input_shape']}, {old_m['num_classes']} classes), but this run "
            f"trains {model_desc['arch']} (input {model_desc['input_shape']}, "
            f"{model_desc['num_classes']} classes). Resume with the same model, or train "
            "into a new run folder without resume."
        )
    if old_d != data_desc:
        raise ConvscopeError(
            f"cannot resume: {path} was trained on data {old_d.get('name')!r} "
            f"({old_d.get('n_train')} training images of shape {old_d.get('input_shape')}, "
            f"fingerprint {old_d.get('fingerprint')}), but this run passes "
            f"{data_desc.get('name')!r} ({data_desc.get('n_train')} images of shape "
            f"{data_desc.get('input_shape')}, fingerprint {data_desc.get('fingerprint')}). "
            "Resume with the same data set and seed, or train into a new run folder."
        )


# --------------------------------------------------------------------------- fit


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
        out: run folder. After every epoch it receives, each file written atomically:
            ``history.json``, ``history.csv``, ``last.ckpt`` (loadable with
            ``torch.load(..., weights_only=True)``), ``model.safetensors`` (the best
            weights so far, see :func:`convscope.models.save_model`) and ``run.json``.
        patience: stop when ``val_loss`` has not improved for this many epochs
            (Keras ``EarlyStopping(patience=...)``); ``None`` trains all epochs.
        callbacks: objects with ``on_train_begin(model, data)`` and/or
            ``on_epoch_end(epoch, logs, model)`` (see :class:`Callback`).
        resume: continue from ``out/last.ckpt`` (model, optimizer, RNG states, history);
            the result equals that of an uninterrupted run.
        device: where to train (default: where the model's parameters are).
        progress: ``True`` for a tqdm bar per epoch on stderr (hidden when stderr is not
            a terminal), ``False`` for none, or a callable
            ``progress(epoch, step, steps, logs)`` called after every batch.
        class_names: class names to store with the model (default ``data.class_names``).
        dataset_name: data-set name to store with the model (default ``data.name``).

    Returns:
        The :class:`History`: per epoch ``epoch`` (1-based), ``loss``, ``accuracy``,
        ``val_loss``, ``val_accuracy``, ``lr``, ``time_s`` and any keys callbacks add.

    Raises:
        ShapeError: the images do not fit the model (both shapes are named), or arrays
            have the wrong shape; raised before any training.
        ConvscopeError: empty training split, labels outside ``[0, num_classes)``, bad
            options, or ``resume`` with a checkpoint of another model or data set.
        KeyboardInterrupt: re-raised after ``run.json`` is marked ``"interrupted"``; the
            last completed epoch is safe in ``last.ckpt``, so ``resume=True`` continues.

    Example:
        >>> import convscope as cs  # doctest: +SKIP
        >>> data = cs.data.load("mnist5k", seed=0)  # doctest: +SKIP
        >>> model = cs.models.build("mnist_convnet")  # doctest: +SKIP
        >>> history = cs.train.fit(model, data, epochs=8, out="runs/demo", patience=5)  # doctest: +SKIP
        >>> history["val_accuracy"][-1]  # doctest: +SKIP
    """
    # ---- options
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConvscopeError(f"epochs must be a positive integer, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConvscopeError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConvscopeError(f"lr must be a positive number, got {lr!r}")
    if patience is not None and (not isinstance(patience, int) or patience < 1):
        raise ConvscopeError(f"patience must be a positive integer or None, got {patience!r}")
    if resume and out is None:
        raise ConvscopeError("resume=True needs the run folder: pass out=...")
    out_path = Path(out) if out is not None else None
    ckpt_path = out_path / CHECKPOINT_FILE if out_path is not None else None
    if not (isinstance(progress, bool) or callable(progress)):
        raise ConvscopeError(f"progress must be True, False or a callable, got {progress!r}")
    if resume and not ckpt_path.exists():
        raise ConvscopeError(
            f"cannot resume: {ckpt_path} does not exist. Train without resume to start the run."
        )

    # ---- data
    x_train_raw, y_train_raw = _split(data, "train")
    if x_train_raw is None or y_train_raw is None:
        raise ConvscopeError(
            f"data must have x_train and y_train (a convscope.data.Dataset); got "
            f"{type(data).__name__}"
        )
    x_train = _as_images(x_train_raw, "x_train")
    n_train = int(x_train.shape[0])
    if n_train == 0:
        raise ConvscopeError("the training split is empty (x_train has no images)")
    y_train = _as_labels(y_train_raw, n_train, "y_train")
    x_val_raw, y_val_raw = _split(data, "val")
    has_val = x_val_raw is not None and y_val_raw is not None and len(x_val_raw) > 0
    if has_val:
        x_val = _as_images(x_val_raw, "x_val")
        if tuple(x_val.shape[1:]) != tuple(x_train.shape[1:]):
            raise ShapeError(
                f"x_val images have shape {tuple(x_val.shape[1:])} but x_train images have "
                f"{tuple(x_train.shape[1:])}"
            )
        y_val = _as_labels(y_val_raw, int(x_val.shape[0]), "y_val")
    else:
        x_val = y_val = None
        logger.warning("no validation split: best model and early stopping follow 'loss'")
    monitor = "val_loss" if has_val else "loss"

    # ---- model
    dev = torch.device(device) if device is not None else _model_device(model)
    model.to(dev)
    num_classes = _check_model_fits(model, x_train, dev)
    _check_label_range(y_train, num_classes, "y_train")
    if y_val is not None:
        _check_label_range(y_val, num_classes, "y_val")
    names = class_names if class_names is not None else getattr(data, "class_names", None)
    if names is not None and len(names):
        names = [str(c) for c in names]
    else:
        names = [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ShapeError(f"got {len(names)} class names for a model with {num_classes} outputs")
    ds_name = dataset_name if dataset_name is not None else getattr(data, "name", None)

    model_desc = _model_description(model)
    data_desc = {
        "name": ds_name,
        "n_train": n_train,
        "n_val": int(x_val.shape[0]) if x_val is not None else 0,
        "input_shape": list(x_train.shape[1:]),
        "fingerprint": _fingerprint(x_train, y_train),
    }
    options = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": float(lr),
        "seed": seed,
        "patience": patience,
        "device": str(dev),
        "resume": bool(resume),
        "optimizer": "adam",
        "loss": "cross_entropy",
        "monitor": monitor,
    }

    # ---- state
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    start_epoch = 0
    best: dict[str, Any] = {"epoch": None, "value": math.inf, "state": None}
    wait = 0
    stopped = False
    run: dict[str, Any] = {
        "format": "convscope-run",
        "version": 1,
        "status": "running",
        "model": model_desc,
        "dataset": ds_name,
        "data": data_desc,
        "class_names": names,
        "options": options,
        "seed": seed,
        "versions": _versions(),
        "started": _now(),
        "ended": None,
        "epochs_completed": 0,
        "best_epoch": None,
        "best_" + monitor: None,
        "files": {
            "model": "model.safetensors",
            "checkpoint": CHECKPOINT_FILE,
            "history": [HISTORY_JSON, HISTORY_CSV],
        },
    }

    if resume:
        ckpt = _load_checkpoint(ckpt_path)
        _check_resumable(ckpt, model_desc, data_desc, ckpt_path)
        old = ckpt["options"]
        for key in ("batch_size", "lr", "seed"):
            if old.get(key) != options[key]:
                logger.warning(
                    "resuming with %s=%r (the checkpoint used %r): the result will differ "
                    "from an uninterrupted run",
                    key,
                    options[key],
                    old.get(key),
                )
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        for group in optimizer.param_groups:
            group["lr"] = float(lr)
        history = History(ckpt["history"])
        start_epoch = int(ckpt["epoch"]) + 1
        best = {
            "epoch": ckpt["best_epoch"],
            "value": float(ckpt["best_value"]),
            "state": ckpt["best_state"],
        }
        wait = int(ckpt["wait"])
        stopped = bool(ckpt["stopped"])
        _set_rng_state(ckpt["rng"], gen)
        previous = ckpt.get("run") or {}
        run["started"] = previous.get("started", run["started"])
        run["resumed"] = [*previous.get("resumed", []), _now()]
        run["epochs_completed"] = start_epoch
        run["best_epoch"] = best["epoch"]
        logger.info("resuming %s after epoch %d", out_path, start_epoch)

    def write_run(status: str) -> None:
        if out_path is None:
            return
        run["status"] = status
        if status != "running":
            run["ended"] = _now()
        write_json(out_path / RUN_FILE, run)

    def save_best() -> None:
        from ..models import MODEL_FILE, ZooModel, save_model

        extra = {"epoch": best["epoch"], monitor: best["value"], "seed": seed}
        if isinstance(model, ZooModel):
            save_model(
                model, out_path / MODEL_FILE, class_names=names, dataset=ds_name, extra=extra
            )
        else:  # plain torch module: weights only (load them with safetensors.torch.load_file)
            from safetensors.torch import save

            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            blob = save(state)
            atomic_write(out_path / MODEL_FILE, lambda f: f.write(blob))

    def save_checkpoint(epoch: int) -> None:
        ckpt = {
            "format": _CKPT_FORMAT,
            "version": 1,
            "epoch": epoch,
            "model": _cpu_state(model),
            "optimizer": optimizer.state_dict(),
            "rng": _rng_state(gen),
            "history": history.history,
            "best_epoch": best["epoch"],
            "best_value": float(best["value"]),
            "best_state": best["state"],
            "wait": wait,
            "stopped": stopped,
            "model_desc": model_desc,
            "data_desc": data_desc,
            "options": options,
            "run": {"started": run["started"], "resumed": run.get("resumed", [])},
        }
        atomic_write(ckpt_path, lambda f: torch.save(ckpt, f))

    if out_path is not None:
        if not resume and ckpt_path.exists():
            logger.warning("overwriting the run in %s (pass resume=True to continue it)", out_path)
        out_path.mkdir(parents=True, exist_ok=True)
        write_run("running")

    x_train_dev = _maybe_to_device(x_train, dev)
    y_train_dev = _maybe_to_device(y_train, dev)
    steps = math.ceil(n_train / batch_size)
    status = "complete"
    try:
        for cb in callbacks:
            hook = getattr(cb, "on_train_begin", None)
            if hook is not None:
                hook(model, data)
        with _deterministic(dev):
            for epoch in range(start_epoch, epochs):
                if stopped:
                    break
                t0 = time.perf_counter()
                model.train()
                perm = torch.randperm(n_train, generator=gen)
                perm = perm.to(x_train_dev.device)
                acc = _Running(dev)
                bar = _Progress(progress, epoch, epochs, steps)
                try:
                    for step, sl in enumerate(batch_slices(n_train, batch_size)):
                        idx = perm[sl]
                        xb = x_train_dev[idx].to(dev, non_blocking=True)
                        yb = y_train_dev[idx].to(dev, non_blocking=True)
                        optimizer.zero_grad(set_to_none=True)
                        logits = model(xb)
                        loss = F.cross_entropy(logits, yb)
                        loss.backward()
                        optimizer.step()
                        acc.add(loss, logits, yb)
                        bar.update(step, acc.logs)
                finally:
                    bar.close()
                logs: dict[str, Any] = acc.logs()
                model.eval()
                if x_val is not None:
                    v_loss = torch.zeros((), dtype=torch.float64, device=dev)
                    v_correct = torch.zeros((), dtype=torch.int64, device=dev)
                    with torch.no_grad():
                        for sl in batch_slices(int(x_val.shape[0]), batch_size):
                            xb, yb = x_val[sl].to(dev), y_val[sl].to(dev)
                            logits = model(xb)
                            v_loss += F.cross_entropy(logits, yb, reduction="sum").double()
                            v_correct += (logits.argmax(dim=1) == yb).sum()
                    logs["val_loss"] = float(v_loss) / int(x_val.shape[0])
                    logs["val_accuracy"] = float(v_correct) / int(x_val.shape[0])
                logs["lr"] = float(optimizer.param_groups[0]["lr"])
                logs["time_s"] = time.perf_counter() - t0
                for cb in callbacks:
                    hook = getattr(cb, "on_epoch_end", None)
                    if hook is not None:
                        hook(epoch, logs, model)
                history.append({"epoch": epoch + 1, **logs})
                logger.info(
                    "Epoch %d/%d - %s",
                    epoch + 1,
                    epochs,
                    " - ".join(
                        f"{k}: {v:.4f}" if k != "time_s" else f"{v:.1f}s"
                        for k, v in logs.items()
                        if isinstance(v, (int, float)) and k != "lr"
                    ),
                )

                value = logs[monitor]
                improved = value < best["value"]
                if improved:
                    best = {"epoch": epoch + 1, "value": float(value), "state": _cpu_state(model)}
                    wait = 0
                else:
                    wait += 1
                if patience is not None and wait >= patience:
                    stopped = True
                    logger.info(
                        "early stopping after epoch %d: %s has not improved for %d epochs "
                        "(best %.4f at epoch %d)",
                        epoch + 1,
                        monitor,
                        patience,
                        best["value"],
                        best["epoch"],
                    )
                run["epochs_completed"] = epoch + 1
                run["best_epoch"] = best["epoch"]
                run["best_" + monitor] = best["value"] if best["epoch"] else None
                if out_path is not None:
                    if improved:
                        save_best()
                    save_checkpoint(epoch)
                    history.to_json(out_path / HISTORY_JSON)
                    history.to_csv(out_path / HISTORY_CSV)
                    write_run("stopped early" if stopped else "running")
    except KeyboardInterrupt:
        write_run("interrupted")
        raise
    except BaseException as exc:
        run["error"] = f"{type(exc).__name__}: {exc}"
        write_run("failed")
        raise
    if stopped:
        status = "stopped early"
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    if out_path is not None:
        if len(history) and not (out_path / HISTORY_JSON).exists():
            history.to_json(out_path / HISTORY_JSON)
            history.to_csv(out_path / HISTORY_CSV)
        write_run(status)
    return history
