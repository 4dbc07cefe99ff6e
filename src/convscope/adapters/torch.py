"""PyTorch capture: forward hooks that copy each output once, into arrays made in advance.

One forward pass of a few rows is traced first (:mod:`._torch_trace`, cached per model
and input shape): it tells which modules run and how often, what they return and in
which layout. The capture hooks then copy each requested output into its rows of an
array allocated once for all batches, the moment the module returns it: a later in-place
operation (``ReLU(inplace=True)``) cannot change what was copied, so no forward pass
ever runs twice, and torch frees every intermediate tensor as a plain forward does. The
pass stops as soon as the last requested output is copied.

The model runs in eval mode without gradients, in its own parameter dtype (half,
bfloat16, float64 models take their own dtype; maps come back float32), and every
module gets its own ``training`` flag back afterwards: a BatchNorm frozen in eval inside
a model in train mode stays frozen.

A module called more than once is captured at every call: ``relu``, ``relu#1``...
A module returning a tuple, list or dict is captured as its tensor parts ``lstm/0``,
``lstm/1/0``...; a 4-D channels-last output (``Linear``/``LayerNorm`` over the last axis
of an (N, H, W, C) tensor, as in ConvNeXt blocks) comes back in NCHW.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConvscopeError, ShapeError, UnknownNameError
from ..validation import as_numpy
from ._torch_kinds import CONV, module_kind
from ._torch_trace import (
    TRACE_ROWS,
    Trace,
    TracedOutput,
    call_name,
    pick,
    run_trace,
)
from .base import Adapter, LayerInfo, check_float_images
from .inputs import ModelInputs

_SHAPE_WORDS = re.compile(
    r"size|shape|dimension|mat1 and mat2|channels|cannot be multiplied|expected input|"
    r"must match|[0-9]D",
    re.IGNORECASE,
)
_DTYPE_WORDS = re.compile(r"dtype|scalar type|type \(|Half|BFloat16|Double", re.IGNORECASE)


_NUMPY_COPY = (torch.float32, torch.float64, torch.float16)


class _StopForward(BaseException):
    """Raised by a hook once every requested output is copied.

    A ``BaseException``, not an ``Exception``: a model whose ``forward`` wraps a child
    call in ``try/except Exception`` must not swallow it and run on.
    """


class _Traces:
    """A model's traces by input signature, and the signature it last ran on."""

    def __init__(self) -> None:
        self.by_key: dict[tuple, Trace] = {}
        self.last: tuple | None = None


_TRACES: weakref.WeakKeyDictionary[nn.Module, _Traces] = weakref.WeakKeyDictionary()


def parameter_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype the model computes in: its first floating parameter's (or buffer's).

    Example:
        >>> parameter_dtype(nn.Linear(2, 2).half()), parameter_dtype(nn.ReLU())
        (torch.float16, torch.float32)
    """
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


@contextlib.contextmanager
def inference(model: nn.Module) -> Iterator[None]:
    """Eval mode without gradients; every module gets its own ``training`` flag back."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, flag in flags:
            module.training = flag


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
        self.dtype = parameter_dtype(model)
        self._trace: Trace | None = None
        self._trace_key: tuple | None = None
        self._failure: ConvscopeError | None = None

    # -- tracing -------------------------------------------------------------------
    def _cache(self) -> _Traces:
        try:
            return _TRACES.setdefault(self.model, _Traces())
        except TypeError:  # an unhashable module: no caching
            return _Traces()

    def _key(self, x: Any) -> tuple:
        if isinstance(x, ModelInputs):
            inputs = tuple((k, tuple(v.shape[1:]), str(v.dtype)) for k, v in x.items())
        else:
            inputs = ((tuple(x.shape[1:]), str(x.dtype)),)
        return (inputs, str(self.device), tuple(self.modules))

    def bind(self, x: Any) -> None:
        """Trace one forward pass on the first rows of ``x`` (cached per input shape).

        A trace whose forward failed is kept for this adapter only (not cached): what ran
        before the failure can be captured, and asking for more raises the failure.
        """
        key = self._key(x)
        if key == self._trace_key and not (self._trace.unsure and len(x) > 1):
            return
        cache = self._cache()
        self._failure = None
        if key in cache.by_key and not (cache.by_key[key].unsure and len(x) > 1):
            trace = cache.by_key[key]
        else:
            rows = x[:TRACE_ROWS]
            with inference(self.model):
                trace, failed = run_trace(self.modules, lambda: self._call(rows), len(rows))
            if failed is None:
                cache.by_key[key] = trace
                cache.last = key
            elif isinstance(failed.error, ConvscopeError):
                self._failure = failed.error
            else:
                self._failure = _forward_error(failed.error, failed.layer, rows)
            del failed  # its traceback holds the pass's tensors
        self._trace, self._trace_key = trace, key

    def _known_trace(self, input_shape: tuple[int, ...] | None) -> Trace | None:
        """The trace for ``input_shape``, the bound one, the model's own shape's, or its last."""
        shape = tuple(input_shape) if input_shape is not None else None
        if shape is None and self._trace is not None:
            return self._trace
        shape = shape or self.input_shape
        if shape is not None:
            # one row: the listing costs one image's forward pass
            self.bind(torch.zeros((1, *shape), dtype=self.dtype, device=self.device))
            return self._trace
        cache = self._cache()
        return cache.by_key.get(cache.last) if cache.last is not None else None

    # -- layer listing -------------------------------------------------------------
    def infos(
        self, input_shape: tuple[int, ...] | None = None, shapes: bool = True
    ) -> list[LayerInfo]:
        trace = self._known_trace(input_shape)
        if self._failure is not None and shapes:
            warnings.warn(f"{self._failure} Layers it did not reach have no shape.", stacklevel=3)
        infos = []
        for name, module in self.modules.items():
            kind, kind_type = module_kind(module), type(module).__name__
            params = sum(p.numel() for p in module.parameters())
            calls = trace.calls.get(name, 0) if trace is not None else 1
            if calls == 0:
                # after a failed forward, a module the pass did not reach may still run
                ran = self._failure is not None and trace is self._trace
                infos.append(LayerInfo(name, kind, None, params, kind_type, ran=ran))
            for call in range(calls):
                base = call_name(name, call)
                count = params if call == 0 else 0
                if trace is None or base in trace.outputs:
                    shape = trace.outputs[base].shape if trace is not None and shapes else None
                    infos.append(LayerInfo(base, kind, shape, count, kind_type))
                    continue
                parts = trace.parts.get(base, ())
                infos.append(LayerInfo(base, kind, None, count, kind_type, parts=parts))
                for part in parts:
                    shape = trace.outputs[part].shape if shapes else None
                    infos.append(LayerInfo(part, kind, shape, 0, kind_type))
        return infos

    # -- inputs --------------------------------------------------------------------
    def signature(self) -> str | None:
        """``Model.forward(a, b, *, c=None)``: argument names and defaults, no annotations."""
        try:
            signature = inspect.signature(self.model.forward)
        except (TypeError, ValueError):
            return None
        bare = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        return f"{type(self.model).__name__}.forward{bare}"

    def _check_call(self, args: tuple, kwargs: dict, what: str) -> None:
        try:
            signature = inspect.signature(self.model.forward)
        except (TypeError, ValueError):
            return
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ConvscopeError(
                f"{what} do not match {self.signature()}: {exc}. Pass one tensor per argument: "
                "capture(model, (a, b), inputs='positional') or capture(model, {'name': a}, "
                "inputs='keyword')"
            ) from None

    def _tensor(self, value: Any, image: bool) -> torch.Tensor:
        tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
        if image:
            check_float_images(tensor.dtype)
        if tensor.is_floating_point() and tensor.dtype != self.dtype:
            tensor = tensor.to(self.dtype)
        return tensor.to(self.device)

    def to_input(self, x: Any) -> torch.Tensor | ModelInputs:
        if isinstance(x, ModelInputs):
            inputs = x.map(lambda v: self._tensor(v, image=False))
            self._check_call(inputs.args, inputs.kwargs, f"the inputs ({inputs.describe()})")
            return inputs
        tensor = self._tensor(x, image=True)
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
        self._check_call((tensor,), {}, f"one input of shape {tuple(tensor.shape)}")
        return tensor

    def _first_conv_is_2d(self) -> bool:
        """Whether the first conv-like module is 2-D (a Conv1d model takes 3-D batches)."""
        first = next((m for m in self.model.modules() if isinstance(m, CONV)), None)
        return isinstance(first, (nn.Conv2d, nn.ConvTranspose2d))

    def _call(self, x: torch.Tensor | ModelInputs) -> Any:
        if isinstance(x, ModelInputs):
            return self.model(*x.args, **x.kwargs)
        return self.model(x)

    # -- running -------------------------------------------------------------------
    def run(self, x: Any, names: list[str]) -> dict[str, np.ndarray]:
        return self.run_into(x, names, None, 0, len(x))

    def _outputs(self, names: list[str]) -> list[TracedOutput]:
        """The traced outputs ``names`` stand for (a structured layer: its parts)."""
        trace = self._trace
        assert trace is not None
        specs: list[TracedOutput] = []
        for name in names:
            if name in trace.outputs:
                specs.append(trace.outputs[name])
            elif name in trace.parts:
                specs += [trace.outputs[p] for p in trace.parts[name]]
            elif self._failure is not None:
                raise self._failure
            elif name in self.modules:
                raise ConvscopeError(
                    f"layer {name!r} did not run in the model's forward pass; pick layers "
                    f"that ran: {', '.join(trace.outputs)}"
                )
            else:
                raise UnknownNameError("layer", [name], list(trace.outputs))
        return list({spec.name: spec for spec in specs}.values())

    def run_into(
        self, x: Any, names: list[str], out: dict[str, np.ndarray] | None, start: int, total: int
    ) -> dict[str, np.ndarray]:
        self.bind(x)
        specs = self._outputs(names)
        if out is None:
            out = {s.name: allocate((total, *s.shape)) for s in specs}
        n = len(x)
        views = {s.name: torch.from_numpy(out[s.name][start : start + n]) for s in specs}
        written = self._forward_copying(x, specs, views)
        missed = [s.name for s in specs if s.name not in written]
        if missed:
            raise ConvscopeError(
                f"layers {missed} ran when the model was traced but not on this batch; the "
                "model's forward takes another path for these inputs: capture them apart"
            )
        return out

    def _forward_copying(
        self, x: Any, specs: list[TracedOutput], views: dict[str, torch.Tensor]
    ) -> set[str]:
        """One forward pass whose hooks copy each requested output into its view."""
        wanted: dict[str, dict[int, list[TracedOutput]]] = {}
        for spec in specs:
            wanted.setdefault(spec.module, {}).setdefault(spec.call, []).append(spec)
        remaining = [sum(len(calls) for calls in wanted.values())]
        written: set[str] = set()

        def make_hook(module_name: str, per_call: dict[int, list[TracedOutput]]):
            count = [0]

            def hook(_module, _inputs, output):
                call = count[0]
                count[0] += 1
                for spec in per_call.get(call, ()):
                    _copy_into(views[spec.name], pick(output, spec.path), spec)
                    written.add(spec.name)
                if call in per_call:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        raise _StopForward

            return hook

        handles = [
            self.modules[name].register_forward_hook(make_hook(name, per_call))
            for name, per_call in wanted.items()
        ]
        try:
            with inference(self.model):
                try:
                    self._call(x)
                except _StopForward:
                    pass
                except ConvscopeError:
                    raise
                except (RuntimeError, ValueError, IndexError, TypeError) as exc:
                    raise _forward_error(exc, self._failing_layer(x), x) from exc
        finally:
            for handle in handles:
                handle.remove()
        return written

    def _failing_layer(self, x: Any) -> str | None:
        """The module a failing forward fails in, found by tracing its first rows again."""
        rows = x[:TRACE_ROWS]
        with inference(self.model):
            _, failed = run_trace(self.modules, lambda: self._call(rows), len(rows))
        return failed.layer if failed is not None else None

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
        """Nothing to release: hooks are removed after every forward pass."""


def allocate(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float32 array for maps (one place, so its memory policy is one)."""
    return np.empty(shape, dtype=np.float32)


def _copy_into(view: torch.Tensor, tensor: torch.Tensor, spec: TracedOutput) -> None:
    if spec.channels_last:
        tensor = tensor.permute(0, 3, 1, 2)
    if tensor.shape != view.shape:
        raise ShapeError(
            f"layer {spec.name!r} returned shape {tuple(tensor.shape)} on this batch but "
            f"{(len(view), *spec.shape)} was expected from the traced pass; capture batches "
            "of one input shape at a time"
        )
    tensor = tensor.detach()
    if tensor.device.type == "cpu" and tensor.dtype in _NUMPY_COPY:
        # numpy's copy runs on this thread: torch's copy_ would wake its intra-op pool,
        # which spins against other processes on a busy machine for no gain here
        np.copyto(view.numpy(), tensor.numpy(), casting="unsafe")
    else:
        view.copy_(tensor)


def _forward_error(exc: BaseException, layer: str | None, x: Any) -> ConvscopeError:
    """The forward's own error, named with the layer it came from; shape advice only for shapes."""
    where = f" in layer {layer!r}" if layer else ""
    shape = x.describe() if isinstance(x, ModelInputs) else f"shape {tuple(x.shape)}"
    message = str(exc).strip()
    if _SHAPE_WORDS.search(message) and not _DTYPE_WORDS.search(message):
        return ShapeError(
            f"the forward pass failed{where} on input of {shape}: {message}. Check that the "
            "images have the size and channels the model takes."
        )
    return ConvscopeError(
        f"the model's forward pass failed{where} on input of {shape}: "
        f"{type(exc).__name__}: {message}"
    )
