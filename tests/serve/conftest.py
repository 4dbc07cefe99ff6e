"""Fixtures of the explorer's tests: a small data set, a short tracked run, explorers."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

import convscope as cs

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

LOCAL = "http://127.0.0.1"
"""Base URL of in-process test clients (the guard answers the loopback host only)."""


def small(data: cs.data.Dataset, train: int = 300, test: int = 120) -> cs.data.Dataset:
    return dataclasses.replace(
        data,
        x_train=data.x_train[:train], y_train=data.y_train[:train],
        x_val=data.x_val[:60], y_val=data.y_val[:60],
        x_test=data.x_test[:test], y_test=data.y_test[:test],
    )  # fmt: skip


@pytest.fixture(scope="session")
def mnist_tiny(tmp_path_factory):
    return small(cs.data.load("mnist5k", seed=0, data_dir=tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def tracked_run(tmp_path_factory, mnist_tiny):
    """A two-epoch run folder of mnist_convnet with the tracker keeping its maps."""
    out = tmp_path_factory.mktemp("runs") / "tracked"
    torch.manual_seed(0)
    model = cs.models.build("mnist_convnet")
    tracker = cs.train.SimilarityTracker(layers="conv", probe=16, out=out)
    cs.train.fit(model, mnist_tiny, epochs=2, out=out, progress=False, callbacks=[tracker])
    return out


def explorer_for(model, data, **kwargs):
    from convscope.serve import Explorer

    kwargs.setdefault("similarity_images", 8)
    kwargs.setdefault("exemplars", 4)
    return Explorer(model, data, **kwargs)


@pytest.fixture
def untrained(mnist_tiny):
    """An explorer of a fresh mnist_convnet (no run)."""
    torch.manual_seed(0)
    return explorer_for(cs.models.build("mnist_convnet"), mnist_tiny)


@pytest.fixture
def client(untrained):
    from starlette.testclient import TestClient

    from convscope.serve import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with TestClient(create_app(untrained), base_url=LOCAL) as test_client:
            yield test_client


def png_bytes(pixels: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()
