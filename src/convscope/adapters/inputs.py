"""Several inputs of one batch: positional and keyword tensors, sliced and converted together.

A model whose ``forward`` takes more than one tensor (an image and a mask, a dict of
named inputs) is captured with ``inputs="positional"`` (``x`` is a tuple or list, one
array per argument) or ``inputs="keyword"`` (``x`` is a dict, one array per argument
name). Every array has the batch on its first axis.

Example:
    >>> import numpy as np
    >>> both = model_inputs((np.zeros((4, 3, 8, 8)), np.ones((4, 2))), "positional")
    >>> len(both), [a.shape for a in both[1:3].args]
    (4, [(2, 3, 8, 8), (2, 2)])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConvscopeError

__all__ = ["INPUT_MODES", "ModelInputs", "model_inputs"]

INPUT_MODES = ("positional", "keyword")
"""How ``x`` holds several inputs: a tuple/list of arrays, or a dict of them."""


class ModelInputs:
    """One batch of several inputs: ``forward(*args, **kwargs)``, all with the same rows.

    Raises:
        ConvscopeError: no inputs, an input without a batch axis, or different row counts.

    Example:
        >>> import numpy as np
        >>> ModelInputs(kwargs={"image": np.zeros((2, 1, 4, 4)), "meta": np.zeros((2, 3))}).describe()
        'image (2, 1, 4, 4) float64, meta (2, 3) float64'
    """

    def __init__(self, args: tuple = (), kwargs: Mapping[str, Any] | None = None) -> None:
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        values = self.values()
        if not values:
            raise ConvscopeError("no inputs given: pass at least one array")
        bad = [label for label, v in self.items() if len(getattr(v, "shape", ())) == 0]
        if bad:
            raise ConvscopeError(
                f"input(s) {', '.join(bad)} are not arrays with a batch axis; every input of "
                "a batch has the images (or samples) on its first axis"
            )
        rows = {int(v.shape[0]) for v in values}
        if len(rows) > 1:
            raise ConvscopeError(
                f"the inputs have different numbers of rows ({self.describe()}); every input "
                "needs one row per sample"
            )

    def values(self) -> list[Any]:
        """Every input array, positional first."""
        return [*self.args, *self.kwargs.values()]

    def items(self) -> list[tuple[str, Any]]:
        """``(label, array)``: ``input 0``, ``input 1``... positional, then keyword by name."""
        return [(f"input {k}", a) for k, a in enumerate(self.args)] + list(self.kwargs.items())

    def __len__(self) -> int:
        return int(self.values()[0].shape[0])

    def __getitem__(self, part: slice) -> ModelInputs:
        return ModelInputs(
            tuple(a[part] for a in self.args), {k: v[part] for k, v in self.kwargs.items()}
        )

    def map(self, fn: Callable[[Any], Any]) -> ModelInputs:
        """The same inputs, each converted by ``fn``."""
        return ModelInputs(
            tuple(fn(a) for a in self.args), {k: fn(v) for k, v in self.kwargs.items()}
        )

    def describe(self) -> str:
        """Each input's label, shape and dtype, for messages."""
        return ", ".join(
            f"{label} {tuple(v.shape)} {str(getattr(v, 'dtype', '')).removeprefix('torch.')}"
            for label, v in self.items()
        )


def model_inputs(x: Any, mode: str) -> ModelInputs:
    """``x`` as several inputs: a tuple/list for ``"positional"``, a dict for ``"keyword"``.

    Raises:
        ConvscopeError: an unknown mode, or ``x`` not of the form the mode takes.

    Example:
        >>> import numpy as np
        >>> sorted(model_inputs({"a": np.zeros((1, 2)), "b": np.zeros((1, 3))}, "keyword").kwargs)
        ['a', 'b']
    """
    if mode not in INPUT_MODES:
        raise ConvscopeError(
            f"inputs={mode!r} is not a way to pass inputs; use inputs='positional' (x is a "
            "tuple of arrays, one per forward() argument) or inputs='keyword' (x is a dict "
            "{argument name: array})"
        )
    if mode == "positional":
        if isinstance(x, ModelInputs) and not x.kwargs:
            return x
        if not isinstance(x, (tuple, list)):
            raise ConvscopeError(
                f"inputs='positional' takes x as a tuple or list of arrays, one per forward() "
                f"argument; got a {type(x).__name__}"
            )
        return ModelInputs(tuple(x))
    if isinstance(x, ModelInputs) and not x.args:
        return x
    if not isinstance(x, Mapping):
        raise ConvscopeError(
            f"inputs='keyword' takes x as a dict {{argument name: array}}; got a {type(x).__name__}"
        )
    bad = [k for k in x if not isinstance(k, str)]
    if bad:
        raise ConvscopeError(f"inputs='keyword' needs argument names as keys; got {bad}")
    return ModelInputs(kwargs=x)
