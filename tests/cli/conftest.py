"""Fixtures of the CLI tests: a small trained run as `convscope train` leaves it, a copy
with NaN weights, broken model files, and a snapshot of every file to prove nothing changed."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import convscope as cs


@pytest.fixture(scope="session")
def cli_cache(tmp_path_factory):
    """A data cache holding mnist5k (and animals10k), shared by the CLI tests."""
    cache = tmp_path_factory.mktemp("cli-cache")
    cs.data.load("mnist5k", data_dir=cache)
    cs.data.load("animals10k", data_dir=cache)
    return cache


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory, cli_cache):
    """A run folder like `convscope train` makes (1 epoch on 300 images, so it is quick):
    model, record, history, checkpoint and its own evaluation of the test split (seed 0)."""
    data = cs.data.load("mnist5k", seed=0, data_dir=cli_cache)
    small = dataclasses.replace(data, x_train=data.x_train[:300], y_train=data.y_train[:300])
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("cli-run") / "run"
    model = cs.models.build("mnist_convnet")
    cs.train.fit(model, small, epochs=1, out=folder, progress=False, dataset_name="mnist5k",
                 class_names=list(data.class_names))  # fmt: skip
    ev = cs.train.evaluate(model, data.x_test, data.y_test, list(data.class_names))
    ev.split, ev.dataset, ev.seed = "test", "mnist5k", 0
    ev.save(folder)
    return folder


@pytest.fixture(scope="session")
def nan_run(tmp_path_factory, cli_run):
    """The run with one conv2d_1 filter made NaN: conv2d_1, the pool after it, flatten and
    the logits carry NaN; conv2d stays finite."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    folder = tmp_path_factory.mktemp("cli-nan") / "nanrun"
    shutil.copytree(cli_run, folder)
    path = folder / "model.safetensors"
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(path))
    weight = tensors["conv2d_1.weight"].clone()
    weight[3] = float("nan")
    tensors["conv2d_1.weight"] = weight
    save_file(tensors, str(path), metadata=metadata)
    (folder / "evaluation.json").unlink()
    (folder / "predictions.npz").unlink()
    return folder


@pytest.fixture(scope="session")
def broken_files(tmp_path_factory, cli_run):
    """Model files that are not what they claim: truncated .keras/.h5/.onnx/.safetensors, text."""
    import keras

    folder = tmp_path_factory.mktemp("cli-broken")
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(2, 3),
                              keras.layers.Flatten(), keras.layers.Dense(10)])  # fmt: skip
    model.save(folder / "ok.keras")
    whole = (folder / "ok.keras").read_bytes()
    (folder / "truncated.keras").write_bytes(whole[: len(whole) // 3])
    (folder / "text.onnx").write_text("not a model\n")
    weights = (cli_run / "model.safetensors").read_bytes()
    (folder / "truncated.safetensors").write_bytes(weights[:2000])
    (folder / "notes.txt").write_text("hello\n")
    return folder


@pytest.fixture(scope="session")
def one_image_class(tmp_path_factory):
    """An image folder whose class 'rare' has one image (too few for a three-way split)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("cli-folder") / "shapes"
    rng = np.random.default_rng(0)
    for name, count in (("common", 12), ("rare", 1)):
        (root / name).mkdir(parents=True)
        for k in range(count):
            pixels = (rng.random((28, 28)) * 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / name / f"{k}.png")
    return root


def snapshot(*folders: Path) -> dict[Path, str]:
    """``{path: sha256}`` of every file under ``folders``."""
    out = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                out[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def changed(before: dict[Path, str]) -> list[str]:
    """The files of ``before`` that are gone or whose bytes differ now."""
    now = {}
    for path in before:
        now[path] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return [str(p) for p, digest in before.items() if now[p] != digest]
