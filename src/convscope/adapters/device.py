"""The device path of a torch model: batches in and maps out stay on the accelerator.

:func:`to_device` moves one batch of images to the model's device (through pinned host
memory on CUDA, so the copy overlaps the previous batch's work); :func:`run_on_device`
runs the forward pass with hooks that keep the requested layers' outputs as tensors where
they were computed, so the accumulators can reduce them there and only their small
results travel to the CPU. :class:`convscope.adapters.torch.TorchAdapter` keeps the
numpy contract of :meth:`~convscope.adapters.base.Adapter.run`; this is its tensor twin.

Example:
    >>> import numpy as np, convscope as cs
    >>> model = cs.models.build("mnist_convnet")
    >>> x = to_device(np.zeros((2, 1, 28, 28), np.float32), "cpu")
    >>> maps = run_on_device(model, x, ["conv2d_1"])
    >>> type(maps["conv2d_1"]).__name__, tuple(maps["conv2d_1"].shape)
    ('Tensor', (2, 64, 11, 11))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConvscopeError, UnknownNameError
from .base import check_float_images
from .torch import inference

__all__ = ["autocast", "run_on_device", "to_device"]


class _Stop(BaseException):
    """Raised by a hook once every requested layer has been seen (not an Exception)."""


def to_device(images: Any, device: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One batch of images as a tensor on ``device``; pinned and non-blocking on CUDA.

    Raises:
        ConvscopeError: integer images (the message names the fix).

    Example:
        >>> to_device(np.ones((1, 1, 2, 2), np.float32), "cpu").device.type
        'cpu'
    """
    device = torch.device(device)
    tensor = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.asarray(images))
    check_float_images(tensor.dtype)
    if device.type == "cuda" and tensor.device.type == "cpu":
        tensor = tensor.pin_memory()
        return tensor.to(device, dtype=dtype, non_blocking=True)
    return tensor.to(device, dtype=dtype)


def autocast(device: Any, enabled: bool) -> Any:
    """Mixed precision for the forward pass when ``enabled`` (float16 on CUDA, bfloat16 else).

    Example:
        >>> with autocast("cpu", False):
        ...     pass
    """
    device = torch.device(device)
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=enabled)


def run_on_device(model: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """The outputs of ``names`` for batch ``x``, as detached tensors on the model's device.

    Outputs a later in-place op would change (``ReLU(inplace=True)``) are cloned; the
    forward pass stops once every requested layer has run.

    Raises:
        UnknownNameError: a name is not a module of ``model`` (the modules are listed).
        ConvscopeError: a requested layer did not run, or returned no tensor.
    """
    modules = {name.replace(".", "/"): m for name, m in model.named_modules() if name}
    missing = [n for n in names if n not in modules]
    if missing:
        raise UnknownNameError("layer", missing, list(modules))
    store: dict[str, torch.Tensor] = {}

    def make_hook(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if name in store:
                return
            if not isinstance(output, torch.Tensor):
                raise ConvscopeError(
                    f"layer {name!r} returns {type(output).__name__}, not a tensor"
                )
            # a clone costs one device copy; it keeps the map safe from later in-place ops
            store[name] = output.detach().clone()
            if len(store) == len(names):
                raise _Stop

        return hook

    handles = [modules[n].register_forward_hook(make_hook(n)) for n in names]
    try:
        with inference(model):  # every module gets its own training flag back (frozen BN)
            model(x)
    except _Stop:
        pass
    except RuntimeError as exc:
        raise ConvscopeError(
            f"the forward pass failed on input of shape {tuple(x.shape)}: {exc}"
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
    not_run = [n for n in names if n not in store]
    if not_run:
        raise ConvscopeError(f"layers {not_run} never ran during the forward pass")
    return {n: store[n] for n in names}
