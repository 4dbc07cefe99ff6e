"""What every capture backend shares: layer records, name resolution, the adapter interface."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConvscopeError, UnknownNameError

KINDS = ("conv", "pool", "dense", "norm", "activation", "dropout", "flatten", "block", "other")
"""Layer kinds; a selection may name any of these, or ``"all"`` (every layer but blocks)."""


@dataclass(frozen=True)
class LayerInfo:
    """One capturable layer.

    Attributes:
        name: unique name; nested layers are joined with "/" (``CNN_sub_model/conv2d``).
        kind: one of :data:`KINDS`.
        output_shape: output shape without the batch axis, conv maps as (C, H, W).
        params: number of parameters (a block counts everything inside it).
        type: the framework's class name (``Conv2D``, ``MaxPool2d``...).
    """

    name: str
    kind: str
    output_shape: tuple[int, ...] | None
    params: int
    type: str = ""


Selection = str | int | Sequence[str | int] | None


def resolve_layers(selection: Selection, infos: Sequence[LayerInfo]) -> list[str]:
    """Turn a layer selection into an ordered list of layer names, failing on any miss.

    A selection is a name, an index into ``infos`` (negative counts from the end), a kind
    (``"conv"``, ``"pool"``, ``"dense"``, ``"all"``...), a glob (``"conv*"``) or a list of
    those. Every item must match something; all misses (unknown names, globs that match
    nothing, out-of-range indices, kinds the model lacks) are reported together, in one
    :class:`~convscope.errors.UnknownNameError` that also lists the available layers.

    Raises:
        UnknownNameError: some items match nothing; ``missing`` holds them in order.
        ConvscopeError: an empty selection, or an item that is neither a name nor an index.

    Example:
        >>> infos = [LayerInfo("conv2d", "conv", (32, 26, 26), 320),
        ...          LayerInfo("dense", "dense", (10,), 16010)]
        >>> resolve_layers(["conv", -1], infos)
        ['conv2d', 'dense']
    """
    names = [info.name for info in infos]
    if selection is None or (isinstance(selection, str) and selection == "all"):
        return [i.name for i in infos if i.kind != "block"]
    items: list[str | int] = (
        [selection] if isinstance(selection, (str, int, np.integer)) else list(selection)
    )
    if not items:
        raise ConvscopeError("empty layer selection; name at least one layer or a kind like 'conv'")
    chosen: list[str] = []
    missing: list[str | int] = []
    unknown: list[str] = []  # names and globs that match nothing
    bad_indices: list[int] = []
    absent_kinds: list[str] = []
    for item in items:
        matched: list[str] = []
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            index = int(item)
            if -len(names) <= index < len(names):
                matched = [names[index]]
            else:
                missing.append(index)
                bad_indices.append(index)
        elif not isinstance(item, str):
            raise ConvscopeError(f"a layer selection item must be a name or an index, got {item!r}")
        elif item in names:
            matched = [item]
        elif item == "all":
            matched = [i.name for i in infos if i.kind != "block"]
        elif item in KINDS:
            matched = [i.name for i in infos if i.kind == item]
            if not matched:
                missing.append(item)
                absent_kinds.append(item)
        else:  # a glob or a plain name
            is_glob = any(ch in item for ch in "*?[")
            matched = [n for n in names if fnmatch.fnmatchcase(n, item)] if is_glob else []
            if not matched:
                missing.append(item)
                unknown.append(item)
        for name in matched:
            if name not in chosen:
                chosen.append(name)
    if missing:
        raise _miss_error(missing, unknown, bad_indices, absent_kinds, infos)
    return chosen


def _miss_error(
    missing: list[str | int],
    unknown: list[str],
    bad_indices: list[int],
    absent_kinds: list[str],
    infos: Sequence[LayerInfo],
) -> UnknownNameError:
    """One error that names every miss, what is valid for each, and the available layers."""
    names = [info.name for info in infos]
    n = len(names)
    parts = []
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
    for kind in absent_kinds:
        present = sorted({i.kind for i in infos})
        parts.append(
            f"the model has no layer of kind {kind!r}; it has kinds: {', '.join(present) or 'none'}"
        )
    error = UnknownNameError("layer", missing, names)  # type: ignore[arg-type]
    error.args = (f"{'; '.join(parts)}; available: {', '.join(names) or 'none'}",)
    return error


# ------------------------------------------------------------------ layer defaults
# One policy for "which layer, when the user names none", next to layer selection.


def spatial_layers(
    infos: Sequence[LayerInfo], kinds: Sequence[str] = ("conv", "pool")
) -> list[str]:
    """Layers of the given kinds whose output is a (C, H, W) map with H×W > 1.

    Maps of one cell (a squeeze-excitation 1×1 conv after global pooling) are not spatial:
    they have nothing to tile, overlay or compare cell by cell.

    Example:
        >>> spatial_layers([LayerInfo("c", "conv", (8, 5, 5), 0), LayerInfo("se", "conv", (8, 1, 1), 0),
        ...                 LayerInfo("d", "dense", (10,), 0)])
        ['c']
    """
    return [
        i.name
        for i in infos
        if i.kind in kinds
        and i.output_shape is not None
        and len(i.output_shape) == 3
        and i.output_shape[1] * i.output_shape[2] > 1
    ]


def default_tracked_layer(infos: Sequence[LayerInfo]) -> str:
    """The layer whose similarity is tracked and shown by default: the last spatial conv.

    Seed 000 tracks its CNN sub-model's output, ``conv2d_1`` of mnist_convnet. Without
    shapes (``infos(shapes=False)``), the last conv layer.

    Raises:
        ConvscopeError: the model has no conv layer.

    Example:
        >>> default_tracked_layer([LayerInfo("conv2d", "conv", (32, 26, 26), 0),
        ...                        LayerInfo("conv2d_1", "conv", (64, 11, 11), 0)])
        'conv2d_1'
    """
    convs = spatial_layers(infos, ("conv",)) or [i.name for i in infos if i.kind == "conv"]
    if not convs:
        raise ConvscopeError("the model has no conv layer to track; name the layers to track")
    return convs[-1]


def default_firing_layer(infos: Sequence[LayerInfo]) -> str:
    """The layer seed 001 profiles: the one that feeds the output layer.

    Dropout and activation layers are skipped (they repeat their input), so this is
    ``dense`` for fashion_gap (32 units, as in seed 001) and ``flatten`` for
    mnist_convnet (1,600 units). A conv map almost always has some cell above 0, so
    whole-map layers would make every rate 1; dense or flattened units fire sparsely.

    Raises:
        ConvscopeError: the model has no layer before its output.

    Example:
        >>> default_firing_layer([LayerInfo("flatten", "flatten", (1600,), 0),
        ...                       LayerInfo("dropout", "dropout", (1600,), 0),
        ...                       LayerInfo("dense", "dense", (10,), 16010)])
        'flatten'
    """
    leaves = [i for i in infos if i.kind != "block"]
    before = [i for i in leaves[:-1] if i.kind not in ("dropout", "activation")]
    if not before:
        raise ConvscopeError("the model has no layer before its output to profile; name a layer")
    return before[-1].name


def fits(got: tuple[int, ...], want: tuple[int | None, ...]) -> bool:
    """Whether shape ``got`` matches ``want``, where ``None`` in ``want`` matches any size.

    Example:
        >>> fits((28, 28, 1), (None, None, 1)), fits((1, 28, 28), (28, 28, 1))
        (True, False)
    """
    return len(got) == len(want) and all(
        w is None or g == w for g, w in zip(got, want, strict=True)
    )


INTEGER_IMAGES_FIX = "x.astype('float32') / 255"


def check_float_images(dtype: Any) -> None:
    """Refuse integer images, which a float cast would leave 255 times too large.

    Raises:
        ConvscopeError: ``dtype`` is an integer type; the message names the fix.

    Example:
        >>> check_float_images(np.dtype("uint8"))
        Traceback (most recent call last):
        ...
        convscope.errors.ConvscopeError: images are uint8 (0..255); convscope takes float images in [0, 1]: x.astype('float32') / 255
    """
    name = str(dtype).removeprefix("torch.")
    try:
        kind = np.dtype(name).kind
    except TypeError:  # a dtype numpy does not know (bfloat16...): not an integer type
        return
    if kind in "iu":
        if name == "uint8":
            raise ConvscopeError(
                f"images are uint8 (0..255); convscope takes float images in [0, 1]: "
                f"{INTEGER_IMAGES_FIX}"
            )
        raise ConvscopeError(
            f"images are {name} (integers); convscope takes float images in [0, 1]: scale "
            f"them, e.g. {INTEGER_IMAGES_FIX} for 0..255 pixel values"
        )


def format_summary(
    infos: Iterable[LayerInfo], title: str | None = None, total: int | None = None
) -> str:
    """Format layer records as a Keras-style ``model.summary()`` table.

    Example:
        >>> print(format_summary([LayerInfo("conv2d", "conv", (32, 26, 26), 320, "Conv2D")]))  # doctest: +ELLIPSIS
        Model: "model"...
    """
    infos = list(infos)
    rows = [
        (
            f"{i.name} ({i.type or i.kind})",
            "(None, " + ", ".join(str(d) for d in (i.output_shape or ())) + ")"
            if i.output_shape is not None
            else "?",
            f"{i.params:,}",
        )
        for i in infos
    ]
    if total is None:
        # blocks count their children again: leave them out of the total
        total = sum(i.params for i in infos if i.kind != "block")
    w0 = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 2
    w1 = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 2
    width = w0 + w1 + 10
    lines = [f'Model: "{title or "model"}"', "_" * width]
    lines.append(f"{'Layer (type)':<{w0}}{'Output Shape':<{w1}}Param #")
    lines.append("=" * width)
    for r in rows:
        lines.append(f"{r[0]:<{w0}}{r[1]:<{w1}}{r[2]}")
    lines.append("=" * width)
    lines.append(f"Total params: {total:,}")
    return "\n".join(lines)


class Adapter:
    """The interface each backend implements (torch, keras, onnx).

    ``infos`` lists layers; ``run`` computes the requested layers' outputs for one batch
    and returns them as ``{name: ndarray}`` with conv maps in NCHW float32. Code above
    the adapters asks them (``channels_last``, ``image_shape``, ``kernels``,
    ``torch_module``) instead of switching on ``backend``, which is for messages.
    """

    backend = "base"
    input_shape: tuple[int, ...] | None = None
    """One image's shape as the model itself takes it ((H, W, C) for channels-last)."""
    channels_last: bool = False
    """Whether the model takes (and its conv layers give) channels-last tensors."""

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        """(C, H, W) of the images the model takes, in convscope's NCHW currency.

        None when the model does not say (a torch module without ``input_shape``) or has
        no fixed size.
        """
        shape = self.input_shape
        if shape is None or len(shape) != 3 or any(d is None for d in shape):
            return None
        return (shape[2], shape[0], shape[1]) if self.channels_last else tuple(shape)

    @property
    def torch_module(self) -> Any:
        """The ``torch.nn.Module`` that runs this model natively, or None.

        For torch-only tools (ONNX export, the fast evaluation loop). None for Keras models,
        even on Keras' torch backend: they take NHWC and have their own call semantics.
        """
        return None

    def kernels(self, layer: str) -> np.ndarray | None:
        """A conv layer's weights as (out, in, kh, kw) float32, or None if it has none.

        Raises:
            UnknownNameError: ``layer`` is not a layer of the model (the layers are listed).
        """
        raise NotImplementedError

    def infos(
        self, input_shape: tuple[int, ...] | None = None, shapes: bool = True
    ) -> list[LayerInfo]:
        """List the layers; ``shapes=False`` skips computing output shapes (cheaper)."""
        raise NotImplementedError

    def run(self, x: Any, names: list[str]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def to_input(self, x: Any) -> Any:
        """Convert one batch to what ``run`` takes (checks shape)."""
        return x

    def close(self) -> None:
        """Release what the adapter holds (hooks, sessions). Safe to call twice."""

    def __enter__(self) -> Adapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def arrange_batch(array: np.ndarray, shape: tuple, nhwc: bool) -> np.ndarray:
    """Give one image its batch axis and, for an NHWC model, transpose NCHW images.

    convscope's currency is NCHW; a channels-last model takes it too, transposed here at
    the adapter boundary when the images fit only that way. The caller checks the result.

    Example:
        >>> arrange_batch(np.zeros((1, 28, 28)), (28, 28, 1), nhwc=True).shape
        (1, 28, 28, 1)
    """
    if array.ndim == len(shape):
        array = array[None]  # one image without its batch axis
    if (
        nhwc
        and array.ndim == 4
        and len(shape) == 3
        and not fits(array.shape[1:], shape)
        and fits(array.transpose(0, 2, 3, 1).shape[1:], shape)
    ):
        array = array.transpose(0, 2, 3, 1)
    return array
