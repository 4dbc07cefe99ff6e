"""Keras model files (``.keras``, legacy ``.h5``): loaded for inspection, in safe mode.

Keras is optional and imported only when a Keras file is loaded (with ``KERAS_BACKEND``
defaulting to ``torch``), so ``import convscope.models`` stays cheap. Capturing from a
Keras model is :class:`convscope.adapters.keras.KerasAdapter`'s job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import BackendMissingError, ConvscopeError, FormatError

__all__ = ["KERAS_SUFFIXES", "keras_module", "load_keras_file"]

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def keras_module() -> Any:
    """The ``keras`` package (on the torch backend unless ``KERAS_BACKEND`` says otherwise).

    Raises:
        BackendMissingError: Keras is not installed (the message names the pip extra).
    """
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise BackendMissingError("keras", "keras") from exc
    return keras


def load_keras_file(path: str | os.PathLike, *, trust: bool = False) -> Any:
    """Load a ``.keras`` or legacy ``.h5`` Keras model for inspection (not compiled).

    The Keras branch of :func:`convscope.models.load`, which is what to call. Loading runs
    in Keras' safe mode: a file with a ``Lambda`` layer (arbitrary Python code) is refused
    unless ``trust=True``.

    Args:
        path: a ``.keras`` zip or a legacy HDF5 ``.h5``/``.hdf5`` file.
        trust: allow unsafe deserialisation (Lambda layers); only for files you trust.

    Raises:
        FormatError: the file is missing or not a Keras model.
        ConvscopeError: safe mode refused the file (the message says how to opt in).

    Example:
        >>> load_keras_file("/nonexistent.keras")
        Traceback (most recent call last):
        ...
        convscope.errors.FormatError: Keras model file /nonexistent.keras does not exist
    """
    path = Path(path)
    if not path.exists():
        raise FormatError(f"Keras model file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in KERAS_SUFFIXES:
        raise FormatError(f"{path} is not a Keras model file: expected .keras, .h5 or .hdf5")
    if suffix in (".h5", ".hdf5"):
        try:
            import h5py  # noqa: F401
        except ImportError as exc:
            raise BackendMissingError("h5py (to read .h5 Keras models)", "keras") from exc
    keras = keras_module()
    try:
        return keras.saving.load_model(str(path), safe_mode=not trust, compile=False)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "unsafe" in text.lower() or "Lambda" in text:
            raise ConvscopeError(
                f"{path} holds a Lambda layer or other Python code that Keras' safe mode "
                "refuses to load. Only if you trust the file, load it with "
                "convscope.models.load(path, trust=True) (CLI: --trust)."
            ) from None
        raise FormatError(f"{path} is not a loadable Keras model: {text}") from None
    except (OSError, KeyError, TypeError) as exc:
        raise FormatError(
            f"{path} is not a loadable Keras model ({type(exc).__name__}: {exc}); it may be "
            "truncated or saved by an incompatible Keras"
        ) from None
