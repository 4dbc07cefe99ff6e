"""Layer records and layer selection: which layers a request names, and every miss at once.

A selection names layers explicitly (a name, a torch dotted name, an index) or
implicitly (a kind, a glob, ``"all"``, ``None``). The difference matters for what a
forward pass did not do: a layer the forward never called (a drop-path module of a block
without a residual) is left out of an implicit selection with one
:class:`LayerSkipWarning`, and is an error only when named explicitly. A layer whose
output is a tuple, list or dict is captured as its tensor parts (``lstm/0``, ``lstm/1/0``)
and naming the layer names all of them.

Example:
    >>> infos = [LayerInfo("conv", "conv", (8, 5, 5), 80), LayerInfo("drop", "dropout", None, 0, ran=False)]
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     resolve_layers("all", infos)
    ['conv']
    >>> str(caught[0].message)
    "1 layer did not run in the model's forward pass and is left out: drop"
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConvscopeError, UnknownNameError

__all__ = ["KINDS", "LayerInfo", "LayerSkipWarning", "Selection", "resolve_layers"]

KINDS = ("conv", "pool", "dense", "norm", "activation", "dropout", "flatten", "block", "other")
"""Layer kinds; a selection may name any of these, or ``"all"`` (every layer but blocks)."""


class LayerSkipWarning(UserWarning):
    """A layer chosen by kind, glob or default did not run in the forward pass: left out."""


@dataclass(frozen=True)
class LayerInfo:
    """One capturable layer.

    Attributes:
        name: unique name; nested layers are joined with "/" (``CNN_sub_model/conv2d``);
            a module's second call is ``name#1``, the tensor parts of a tuple output
            ``name/0``, ``name/1``...
        kind: one of :data:`KINDS`.
        output_shape: output shape without the batch axis, conv maps as (C, H, W).
        params: number of parameters (a block counts everything inside it).
        type: the framework's class name (``Conv2D``, ``MaxPool2d``...).
        ran: False for a layer the model's forward pass did not call.
        parts: None for a layer whose output is one tensor; else the names its tensor
            parts are captured under (empty when none is a batch of tensors).
    """

    name: str
    kind: str
    output_shape: tuple[int, ...] | None
    params: int
    type: str = ""
    ran: bool = True
    parts: tuple[str, ...] | None = None


Selection = str | int | Sequence[str | int] | None


def _implicit(infos: Sequence[LayerInfo], skipped: list[str]) -> list[str]:
    """The tensors of layers chosen by kind, glob or ``"all"``: not-run layers noted apart."""
    names = []
    for info in infos:
        if not info.ran:
            skipped.append(info.name)
        elif info.parts is None:  # a structured output's parts are layers of their own
            names.append(info.name)
    return names


def _explicit(info: LayerInfo, not_run: list[str], no_tensor: list[str]) -> list[str]:
    if not info.ran:
        not_run.append(info.name)
        return []
    if info.parts is None:
        return [info.name]
    if not info.parts:
        no_tensor.append(info.name)
    return list(info.parts)


def _lookup(item: str, by_name: dict[str, LayerInfo]) -> LayerInfo | None:
    """A layer by its name, or by torch's dotted name (``layer3.0.conv1``) as an alias."""
    if item in by_name:
        return by_name[item]
    return by_name.get(item.replace(".", "/")) if "." in item else None


def resolve_layers(selection: Selection, infos: Sequence[LayerInfo]) -> list[str]:
    """Turn a layer selection into an ordered list of layer names, failing on any miss.

    A selection is a name (torch's dotted ``layer3.0.conv1`` is an alias of
    ``layer3/0/conv1``), an index into ``infos`` (negative counts from the end), a kind
    (``"conv"``, ``"pool"``, ``"dense"``, ``"all"``...), a glob (``"conv*"``) or a list of
    those. A layer named like a kind (a torch ``self.conv``) is that layer; ``"kind:conv"``
    always means the kind. Every item must match something; all misses (unknown names, globs that match
    nothing, out-of-range indices, kinds the model lacks) are reported together, in one
    :class:`~convscope.errors.UnknownNameError` that also lists the available layers.

    Layers that did not run in the forward pass are left out of kinds, globs and the
    default with one :class:`LayerSkipWarning` naming them; naming one is an error. A
    layer with a structured output stands for its tensor parts.

    Raises:
        UnknownNameError: some items match nothing; ``missing`` holds them in order.
        ConvscopeError: an empty selection, an item that is neither a name nor an index,
            or an explicitly named layer that did not run or gives no tensor.

    Example:
        >>> infos = [LayerInfo("conv2d", "conv", (32, 26, 26), 320),
        ...          LayerInfo("dense", "dense", (10,), 16010)]
        >>> resolve_layers(["conv", -1], infos)
        ['conv2d', 'dense']
    """
    by_name = {info.name: info for info in infos}
    skipped: list[str] = []
    if selection is None or (isinstance(selection, str) and selection == "all"):
        chosen = _implicit([i for i in infos if i.kind != "block"], skipped)
        _warn_skipped(skipped)
        return chosen
    items: list[Any] = (
        [selection] if isinstance(selection, (str, int, np.integer)) else list(selection)
    )
    if not items:
        raise ConvscopeError("empty layer selection; name at least one layer or a kind like 'conv'")
    chosen: list[str] = []
    misses: dict[str, list[Any]] = {"missing": [], "unknown": [], "index": [], "kind": []}
    not_run: list[str] = []
    no_tensor: list[str] = []
    for item in items:
        matched = _match(item, infos, by_name, misses, skipped, not_run, no_tensor)
        chosen += [name for name in matched if name not in chosen]
    if misses["missing"]:
        raise _miss_error(misses, infos)
    if not_run or no_tensor:
        raise _unrunnable_error(not_run, no_tensor, infos)
    _warn_skipped(skipped)
    return chosen


def _match(
    item: Any,
    infos: Sequence[LayerInfo],
    by_name: dict[str, LayerInfo],
    misses: dict[str, list[Any]],
    skipped: list[str],
    not_run: list[str],
    no_tensor: list[str],
) -> list[str]:
    """What one selection item names; misses are noted in ``misses`` by sort."""
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        index = int(item)
        if -len(infos) <= index < len(infos):
            return _explicit(infos[index], not_run, no_tensor)
        misses["missing"].append(index)
        misses["index"].append(index)
        return []
    if not isinstance(item, str):
        raise ConvscopeError(f"a layer selection item must be a name or an index, got {item!r}")
    kind = item.removeprefix("kind:")
    info = _lookup(item, by_name) if kind == item else None
    if info is not None:
        return _explicit(info, not_run, no_tensor)
    if kind == "all":
        return _implicit([i for i in infos if i.kind != "block"], skipped)
    if kind in KINDS:
        item = kind
        of_kind = [i for i in infos if i.kind == item]
        if not of_kind:
            misses["missing"].append(item)
            misses["kind"].append(item)
        return _implicit(of_kind, skipped)
    if any(ch in item for ch in "*?["):  # a glob
        found = [i for i in infos if fnmatch.fnmatchcase(i.name, item)]
        if found:
            return _implicit(found, skipped)
    misses["missing"].append(item)
    misses["unknown"].append(item)
    return []


def _warn_skipped(skipped: list[str]) -> None:
    if not skipped:
        return
    names = list(dict.fromkeys(skipped))
    many = len(names) > 1
    # stacklevel=1: one location, so the same message is shown once, whoever resolves
    warnings.warn(
        f"{len(names)} layer{'s' if many else ''} did not run in the model's forward pass and "
        f"{'are' if many else 'is'} left out: {', '.join(names)}",
        LayerSkipWarning,
        stacklevel=1,
    )


def _unrunnable_error(
    not_run: list[str], no_tensor: list[str], infos: Sequence[LayerInfo]
) -> ConvscopeError:
    ran = [i.name for i in infos if i.ran and i.parts is None]
    parts = []
    if not_run:
        parts.append(
            f"layer{'s' if len(not_run) > 1 else ''} {', '.join(map(repr, not_run))} did not "
            "run in the model's forward pass (its forward() never calls "
            f"{'them' if len(not_run) > 1 else 'it'} on this input)"
        )
    if no_tensor:
        parts.append(
            f"layer{'s' if len(no_tensor) > 1 else ''} {', '.join(map(repr, no_tensor))} "
            "give no tensor with the batch first to capture"
        )
    return ConvscopeError(f"{'; '.join(parts)}; pick layers that ran: {', '.join(ran) or 'none'}")


def _miss_error(misses: dict[str, list[Any]], infos: Sequence[LayerInfo]) -> UnknownNameError:
    """One error that names every miss, what is valid for each, and the available layers."""
    names = [info.name for info in infos]
    n = len(names)
    parts = []
    unknown, bad_indices = misses["unknown"], misses["index"]
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        parts.append(f"unknown layer{plural} {', '.join(repr(u) for u in unknown)}")
    if bad_indices:
        plural = "es" if len(bad_indices) > 1 else ""
        valid = f"valid indices are 0..{n - 1} or -{n}..-1" if n else "it has no layers"
        parts.append(
            f"layer index{plural} {', '.join(map(str, bad_indices))} out of range: "
            f"the model has {n} layers, {valid}"
        )
    for kind in misses["kind"]:
        present = sorted({i.kind for i in infos})
        parts.append(
            f"the model has no layer of kind {kind!r}; it has kinds: {', '.join(present) or 'none'}"
        )
    error = UnknownNameError("layer", misses["missing"], names)  # type: ignore[arg-type]
    error.args = (f"{'; '.join(parts)}; available: {', '.join(names) or 'none'}",)
    return error
