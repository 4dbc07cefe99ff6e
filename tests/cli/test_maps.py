"""``convscope maps``, ``convscope report --image`` and ``convscope train --track`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import convscope as cs
from convscope.cli import main
from convscope.cli.maps_verbs import top_classes


@pytest.fixture(scope="module")
def run(short_run):
    """The session's short run (tests/conftest.py), copied for this module."""
    return short_run


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Two digit photos as a user has them: 8-bit grey PNG at 56x56 and an RGB JPEG."""
    folder = tmp_path_factory.mktemp("images")
    x = cs.data.load("mnist5k").x_test[:2, 0]
    Image.fromarray((x[0] * 255).astype(np.uint8)).resize((56, 56)).save(folder / "three.png")
    rgb = np.dstack([(x[1] * 255).astype(np.uint8)] * 3)
    Image.fromarray(rgb).save(folder / "other.jpg", quality=95)
    return folder


def test_maps_writes_belts_mosaics_overlays_and_prints_the_top_5(run, digits, tmp_path, capsys):
    folder, _ = run
    out = tmp_path / "maps"
    code = main(["maps", str(folder), str(digits / "three.png"), str(digits / "other.jpg"),
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.count("top-5:") == 2
    for stem in ("three", "other"):
        files = sorted(p.name for p in (out / stem).iterdir())
        assert files == [
            "belt.png",
            *[
                f"mosaic_{n}.png"
                for n in ("conv2d", "conv2d_1", "max_pooling2d", "max_pooling2d_1")
            ],
            *[
                f"overlay_{n}.png"
                for n in ("conv2d", "conv2d_1", "max_pooling2d", "max_pooling2d_1")
            ],
        ]
        assert Image.open(out / stem / "belt.png").size[0] > 300
    # the printed probabilities are the model's own on the image as read
    model, _ = cs.models.load(folder)
    x = cs.data.read_images([digits / "three.png"], (1, 28, 28))
    logits = cs.capture(model, x, "dense")["dense"][0]
    best, p = top_classes(logits, [str(k) for k in range(10)])[0]
    assert f"top-5: {best} {p:.3f}" in printed


def test_maps_layer_choice_and_what_is_not_drawn(run, digits, tmp_path, capsys):
    folder, _ = run
    out = tmp_path / "maps"
    code = main(["maps", str(folder), str(digits / "three.png"), "--layers", "conv2d_1,dense",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    assert "not drawn (no spatial maps): dense" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "three").iterdir()) == [
        "belt.png", "mosaic_conv2d_1.png", "overlay_conv2d_1.png",
    ]  # fmt: skip


def test_maps_bad_files_one_line_each_exit_2_others_still_drawn(run, digits, tmp_path, capsys):
    folder, _ = run
    whole = (digits / "three.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "dir").mkdir()
    Image.new("LAB", (28, 28)).save(tmp_path / "lab.tif")
    args = ["maps", str(folder), str(digits / "three.png"), str(tmp_path / "cut.png"),
            str(tmp_path / "notes.txt"), str(tmp_path / "dir"), str(tmp_path / "lab.tif"),
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 2
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 4 and all(e.startswith("convscope: error: ") for e in errors)
    assert "cut.png: corrupt or truncated image" in errors[0]
    assert "notes.txt: not an image format Pillow reads" in errors[1]
    assert "dir: is a folder" in errors[2]
    assert "lab.tif: a LAB image (3 bands) has no rule" in errors[3]
    assert (tmp_path / "out" / "three" / "belt.png").exists()  # the good one is drawn
    # nothing readable at all: one error, exit 2
    assert main(["maps", str(folder), str(tmp_path / "notes.txt")]) == 2
    assert "none of the 1 image file(s) could be read" in capsys.readouterr().err


def test_maps_preprocess_and_input_shape_errors(run, digits, capsys):
    folder, _ = run
    code = main(["maps", str(folder), str(digits / "three.png"), "--preprocess", "imagenet"])
    assert code == 2
    assert "mean has 3 values for a model with 1 channels" in capsys.readouterr().err
    code = main(["maps", str(folder), str(digits / "three.png"), "--input-shape", "1,28"])
    assert code == 2 and "--input-shape takes C,H,W" in capsys.readouterr().err


@pytest.mark.slow
def test_report_with_your_own_images_as_probes(run, digits, tmp_path, capsys):
    folder, cache = run
    out = tmp_path / "report"
    code = main(["report", str(folder), "--image", str(digits / "three.png"),
                 str(digits / "other.jpg"), str(tmp_path / "missing.png"),
                 "--data-dir", str(cache), "--out", str(out)])  # fmt: skip
    assert code == 2  # the report is written, and the missing file is named
    assert "missing.png: no such file" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["probes"]["indices"] == [0, 1]
    assert metrics["probes"]["labels"] == metrics["probes"]["predictions"]
    assert all((out / path).exists() for path in metrics["figures"].values())
    model, _ = cs.models.load(folder)
    x = cs.data.read_images([digits / "three.png", digits / "other.jpg"], (1, 28, 28))
    want = cs.capture(model, x, "dense")["dense"].argmax(1).tolist()
    assert metrics["probes"]["predictions"] == want
    assert main(["report", str(folder), "--image", "a.png", "--images", "0,1"]) == 2
    assert "use one" in capsys.readouterr().err


@pytest.mark.slow
def test_train_track_logs_the_similarity_of_the_tracked_layers(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", "mnist_convnet", "--data", "mnist5k", "--epochs", "1",
                 "--track", "conv2d,conv2d_1", "--probe", "4", "--out", str(out),
                 "--tensorboard", str(tmp_path / "tb")])  # fmt: skip
    assert code == 0
    assert list((tmp_path / "tb").glob("events.out.tfevents*"))  # TensorBoard's files
    history = json.loads((out / "history.json").read_text())
    assert {"similarity/conv2d", "similarity/conv2d_1", "similarity"} <= set(history)
    assert history["similarity"] == history["similarity/conv2d_1"]  # the deepest, as seed 000
    record = json.loads((out / "run.json").read_text())
    assert record["track"] == {"layers": "conv2d,conv2d_1", "probe": 4}
    # --resume without --track tracks the same layers on the same probe images
    assert main(["train", "--epochs", "2", "--out", str(out), "--resume"]) == 0
    resumed = json.loads((out / "history.json").read_text())
    assert len(resumed["similarity/conv2d"]) == 2 and len(resumed["similarity/conv2d_1"]) == 2
    assert resumed["similarity/conv2d"][0] == history["similarity/conv2d"][0]
    capsys.readouterr()
    assert main(["train", "--probe", "4", "--out", str(tmp_path / "x")]) == 2
    assert "--probe N sets the tracker's images: it needs --track" in capsys.readouterr().err
