"""One traced forward pass of a torch model: which modules run, how often, what they return.

The trace runs the model once on a few rows of the batch (or zeros of the model's input
shape) with a hook on every module. It records, per module call, the tensors it returns
(a tuple, list or dict is flattened into parts), their shape per sample, whether they
have the batch on their first axis, and whether a 4-D output is channels-last: a
``Linear`` or ``LayerNorm`` over the last axis of an (N, H, W, C) tensor, what follows
such a tensor element-wise (GELU, dropout, layer scale), and a permute from NCHW. The
capture hooks then copy exactly the traced outputs, transposed to NCHW where needed.

Layouts travel on the tensors themselves (an attribute), so nothing is kept alive: the
trace costs one forward pass of a few images and the memory that pass needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

TRACE_ROWS = 3
"""Rows of the batch the trace runs on: enough to tell a batch axis from another axis.

A listing without data (``cs.layers``) traces one row of zeros; should that show tuple
outputs, whose batch axis one row cannot tell, the first real batch is traced again."""

_LAYOUT = "_convscope_channels_last"
_NCHW_MODULES = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d,
    nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm,
)  # fmt: skip
"""Modules whose 4-D output is NCHW whatever their input."""


@dataclass(frozen=True)
class TracedOutput:
    """One capturable tensor: which module call returns it, where, and its shape per sample."""

    name: str
    module: str
    call: int
    path: tuple[Any, ...]
    shape: tuple[int, ...]
    channels_last: bool = False


@dataclass(frozen=True)
class Trace:
    """What one forward pass did.

    Attributes:
        outputs: capture name -> the tensor it names, in module order.
        calls: module name -> how many times the forward called it.
        parts: ``module`` or ``module#k`` whose output is not one batch tensor -> the
            names of its batch tensors (empty when it has none).
    """

    outputs: dict[str, TracedOutput]
    calls: dict[str, int]
    parts: dict[str, tuple[str, ...]]
    rows: int = TRACE_ROWS

    @property
    def unsure(self) -> bool:
        """Traced on one row with structured outputs: which of their axes is the batch?"""
        return self.rows < 2 and bool(self.parts)


class ForwardFailed(Exception):
    """The traced forward raised; ``layer`` is the innermost module running then."""

    def __init__(self, layer: str | None, error: BaseException) -> None:
        super().__init__(str(error))
        self.layer = layer
        self.error = error


def call_name(module: str, call: int) -> str:
    """The name of a module's ``call``-th call: ``name``, then ``name#1``, ``name#2``..."""
    return module if call == 0 else f"{module}#{call}"


def flatten(
    value: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], torch.Tensor]]:
    """Every tensor in a (nested) tuple, list or dict output, with its index path."""
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, (tuple, list)):
        for k, item in enumerate(value):
            yield from flatten(item, (*path, k))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, (*path, key))


def pick(value: Any, path: tuple[Any, ...]) -> torch.Tensor:
    """The tensor at ``path`` in a module's output."""
    for key in path:
        value = value[key]
    return value


def first_tensor(args: tuple) -> torch.Tensor | None:
    """The first tensor among a module's positional inputs (its main input)."""
    return next((t for _, t in flatten(args)), None)


def _known(tensor: torch.Tensor) -> bool | None:
    return getattr(tensor, _LAYOUT, None)


def channels_last(module: nn.Module, src: torch.Tensor | None, out: torch.Tensor) -> bool:
    """Whether ``out``, a 4-D tensor ``module`` returned for input ``src``, is (N, H, W, C)."""
    known = _known(out)
    if known is not None:  # a tensor seen before: a child's output, or changed in place
        return known
    if isinstance(module, _NCHW_MODULES) or src is None or src.ndim != 4:
        return False
    src_cl = _known(src)  # None: made by a function, not a module
    last = src.shape[-1]
    plain_ln = isinstance(module, nn.LayerNorm) and type(module).forward is nn.LayerNorm.forward
    if isinstance(module, nn.Linear) or plain_ln:
        width = module.in_features if isinstance(module, nn.Linear) else module.normalized_shape
        over_last = width == last if isinstance(width, int) else tuple(width) == (last,)
        return bool(over_last and src_cl is not False)
    n, a, b, c = src.shape
    shape = tuple(out.shape)
    if shape == tuple(src.shape):
        return bool(src_cl)  # element-wise: the layout of its input
    if not src_cl and shape == (n, b, c, a):
        return True  # a permute(0, 2, 3, 1)
    if src_cl and shape == (n, c, a, b):
        return False  # a permute(0, 3, 1, 2)
    return bool(src_cl) and shape[:3] == (n, a, b)  # channels changed, H and W kept


def run_trace(
    modules: Mapping[str, nn.Module], forward: Callable[[], Any], rows: int
) -> tuple[Trace, ForwardFailed | None]:
    """Run ``forward`` once with a hook on every module and record what each call returns.

    A forward that raises still gives what ran before the error (capturing early layers
    of a model whose head does not fit the images works), and the failure, which names
    the innermost module running then.
    """
    calls: dict[str, int] = {}
    records: list[tuple[str, int, list[tuple[tuple, tuple[int, ...], bool, bool]]]] = []
    running: list[str] = []

    def make_pre(name: str) -> Callable:
        def pre(_module: nn.Module, _args: tuple) -> None:
            running.append(name)

        return pre

    def make_post(name: str) -> Callable:
        def post(module: nn.Module, args: tuple, output: Any) -> None:
            if running and running[-1] == name:
                running.pop()
            call = calls.get(name, 0)
            calls[name] = call + 1
            src = first_tensor(args)
            leaves = []
            for path, tensor in flatten(output):
                cl = tensor.ndim == 4 and channels_last(module, src, tensor)
                if tensor.ndim == 4:
                    setattr(tensor, _LAYOUT, cl)
                batch_first = tensor.ndim >= 1 and tensor.shape[0] == rows
                leaves.append((path, tuple(tensor.shape), bool(cl), batch_first))
            records.append((name, call, leaves))

        return post

    handles = []
    failed = None
    try:
        for name, module in modules.items():
            handles.append(module.register_forward_pre_hook(make_pre(name)))
            handles.append(module.register_forward_hook(make_post(name)))
        try:
            forward()
        except Exception as exc:
            failed = ForwardFailed(running[-1] if running else None, exc)
    finally:
        for handle in handles:
            handle.remove()
    return _assemble(modules, calls, records, rows), failed


def _assemble(
    modules: Mapping[str, nn.Module],
    calls: dict[str, int],
    records: list[tuple[str, int, list[tuple[tuple, tuple[int, ...], bool, bool]]]],
    rows: int,
) -> Trace:
    """The trace's outputs in module order (then call order), parts named after their path."""
    by_call = {(name, call): leaves for name, call, leaves in records}
    outputs: dict[str, TracedOutput] = {}
    parts: dict[str, tuple[str, ...]] = {}
    for name in modules:
        for call in range(calls.get(name, 0)):
            base = call_name(name, call)
            leaves = by_call[(name, call)]
            if len(leaves) == 1 and leaves[0][0] == () and leaves[0][3]:
                _, shape, cl, _ = leaves[0]
                outputs[base] = TracedOutput(base, name, call, (), _per_sample(shape, cl), cl)
                continue
            names = []
            for path, shape, cl, batch_first in leaves:
                if not batch_first or path == ():
                    continue
                part = _part_name(base, path, modules)
                outputs[part] = TracedOutput(part, name, call, path, _per_sample(shape, cl), cl)
                names.append(part)
            parts[base] = tuple(names)
    return Trace(outputs=outputs, calls=dict(calls), parts=parts, rows=rows)


def _per_sample(shape: tuple[int, ...], cl: bool) -> tuple[int, ...]:
    rest = shape[1:]
    return (rest[2], rest[0], rest[1]) if cl else rest


def _part_name(base: str, path: tuple[Any, ...], modules: Mapping[str, nn.Module]) -> str:
    name = base + "/" + "/".join(str(key) for key in path)
    return name if name not in modules else base + "/output" + "/".join(str(k) for k in path)
