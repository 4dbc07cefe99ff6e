"""The scan's device path: maps stay on the GPU; each accumulator reduces them there.

On the device path (:func:`convscope.analysis.scan` with ``device="cuda"``, or
``on_device=True``) each batch is copied to the device once (pinned memory, non-blocking),
the forward pass keeps the requested layers as tensors there
(:func:`convscope.adapters.device.run_on_device`), and each accumulator gets a view of
them that it can reduce without a copy of the whole maps to the host:

* accumulators that say ``accepts_tensors`` (the top-k exemplars) take the tensors and
  reduce on the device; only their ``channels x k`` winners travel;
* a firing profile of a conv layer takes its per-channel reduction, computed on the
  device: the spatial maximum for ``reduce="any"`` (a cell is above the threshold exactly
  when the maximum is), the float64 spatial mean for ``reduce="mean"``: (N, C) numbers
  instead of (N, C, H, W);
* any other accumulator gets numpy copies of exactly its layers (channel statistics still
  do: their per-image similarity needs the maps on the host).

Example:
    >>> import numpy as np, convscope as cs
    >>> from convscope.metrics.topk import TopKAccumulator
    >>> x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    >>> model = cs.models.build("mnist_convnet")
    >>> (on,) = cs.analysis.scan(model, x, TopKAccumulator(2), on_device=True)
    >>> (off,) = cs.analysis.scan(model, x, TopKAccumulator(2))
    >>> bool((on["conv2d"].images == off["conv2d"].images).all())
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..adapters.base import Adapter
from ..capturing import iter_batches
from ..errors import ConvscopeError
from ..metrics.firing import FiringAccumulator

__all__ = ["as_host", "device_batches", "use_device", "view_for"]


def _is_tensor(value: Any) -> bool:
    return type(value).__name__ == "Tensor"


def as_host(value: Any) -> Any:
    """A tensor as a float32 numpy array on the host; anything else as it is.

    Example:
        >>> as_host(np.ones(2)).tolist()
        [1.0, 1.0]
    """
    if _is_tensor(value):
        return value.detach().float().cpu().numpy()
    return value


def use_device(adapter: Adapter, device: Any, on_device: bool | None, amp: bool) -> bool:
    """Whether a scan takes the device path; checks that it can.

    Raises:
        ConvscopeError: the device path asked for a model torch does not run, the model
            sits on another device, or mixed precision without the device path.

    Example:
        >>> import convscope as cs
        >>> from convscope.adapters import adapter_for
        >>> use_device(adapter_for(cs.models.build("mnist_convnet")), None, None, False)
        False
    """
    if on_device is None:
        on_device = device is not None and str(device).split(":")[0] == "cuda"
    if amp and not on_device:
        raise ConvscopeError("mixed precision (amp) runs on the device path: pass device='cuda'")
    if not on_device:
        return False
    module = adapter.torch_module
    if module is None:
        raise ConvscopeError(
            f"the device path runs torch models; this is a {adapter.backend} model: leave "
            "--device unset (it runs where its backend runs it)"
        )
    param = next(module.parameters(), None)
    if device is not None and param is not None:
        import torch

        want = torch.device(device)
        if param.device.type != want.type:
            raise ConvscopeError(
                f"the model's weights are on {param.device} but device={device!r}: load it "
                f"there (convscope.models.load(spec, device={str(want)!r}) or model.to(...))"
            )
    return True


def device_batches(
    adapter: Adapter, data: Any, names: list[str], batch_size: int, amp: bool = False
) -> Iterator[tuple[dict[str, Any], np.ndarray | None]]:
    """``(maps as device tensors, labels)`` per batch: the device twin of ``capture_iter``."""
    from ..adapters.device import autocast, run_on_device, to_device

    module = adapter.torch_module
    param = next(module.parameters(), None)
    device = param.device if param is not None else "cpu"
    for images, labels in iter_batches(data, batch_size):
        if len(images) == 0:
            continue
        x = to_device(images, device)
        with autocast(device, amp):
            yield run_on_device(module, x, names), labels


def view_for(acc: Any, maps: Mapping[str, Any]) -> Mapping[str, Any]:
    """What ``acc`` is fed of these maps: tensors, a device reduction, or host copies."""
    if not any(_is_tensor(v) for v in maps.values()) or getattr(acc, "accepts_tensors", False):
        return maps
    if isinstance(acc, FiringAccumulator) and all(v.ndim == 4 for v in maps.values()):
        if acc.reduce == "any":
            return {n: as_host(v.amax(dim=(2, 3))) for n, v in maps.items()}
        return {n: v.double().mean(dim=(2, 3)).cpu().numpy() for n, v in maps.items()}
    return {n: as_host(v) for n, v in maps.items()}
