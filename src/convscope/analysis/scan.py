"""The scan driver: one streaming pass over a data set that feeds every accumulator.

Each accumulator says which layers it reads (``layers``) and whether it reads the
model's final output (``needs_output``); :func:`scan` resolves every selection once,
runs the model once per batch on the union of those layers through
:func:`convscope.capturing.capture_iter`, and hands each accumulator a
:class:`~convscope.metrics.accumulator.Batch` with exactly its layers. Evaluation, firing
profiles and channel statistics of a data set thus cost one forward pass per batch
together, and memory stays bounded by one batch plus the statistics.

The model's output is its last layer (:func:`output_layer`): the adapters return named
layers only, and for the zoo, Keras and ONNX models the last layer is the output.

Example:
    >>> import numpy as np, convscope as cs
    >>> from convscope.metrics.evaluation import EvaluationAccumulator
    >>> from convscope.metrics.stats import ChannelStats
    >>> model = cs.models.build("mnist_convnet")
    >>> x, y = np.zeros((6, 1, 28, 28), np.float32), np.arange(6) % 3
    >>> ev, stats = scan(model, (x, y), EvaluationAccumulator(), ChannelStats(similarity_samples=0))
    >>> ev.num_samples, sorted(stats)
    (6, ['conv2d', 'conv2d_1'])
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from ..adapters import adapter_for
from ..adapters.base import LayerInfo, resolve_layers
from ..capturing import capture_iter
from ..errors import ConvscopeError
from ..metrics.accumulator import Batch
from ..validation import check_int
from .device import as_host, device_batches, use_device, view_for

__all__ = ["output_layer", "resolve_one", "scan"]

Progress = bool | Callable[[int, int | None], None]


def output_layer(infos: Sequence[LayerInfo]) -> str:
    """The layer whose output is the model's output: the last one that is not a block.

    Raises:
        ConvscopeError: the model has no layer.

    Example:
        >>> output_layer([LayerInfo("conv", "conv", None, 0), LayerInfo("dense", "dense", None, 0)])
        'dense'
    """
    leaves = [i.name for i in infos if i.kind != "block"]
    if not leaves:
        raise ConvscopeError("the model has no layer whose output could be read as its output")
    return leaves[-1]


def resolve_one(model: Any, selection: Any, verb: str) -> str:
    """Resolve a selection that must name exactly one layer of ``model``.

    Raises:
        UnknownNameError: no such layer (the message lists the layers).
        ConvscopeError: the selection names several layers.

    Example:
        >>> import convscope as cs
        >>> resolve_one(cs.models.build("mnist_convnet"), -1, "profile")
        'dense'
    """
    with adapter_for(model) as adapter:
        names = resolve_layers(selection, adapter.infos(shapes=False))
    if len(names) != 1:
        raise ConvscopeError(
            f"{verb} takes one layer; {selection!r} selects {len(names)}: {', '.join(names)}. "
            "Name one of them."
        )
    return names[0]


def _plan(accumulators: Sequence[Any], infos: Sequence[LayerInfo]) -> tuple[list, list, str | None]:
    """Per accumulator its layer names; the union to capture; the output layer if needed."""
    per: list[list[str]] = []
    union: list[str] = []
    for acc in accumulators:
        if not all(hasattr(acc, attr) for attr in ("feed", "merge", "result", "layers")):
            raise ConvscopeError(
                f"scan feeds accumulators (layers, needs_output, feed, merge, result); got a "
                f"{type(acc).__name__}. See convscope.metrics.accumulator.Accumulator"
            )
        selection = acc.layers
        empty = isinstance(selection, (tuple, list, str)) and len(selection) == 0
        names = [] if empty else resolve_layers(selection, infos)
        per.append(names)
        union += [n for n in names if n not in union]
    output = None
    if any(getattr(acc, "needs_output", False) for acc in accumulators):
        output = output_layer(infos)
        union += [output] if output not in union else []
    if not union:
        raise ConvscopeError("the accumulators read no layer and no output: nothing to run")
    return per, union, output


def _total(data: Any) -> int | None:
    """Images in ``data`` when it is an array or an (images, labels) pair, else None."""
    first = data[0] if isinstance(data, (tuple, list)) and len(data) == 2 else data
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else None


def _reporter(progress: Progress, total: int | None) -> tuple[Callable[[int], None], Any]:
    if progress is True:
        bar = tqdm(total=total, desc="scan", unit="img", leave=False, disable=None)
        return bar.update, bar
    if callable(progress):
        done = [0]

        def report(n: int) -> None:
            done[0] += n
            progress(done[0], total)

        return report, None
    return lambda n: None, None


def scan(
    model: Any,
    data: Any,
    *accumulators: Any,
    batch_size: int = 256,
    progress: Progress = False,
    device: Any = None,
    offset: int = 0,
    on_device: bool | None = None,
    amp: bool = False,
    engine: Callable[[Sequence[Any]], Sequence[Any]] | None = None,
    results: bool = True,
) -> tuple[Any, ...]:
    """Run ``data`` through ``model`` once, feeding every accumulator each batch.

    Args:
        model: a torch module, Keras model or ONNX model.
        data: images, an ``(images, labels)`` pair or an iterable of batches (what
            :func:`convscope.capture_iter` takes).
        *accumulators: objects following
            :class:`convscope.metrics.accumulator.Accumulator` (``EvaluationAccumulator``,
            ``FiringAccumulator(layer=...)``, ``ChannelStats``, :class:`MapSampler`...).
        batch_size: images per forward pass (memory bound).
        progress: ``True`` for a progress bar on stderr, or a callable given
            ``(images done, total images or None)`` after each batch.
        device: torch device to run on (default: where the model is). On ``"cuda"`` the
            batches stay on the GPU (see ``on_device``).
        offset: the position of ``data``'s first image in the whole data set (a shard's
            start), so accumulators that keep image positions count globally.
        on_device: keep the maps as tensors on the model's device and let accumulators
            that take tensors (``accepts_tensors``) reduce them there; the others get
            numpy copies of their layers only (firing profiles get their per-channel
            reduction, done on the device). Default: on for a CUDA device. Torch models only.
        amp: run the forward pass in mixed precision (float16 on CUDA, bfloat16 on the
            CPU); only on the device path. Moves values by up to ~2 % of a layer's peak:
            see docs/scaling.md before using it for counts near a threshold.
        engine: run the pass elsewhere: a callable given fresh copies of the accumulators
            that returns them fed with the whole data set (:mod:`convscope.engine`'s
            Ray engine); the results are merged into ``accumulators``.
        results: return each accumulator's ``result()``; False returns the accumulators
            themselves (a shard's part, which may have no result of its own).

    Returns:
        Each accumulator's ``result()``, in the order given. The accumulators themselves
        hold the state, so scans of several shards can still be merged.

    Raises:
        ConvscopeError: no accumulator, empty data, or an accumulator's need unmet
            (labels, a layer).
        UnknownNameError: an accumulator names a layer the model lacks.

    Example:
        >>> import numpy as np, convscope as cs
        >>> from convscope.metrics.firing import FiringAccumulator
        >>> x, y = np.zeros((4, 1, 28, 28), np.float32), np.array([0, 1, 0, 1])
        >>> (p,) = scan(cs.models.build("mnist_convnet"), (x, y), FiringAccumulator(2, layer="flatten"))
        >>> p.counts.tolist()
        [2, 2]
    """
    if not accumulators:
        raise ConvscopeError("scan needs at least one accumulator to feed")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    offset = check_int(offset, "offset", minimum=0)
    adapter = adapter_for(model, device=device)
    bar = None
    start = 0
    try:
        device_path = engine is None and use_device(adapter, device, on_device, amp)
        per, union, output = _plan(accumulators, adapter.infos(shapes=False))
        if engine is not None:
            fed = _run_engine(engine, accumulators)
            return tuple(acc.result() for acc in fed) if results else fed
        step, bar = _reporter(progress, _total(data))
        if device_path:
            batches = device_batches(adapter, data, union, batch_size, amp)
        else:
            batches = capture_iter(adapter, data, union, batch_size=batch_size)
        for maps, labels in batches:
            n = len(next(iter(maps.values())))
            for acc, names in zip(accumulators, per, strict=True):
                acc.feed(
                    Batch(
                        maps=view_for(acc, {name: maps[name] for name in names}),
                        labels=labels,
                        output=as_host(maps[output]) if output is not None else None,
                        start=offset + start,
                    )
                )
            start += n
            step(n)
    finally:
        if bar is not None:
            bar.close()
        adapter.close()
    if start == 0:
        raise ConvscopeError("the data is empty: no images to scan")
    return tuple(acc.result() for acc in accumulators) if results else tuple(accumulators)


def _run_engine(
    engine: Callable[[Sequence[Any]], Sequence[Any]], accumulators: Sequence[Any]
) -> tuple:
    """Let ``engine`` feed fresh copies; merge what it returns into ``accumulators``."""
    fed = list(engine([copy.deepcopy(acc) for acc in accumulators]))
    if len(fed) != len(accumulators):
        raise ConvscopeError(f"the engine returned {len(fed)} accumulators for {len(accumulators)}")
    for acc, done in zip(accumulators, fed, strict=True):
        acc.merge(done)
    return tuple(accumulators)
