"""What every capture backend shares: the adapter interface, layer defaults, summaries.

Layer records and selection live in :mod:`convscope.adapters.selection` and are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import ConvscopeError
from .selection import KINDS, LayerInfo, LayerSkipWarning, Selection, resolve_layers

__all__ = [
    "KINDS",
    "Adapter",
    "LayerInfo",
    "LayerSkipWarning",
    "Selection",
    "arrange_batch",
    "check_float_images",
    "default_firing_layer",
    "default_tracked_layer",
    "fits",
    "format_summary",
    "refuse_several_inputs",
    "resolve_layers",
    "spatial_layers",
]

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
    leaves = [i for i in infos if i.kind != "block" and i.ran and i.parts is None]
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
            else "did not run"
            if not i.ran
            else f"{len(i.parts)} tensors"
            if i.parts is not None
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
        """The named layers' outputs for one batch, ``{name: array}`` in ``names`` order."""
        raise NotImplementedError

    def run_into(
        self, x: Any, names: list[str], out: dict[str, np.ndarray] | None, start: int, total: int
    ) -> dict[str, np.ndarray]:
        """Run one batch and write its maps into rows ``start:start+len(x)`` of ``out``.

        ``out`` is None on the first batch: the arrays are allocated here with ``total``
        rows. Each batch is copied in once; the arrays are returned.
        """
        maps = self.run(x, names)
        if out is None:
            out = {n: np.empty((total, *m.shape[1:]), dtype=m.dtype) for n, m in maps.items()}
        for name, value in maps.items():
            out[name][start : start + len(value)] = value
        return out

    def to_input(self, x: Any) -> Any:
        """Convert one batch to what ``run`` takes (checks shape)."""
        return x

    def bind(self, x: Any) -> None:
        """Learn what the model does on inputs like ``x`` (a converted batch) before ``infos``.

        The torch adapter traces one forward pass (which modules run, how often, what
        they return); graph backends know it all from their graph already.
        """

    def signature(self) -> str | None:
        """The model's call signature as text, for errors about its inputs (None: unknown)."""
        return None

    def close(self) -> None:
        """Release what the adapter holds (hooks, sessions). Safe to call twice."""

    def __enter__(self) -> Adapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refuse_several_inputs(x: Any, backend: str) -> None:
    """Several inputs are a torch capture's: other backends take one image input.

    Raises:
        ConvscopeError: ``x`` holds several inputs.
    """
    if type(x).__name__ == "ModelInputs":
        raise ConvscopeError(
            f"several inputs (inputs='positional' or 'keyword') are captured from torch models; "
            f"this {backend} model takes one image input: pass x as one array"
        )


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
