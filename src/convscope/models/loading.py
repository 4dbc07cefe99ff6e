"""One loader for every kind of model convscope reads: :func:`load`.

A spec is a run folder, a convscope ``.safetensors`` file, a Keras ``.keras``/``.h5``
file, an ONNX ``.onnx`` file or a zoo name. The kind is read from the spec itself (a
folder, the file's suffix, a name of the zoo); each kind has one loader here.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConvscopeError, FormatError, did_you_mean
from .io import ModelMeta, load_safetensors
from .keras_io import KERAS_SUFFIXES, load_keras_file
from .onnx_io import load_onnx_file, onnx_meta
from .zoo import ZOO, build

__all__ = ["KINDS", "load"]

KINDS = (
    "a run folder (made by `convscope train`)",
    "a convscope .safetensors file",
    "a Keras .keras or .h5 file",
    "an ONNX .onnx file",
    "a zoo name",
)
"""What :func:`load` takes, as its error messages list it."""

Loaded = tuple[Any, ModelMeta | None]


def _convscope(path: Path, device: Any, trust: bool) -> Loaded:
    return load_safetensors(path, device=device)


def _keras(path: Path, device: Any, trust: bool) -> Loaded:
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):
        # Keras itself says "File not found" for a file that is there but not a zip
        raise FormatError(
            f"{path} is not a readable .keras file: a .keras file is a zip archive and this "
            f"one ({path.stat().st_size} bytes) is not; it may be truncated or not a Keras "
            "model. Save it again with model.save(...)"
        )
    return load_keras_file(path, trust=trust), None


def _onnx(path: Path, device: Any, trust: bool) -> Loaded:
    model = load_onnx_file(path)
    return model, onnx_meta(model.metadata)


_BY_SUFFIX: dict[str, Callable[[Path, Any, bool], Loaded]] = {
    ".onnx": _onnx,
    **dict.fromkeys(KERAS_SUFFIXES, _keras),
}


def load(
    spec: str | os.PathLike, *, device: Any = "cpu", trust: bool = False
) -> tuple[Any, ModelMeta | None]:
    """Load a model and what it knows about itself, whatever kind of file (or name) it is.

    Args:
        spec: a run folder, a convscope ``.safetensors`` file, a ``.keras``/``.h5``/
            ``.hdf5`` file, an ``.onnx`` file, or a zoo name (fresh, untrained weights:
            a warning says so). An existing file or folder wins over a zoo name.
        device: torch device for convscope models (Keras and ONNX models stay where their
            backend runs them).
        trust: let Keras files run custom code (Lambda layers); only for files you trust.

    Returns:
        ``(model, meta)``: a torch module (eval mode), a ``keras.Model`` or an
        :class:`~convscope.models.onnx_io.OnnxModel`; and a :class:`ModelMeta`, or None
        when the file does not describe itself (Keras, foreign ONNX).

    Raises:
        FormatError: ``spec`` does not exist and is not a zoo name (the message lists the
            kinds :func:`load` takes), or the file is truncated or not what it claims.
        BackendMissingError: a Keras or ONNX file without that backend installed.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     model, meta = load("mnist_convnet")
        >>> meta.arch, model.training
        ('mnist_convnet', False)
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise FormatError(
            f"convscope.models.load takes a path or a zoo name, got {type(spec).__name__}; "
            "pass a model object straight to convscope.capture instead"
        )
    text = os.fspath(spec)
    path = Path(text)
    if path.exists():
        loader = _BY_SUFFIX.get(path.suffix.lower(), _convscope) if path.is_file() else _convscope
        try:
            return loader(path, device, trust)
        except (ConvscopeError, OSError, MemoryError):
            raise
        except Exception as exc:  # a framework's own error at load: name the file
            raise FormatError(
                f"{path} could not be loaded ({type(exc).__name__}: {exc}); it may be "
                "truncated, corrupt or written by an incompatible version"
            ) from None
    if text in ZOO:
        warnings.warn(f"{text} is a zoo name: its weights are random, not trained", stacklevel=2)
        entry = ZOO[text]
        meta = ModelMeta(arch=text, input_shape=entry.input_shape, num_classes=entry.num_classes)
        return build(text).to(device).eval(), meta
    raise FormatError(
        f"{text!r} is neither a file, a run folder nor a zoo model: it does not exist"
        f"{did_you_mean(text, ZOO)}. convscope.models.load takes "
        f"{', '.join(KINDS[:-1])} or {KINDS[-1]} ({', '.join(sorted(ZOO))})"
    )


def resolve_model(
    spec: str | os.PathLike, device: Any = "cpu", trust: bool = False
) -> tuple[Any, ModelMeta | None]:
    """The former name of :func:`load` (``convscope.models.resolve_model``, deprecated)."""
    return load(spec, device=device, trust=trust)
