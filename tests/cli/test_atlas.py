"""``convscope atlas``: files written, what they hold, and bad input as one line."""

from __future__ import annotations

import json
from importlib.util import find_spec

import numpy as np
import pytest
import torch

import convscope as cs
from convscope.cli import main
from convscope.metrics.topk import brute_force_topk


@pytest.fixture(scope="module")
def run(short_run):
    """The session's short run (tests/conftest.py), copied for this module."""
    return short_run


def test_atlas_writes_json_arrays_and_pages(run, tmp_path, capsys):
    folder, cache = run
    out = tmp_path / "atlas"
    argv = ["atlas", str(folder), "--layers", "conv2d_1", "--k", "4", "--split", "val",
            "--data-dir", str(cache), "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "conv2d_1: 64 channels, top 4 of 500 val images of mnist5k; field 8x8 px" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "conv2d_1.json", "conv2d_1.npz", *(f"conv2d_1_p{i}.png" for i in range(1, 5))
    ]  # fmt: skip
    data = json.loads((out / "conv2d_1.json").read_text())
    assert len(data["channels"]) == 64 and data["field"]["size"] == [8, 8]
    model, _meta = cs.models.load(folder)
    x, _y = cs.data.load("mnist5k", data_dir=cache).split("val")
    maps = cs.capture(model, x, ["conv2d_1"])["conv2d_1"]
    _values, images, rows, cols = brute_force_topk(maps, 4)
    with np.load(out / "conv2d_1.npz") as arrays:
        np.testing.assert_array_equal(arrays["images"], images)
        np.testing.assert_array_equal(arrays["rows"] * 11 + arrays["cols"], rows * 11 + cols)
        assert arrays["patches"].shape == (64, 4, 1, 8, 8)
    # a shorter atlas in the same folder leaves no stale page behind
    assert main([*argv, "--channels", "0-3"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["conv2d_1_p1.png"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--k", "0"], "--k must be >= 1"),
        (["--channels", "a-b"], "--channels takes numbers and ranges"),
        (["--channels", "70"], "channels [70] out of range: conv2d_1 has 64"),
        (["--layers", "nope"], "unknown layer 'nope'"),
        (["--address", "127.0.0.1:1"], "--address needs --engine ray"),
        pytest.param(
            ["--engine", "ray", "--address", "127.0.0.1:1"],
            "cannot reach the Ray cluster",
            marks=pytest.mark.skipif(find_spec("ray") is None, reason="needs ray"),
        ),
        pytest.param(
            ["--device", "cuda"],
            "CUDA is not available on this machine",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has CUDA"),
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(run, tmp_path, capsys, extra, needle):
    folder, cache = run
    out = tmp_path / "atlas"
    argv = ["atlas", str(folder), "--layers", "conv2d_1", "--data-dir", str(cache),
            "--split", "val", "--out", str(out), *extra]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not out.exists()
