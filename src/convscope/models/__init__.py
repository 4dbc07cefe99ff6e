"""The seed model zoo: build, summarise, save and load.

Example:
    >>> import convscope as cs
    >>> model = cs.models.build("mnist_convnet")
    >>> model.input_shape
    (1, 28, 28)
"""

from .io import MODEL_FILE, ModelMeta, load_model, read_meta, resolve_model, save_model
from .zoo import ZOO, Conv2D, Dense, GlobalAveragePooling2D, ZooModel, build, list_models


def summary(model, input_shape=None) -> str:
    """Return a Keras-style summary table (layer, output shape, params) as text.

    Example:
        >>> print(summary(build("mnist_convnet")))  # doctest: +ELLIPSIS
        Model: "mnist_convnet"...
    """
    from ..adapters import format_summary
    from ..capturing import layers

    return format_summary(
        layers(model, input_shape=input_shape), title=getattr(model, "arch", None)
    )


__all__ = [
    "MODEL_FILE",
    "ZOO",
    "Conv2D",
    "Dense",
    "GlobalAveragePooling2D",
    "ModelMeta",
    "ZooModel",
    "build",
    "list_models",
    "load_model",
    "read_meta",
    "resolve_model",
    "save_model",
    "summary",
]
