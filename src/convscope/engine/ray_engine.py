"""Ray as the engine past one machine: shards scanned by Ray tasks, merged by the driver.

:func:`run_sharded` cuts the data set into shards by image index, sends each to a Ray
task that loads the model itself (:class:`~convscope.engine.shards.ModelSpec`: a run
folder or model file, safe formats only) and its images (a
:class:`~convscope.engine.shards.DataSpec` by name, or the driver's arrays through Ray's
object store, as for ``folder:`` data, whose files live on the driver's disk), scans them
into copies of the accumulators and returns them. The driver merges the returned
accumulators **in shard order**, whatever order they finish in, so a run is
reproducible. Shards are cut on multiples of the batch size, so every batch a worker
runs is a batch the single-process run runs too: the maps are the same, integer counts
equal the single-process run's, and float sums differ only by the order of summation
(about 1e-12 relative in float64).

Exactly once: each shard is one task; its result is taken once, by shard index. A worker
that dies is retried by Ray (``max_retries=1``) and the shard is scanned again from
scratch, never added twice. A shard whose task fails twice, or raises (a model or data
set the worker cannot read), stops the run with one line naming the shard and the
cause; nothing is merged or written.

Example:
    >>> from convscope.engine.shards import plan_shards
    >>> len(plan_shards(1000, default_shards(2)))
    8
"""

from __future__ import annotations

import copy
import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import BackendMissingError, ConvscopeError
from ..validation import check_int
from .shards import DataSpec, ModelSpec, Shard, plan_shards, scan_shard

__all__ = ["RayEngine", "check_reachable", "default_shards", "require_ray", "run_sharded"]

Progress = bool | Callable[[int, int], None]


def require_ray() -> Any:
    """The ``ray`` module, or the one-line error that says how to install it.

    Raises:
        BackendMissingError: ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise BackendMissingError("ray", "ray") from None
    return ray


def default_shards(workers: int) -> int:
    """Four shards per worker: a retried shard redoes a quarter of a worker's part.

    Example:
        >>> default_shards(3)
        12
    """
    return 4 * workers


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def connect(address: str | None, workers: int) -> bool:
    """Join the cluster at ``address``, or start a local Ray with ``workers`` CPUs.

    Returns whether this call started Ray (and so should shut it down). A Ray already
    running in this process is used as it is.

    Raises:
        ConvscopeError: the cluster at ``address`` cannot be reached.

    Example:
        >>> started = connect(None, workers=2)  # doctest: +SKIP
    """
    ray = require_ray()
    if address and address != "auto":
        check_reachable(address)
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, **quiet)
    except Exception as exc:  # ray raises ConnectionError, RuntimeError, ValueError...
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ConvscopeError(
            f"cannot start or reach {where}: {_first_line(exc)}; check --address (HOST:PORT of "
            "a `ray start --head` node, or auto) or leave it out to start a local Ray"
        ) from None
    return True


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an address nothing listens at (Ray itself would retry for minutes).

    Raises:
        ConvscopeError: not ``HOST:PORT``, or no connection within ``timeout`` seconds.

    Example:
        >>> check_reachable("nowhere")
        Traceback (most recent call last):
        ...
        convscope.errors.ConvscopeError: --address 'nowhere' is not HOST:PORT (or auto)
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConvscopeError(f"--address {address!r} is not HOST:PORT (or auto)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConvscopeError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; start one there "
            "with `ray start --head`, or leave --address out to start a local Ray"
        ) from None


def _shard_task(model: ModelSpec, data: Any, x: Any, y: Any, shard: Shard, accs: list,
                batch_size: int, device: Any) -> list:  # fmt: skip
    """What one Ray task runs: its shard's images from ``data`` or ``x``/``y``."""
    source = data if data is not None else (
        x[shard.start : shard.stop], None if y is None else y[shard.start : shard.stop]
    )  # fmt: skip
    return scan_shard(model, source, shard, accs, batch_size=batch_size, device=device)


def _failure(ray: Any, shard: Shard, exc: BaseException) -> ConvscopeError:
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = getattr(exc, "cause", None) or exc
        return ConvscopeError(f"{shard} failed: {_first_line(cause)}")
    return ConvscopeError(
        f"{shard} failed twice (the worker was lost and the retry too): {_first_line(exc)}"
    )


def _gather(ray: Any, pending: dict, total: int, progress: Progress) -> dict[int, list]:
    """Wait for every shard; its result once, by index; the first failure stops the run."""
    bar, done_images, results = None, 0, {}
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="shards", unit="img", leave=False, disable=None)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            shard = pending.pop(ready[0])
            try:
                results.setdefault(shard.index, ray.get(ready[0]))
            except Exception as exc:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise _failure(ray, shard, exc) from None
            done_images += shard.stop - shard.start
            if bar is not None:
                bar.update(shard.stop - shard.start)
            elif callable(progress):
                progress(done_images, total)
    finally:
        if bar is not None:
            bar.close()
    return results


def run_sharded(
    model_spec: str | ModelSpec,
    data_spec: DataSpec | tuple[Any, Any],
    accumulators: Sequence[Any],
    workers: int = 2,
    address: str | None = None,
    *,
    shards: int | None = None,
    batch_size: int = 256,
    device: str | None = None,
    progress: Progress = False,
    max_retries: int = 1,
) -> list[Any]:
    """Scan a data set on Ray, shard by shard; return the accumulators merged in shard order.

    Args:
        model_spec: a run folder or model file (or a :class:`ModelSpec`).
        data_spec: a :class:`DataSpec` (each worker loads it) or ``(images, labels)``
            arrays of the driver (shipped once through the object store).
        accumulators: templates (not fed themselves); each shard gets copies.
        workers: CPUs of the local Ray this starts when ``address`` is None.
        address: ``auto`` or ``HOST:PORT`` of a running cluster.
        shards: how many shards (default :func:`default_shards`).
        batch_size: images per forward pass in a worker.
        device: ``"cuda"`` to run each task on a GPU (one GPU per task).
        progress: ``True`` for a bar over images, or a callable ``(done, total)``.
        max_retries: Ray retries of a task whose worker died.

    Returns:
        New accumulators, one per template, holding the whole data set.

    Raises:
        BackendMissingError: ray is not installed.
        ConvscopeError: an unreachable address, or a shard that failed (named).

    Example:
        >>> from convscope.metrics.topk import TopKAccumulator
        >>> (tops,) = run_sharded("runs/demo", DataSpec("mnist5k"), [TopKAccumulator(9)])  # doctest: +SKIP
        >>> tops.result()["conv2d_1"].images.shape  # doctest: +SKIP
        (64, 9)
    """
    ray = require_ray()
    workers = check_int(workers, "workers", minimum=1)
    if not isinstance(model_spec, ModelSpec):
        model_spec = ModelSpec(str(model_spec), device=device or "cpu")
    if isinstance(data_spec, DataSpec):
        total, x, y = len(data_spec.arrays()[0]), None, None
    else:
        x, y = data_spec
        total = len(x)
    plan = plan_shards(total, shards or default_shards(workers), align=batch_size)
    started = connect(address, workers)
    try:
        source = data_spec if isinstance(data_spec, DataSpec) else None
        x_ref = ray.put(x) if x is not None else None
        y_ref = ray.put(y) if y is not None else None
        task = ray.remote(_shard_task).options(
            max_retries=max_retries, retry_exceptions=False, num_cpus=1,
            num_gpus=1 if device and str(device).startswith("cuda") else 0,
        )  # fmt: skip
        templates = list(accumulators)
        pending = {
            task.remote(
                model_spec, source, x_ref, y_ref, shard, templates, batch_size, device
            ): shard
            for shard in plan
        }
        results = _gather(ray, pending, total, progress)
    finally:
        if started:
            ray.shutdown()
    merged = copy.deepcopy(results[0])  # Ray hands back read-only arrays: merge into copies
    for index in range(1, len(plan)):
        for mine, theirs in zip(merged, results[index], strict=True):
            mine.merge(theirs)
    return merged


class RayEngine:
    """:func:`run_sharded` as the ``engine`` hook of :func:`convscope.analysis.scan`.

    Example:
        >>> engine = RayEngine("runs/demo", DataSpec("mnist5k"), workers=2)  # doctest: +SKIP
        >>> scan(model, (x, y), ChannelStats(), engine=engine)  # doctest: +SKIP
    """

    def __init__(self, model_spec: str | ModelSpec, data_spec: Any, workers: int = 2,
                 address: str | None = None, **options: Any) -> None:  # fmt: skip
        self.model_spec = model_spec
        self.data_spec = data_spec
        self.workers = workers
        self.address = address
        self.options = options

    def __call__(self, accumulators: Sequence[Any]) -> list[Any]:
        """Feed copies of ``accumulators`` with the whole data set on Ray."""
        return run_sharded(self.model_spec, self.data_spec, accumulators, self.workers,
                           self.address, **self.options)  # fmt: skip
