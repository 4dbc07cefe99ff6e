"""PyTorch capture: forward hooks that only keep references, removed in ``finally``.

Speed: a hook stores the output tensor itself (no copy) and notes its version counter.
After the forward pass, a tensor whose version changed was modified in place by a later
layer (``ReLU(inplace=True)``); only then is the batch run again with copying hooks. The
forward pass also stops as soon as every requested layer has been seen, so capturing an
early layer does not pay for the rest of the network.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConvscopeError, ShapeError, UnknownNameError
from ..models.zoo import GlobalAveragePooling2D
from ..validation import as_numpy
from .base import Adapter, LayerInfo, check_float_images

_CONV = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
_POOL = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.LPPool2d,
)  # fmt: skip
_NORM = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm,
)  # fmt: skip
_ACT = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
    nn.Softmax, nn.LogSoftmax, nn.PReLU, nn.Hardswish, nn.Mish, nn.Softplus,
)  # fmt: skip
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def module_kind(module: nn.Module) -> str:
    """Classify a torch module as conv, pool, dense, norm, activation, dropout, flatten, block or other.

    Example:
        >>> module_kind(nn.MaxPool2d(2)), module_kind(GlobalAveragePooling2D())
        ('pool', 'pool')
    """
    if isinstance(module, _CONV):
        return "conv"
    if isinstance(module, (*_POOL, GlobalAveragePooling2D)):
        return "pool"
    if isinstance(module, nn.Linear):
        return "dense"
    if isinstance(module, _NORM):
        return "norm"
    if isinstance(module, _ACT):
        return "activation"
    if isinstance(module, _DROPOUT):
        return "dropout"
    if isinstance(module, nn.Flatten):
        return "flatten"
    if next(module.children(), None) is not None:
        return "block"
    return "other"


class _StopForward(BaseException):
    """Raised by a hook once every requested layer has been seen.

    A ``BaseException``, not an ``Exception``: a model whose ``forward`` wraps a child
    call in ``try/except Exception`` must not swallow it and run on.
    """


class TorchAdapter(Adapter):
    """Capture from a ``torch.nn.Module`` through forward hooks."""

    backend = "torch"

    def __init__(self, model: nn.Module, device: str | torch.device | None = None) -> None:
        self.model = model
        self.modules = {name.replace(".", "/"): m for name, m in model.named_modules() if name}
        self.input_shape = tuple(getattr(model, "input_shape", ()) or ()) or None
        if device is None:
            param = next(model.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
        self.device = torch.device(device)
        self._handles: list[Any] = []

    # -- layer listing -------------------------------------------------------------
    def infos(
        self, input_shape: tuple[int, ...] | None = None, shapes: bool = True
    ) -> list[LayerInfo]:
        shape = tuple(input_shape) if input_shape is not None else self.input_shape
        out_shapes: dict[str, tuple[int, ...]] = {}
        if shape is not None and shapes:
            out_shapes = self._output_shapes(shape)
        return [
            LayerInfo(
                name=name,
                kind=module_kind(module),
                output_shape=out_shapes.get(name),
                params=sum(p.numel() for p in module.parameters()),
                type=type(module).__name__,
            )
            for name, module in self.modules.items()
        ]

    def _output_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}

        def make_hook(name: str):
            def hook(_module, _inputs, output):
                if isinstance(output, torch.Tensor) and name not in shapes:
                    shapes[name] = tuple(output.shape[1:])

            return hook

        x = torch.zeros((1, *shape), device=self.device)
        self._forward(x, {n: make_hook(n) for n in self.modules})
        return shapes

    # -- running -------------------------------------------------------------------
    def to_input(self, x: Any) -> torch.Tensor:
        tensor = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
        check_float_images(tensor.dtype)
        if tensor.dtype != torch.float32:
            tensor = tensor.float()
        if self.input_shape is not None:
            if tensor.ndim == len(self.input_shape):
                tensor = tensor.unsqueeze(0)  # one image without its batch axis
        elif tensor.ndim == 3 and self._first_conv_is_2d():
            tensor = tensor.unsqueeze(0)  # one (C, H, W) image: Conv2d would run unbatched
        if self.input_shape is not None and tuple(tensor.shape[1:]) != self.input_shape:
            raise ShapeError(
                f"the model takes images of shape (N, {', '.join(map(str, self.input_shape))}) "
                f"in NCHW; got {tuple(tensor.shape)}. Resize the images, or transpose NHWC "
                "input with x.transpose(0, 3, 1, 2)."
            )
        return tensor.to(self.device)

    def _first_conv_is_2d(self) -> bool:
        """Whether the first conv-like module is 2-D (a Conv1d model takes 3-D batches)."""
        first = next((m for m in self.model.modules() if isinstance(m, _CONV)), None)
        return isinstance(first, (nn.Conv2d, nn.ConvTranspose2d))

    def run(self, x: torch.Tensor, names: list[str]) -> dict[str, np.ndarray]:
        store: dict[str, torch.Tensor] = {}
        versions: dict[str, int] = {}

        def make_hook(name: str, copy: bool):
            def hook(_module, _inputs, output):
                if name in store:  # a module called twice: keep its first output
                    return
                if not isinstance(output, torch.Tensor):
                    raise ConvscopeError(
                        f"layer {name!r} returns {type(output).__name__}, not a tensor; "
                        "capture one of its sub-layers instead"
                    )
                tensor = output.detach()
                store[name] = tensor.clone() if copy else tensor
                versions[name] = tensor._version
                if len(store) == len(names):
                    raise _StopForward

            return hook

        self._forward(x, {n: make_hook(n, False) for n in names})
        if any(store[n]._version != versions[n] for n in store):
            store.clear()  # a later in-place op changed a captured tensor: run again, copying
            self._forward(x, {n: make_hook(n, True) for n in names})
        missing = [n for n in names if n not in store]
        if missing:
            raise ConvscopeError(
                f"layers {missing} never ran during the forward pass (unused modules?); "
                "pick layers that the model's forward() calls"
            )
        return {n: _to_numpy(store[n]) for n in names}

    def _forward(self, x: torch.Tensor, hooks: dict[str, Any]) -> None:
        was_training = self.model.training
        self.model.eval()
        try:
            for name, hook in hooks.items():
                self._handles.append(self.modules[name].register_forward_hook(hook))
            with torch.no_grad():
                try:
                    self.model(x)
                except _StopForward:
                    pass
                except ShapeError:
                    raise
                except RuntimeError as exc:
                    raise ShapeError(
                        f"the forward pass failed on input of shape {tuple(x.shape)}: {exc}. "
                        "Check that the images have the size and channels the model takes."
                    ) from exc
        finally:
            self.close()
            self.model.train(was_training)

    @property
    def torch_module(self) -> nn.Module:
        return self.model

    def kernels(self, layer: str) -> np.ndarray | None:
        if layer not in self.modules:
            raise UnknownNameError("layer", [layer], list(self.modules))
        module = self.modules[layer]
        weight = getattr(module, "weight", None)
        if module_kind(module) != "conv" or not isinstance(weight, torch.Tensor):
            return None
        if weight.ndim != 4:
            return None  # a 1-D or 3-D convolution
        kernel = as_numpy(weight, dtype=np.float32)
        if isinstance(module, nn.ConvTranspose2d):  # stored (in, out, kh, kw)
            kernel = kernel.transpose(1, 0, 2, 3)
        return np.ascontiguousarray(kernel)

    def close(self) -> None:
        while self._handles:
            self._handles.pop().remove()


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    # cast where the tensor lives: numpy has no bfloat16, and a GPU casts faster than a CPU
    return as_numpy(tensor if tensor.dtype == torch.float32 else tensor.float())
