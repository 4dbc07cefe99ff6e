"""CLI verbs end to end on a small trained run: output, files, exit codes, error messages."""

from __future__ import annotations

import json

import pytest

import convscope as cs
from convscope.cli import main


@pytest.fixture(scope="module")
def run(short_run):
    """The session's short run (tests/conftest.py), copied for this module."""
    return short_run


def test_models_summary_layers(run, capsys):
    folder, _ = run
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mnist_convnet" in out and "34,826" in out and "122,570" in out
    assert main(["summary", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Total params: 34,826" in out and "Trained on: mnist5k" in out
    assert main(["layers", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "conv2d_1" in out and "64x11x11" in out


def test_similarity_verb_prints_and_writes(run, tmp_path, capsys):
    folder, cache = run
    code = main(
        [
            "similarity",
            str(folder),
            "--layer",
            "conv2d_1",
            "--images",
            "8",
            "--data-dir",
            str(cache),
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "mean similarity" in out and "most similar" in out and "redundancy" in out
    # the options are in the name: another metric or image count never overwrites it
    record = json.loads((tmp_path / "conv2d_1-multiply-n8.json").read_text())
    assert record["images"] == 8 and len(record["matrix"]) == 64
    rows = (tmp_path / "conv2d_1-multiply-n8.csv").read_text().splitlines()
    assert len(rows) == 65
    # the printed mean is the library's number
    model, _ = cs.models.load_model(folder)
    data = cs.data.load("mnist5k", seed=0, data_dir=cache)
    maps = cs.capture(model, data.x_test[:8], layers="conv2d_1")["conv2d_1"]
    assert record["mean"] == pytest.approx(cs.similarity.mean_similarity(maps), abs=1e-12)


def test_similarity_defaults_to_last_conv_and_one_image(run, tmp_path, capsys):
    folder, cache = run
    assert (
        main(
            [
                "similarity",
                str(folder),
                "--images",
                "1",
                "--data-dir",
                str(cache),
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert "layer conv2d_1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["similarity", "RUN", "--layer", "conv3"], "unknown layer 'conv3'; available: conv2d"),
        (["similarity", "RUN", "--layer", "conv", "--images", "2"], "name one"),
        (["similarity", "RUN", "--images", "0"], "at least 1"),
        (["similarity", "RUN", "--data", "nope"], "unknown data set 'nope'"),
        (["report", "RUN", "--images", "0,99999"], "out of range"),
        (["report", "RUN", "--images", "a,b"], "comma-separated"),
        (["layers", "/does/not/exist.safetensors"], "neither a file"),
        (["train", "--model", "cifar_cnn5", "--data", "mnist5k", "--epochs", "1"], "(3, 32, 32)"),
    ],
)
def test_bad_input_is_one_clear_line(run, tmp_path, capsys, argv, needle):
    folder, cache = run
    argv = [str(folder) if a == "RUN" else a for a in argv]
    if argv[0] in ("similarity", "report", "train"):
        argv += ["--data-dir", str(cache)]
    if argv[0] in ("report", "similarity"):
        argv += ["--out", str(tmp_path)]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "t")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("convscope: error: ") and needle in err
    assert "Traceback" not in err


def test_text_file_as_model_is_a_clear_error(tmp_path, capsys):
    bogus = tmp_path / "model.safetensors"
    bogus.write_text("hello")
    assert main(["layers", str(bogus)]) == 2
    assert "not a readable safetensors file" in capsys.readouterr().err
