"""Fixtures of the pattern suite: the models, images that fit them, hand-written hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .models import CLASSES, build


def images_for(model, n: int = 6, seed: int = 0) -> np.ndarray:
    """``n`` seeded images in [0, 1] of the model's input shape."""
    return np.random.default_rng(seed).random((n, *model.input_shape), dtype=np.float32)


def labels_for(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) % CLASSES


def hooked(model, x, names: list[str]) -> dict[str, np.ndarray]:
    """The notebook recipe: a forward hook per module, each output detached and cloned."""
    modules = dict(model.named_modules())
    out: dict[str, np.ndarray] = {}

    def keep(name: str):
        def hook(_module, _inputs, output) -> None:  # returns None: the output stays as is
            out.setdefault(name, output.detach().float().clone().numpy())

        return hook

    handles = [modules[name.replace("/", ".")].register_forward_hook(keep(name)) for name in names]
    try:
        with torch.no_grad():
            model(torch.as_tensor(x).to(next(model.parameters()).dtype))
    finally:
        for handle in handles:
            handle.remove()
    return out


@pytest.fixture
def pattern():
    """Build a pattern model by name."""
    return build
