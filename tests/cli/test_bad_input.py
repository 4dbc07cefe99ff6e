"""The catalogue: the CLI under bad input, full disks and second runs (issue 12).

Each row is one command a user could type. It asserts the exit status (2 for bad input
or environment, 130 interrupted, 1 only for a bug, 0 where the answer is "done, and
nothing else touched"), that an error is exactly one line ``convscope: error: ...``
naming the thing (every stderr line is a ``convscope:`` line: no traceback, no source
lines), and that every file that existed before the command is byte-identical after it.
A full disk is simulated by making the one write helper raise ``ENOSPC``; a read-only
folder by making the temporary files in it raise ``EACCES`` (the tests run as root, for
whom permission bits mean nothing).
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass, field

import pytest

import convscope._io as cio
from convscope.cli import _common, main

from .conftest import changed, snapshot

D = ("--data-dir", "CACHE")


@dataclass(frozen=True)
class Case:
    """One command: what it must answer and what it must leave alone."""

    id: str
    argv: tuple[str, ...]
    needles: tuple[str, ...]
    code: int = 2
    setup: tuple[str, ...] = ()
    before: tuple[tuple[str, ...], ...] = field(default_factory=tuple)


def case(id, argv, *needles, code=2, setup=(), before=()):
    return Case(id, tuple(argv), tuple(needles), code, tuple(setup), tuple(map(tuple, before)))


CASES = [
    # -- filesystem errors: one line with the path and the fix, before any compute -------
    case(
        "similarity-out-is-a-file",
        ["similarity", "RUN", *D, "--out", "FILE"],
        "FILE",
        "is a file, not a folder",
        setup=["file"],
    ),
    case(
        "similarity-out-under-a-file",
        ["similarity", "RUN", *D, "--out", "FILE/sub"],
        "FILE",
        "is a file",
        setup=["file"],
    ),
    case(
        "classes-out-is-a-file",
        ["classes", "RUN", *D, "--out", "FILE"],
        "is a file",
        setup=["file"],
    ),
    case("stats-out-is-a-file", ["stats", "RUN", *D, "--out", "FILE"], "is a file", setup=["file"]),
    case("atlas-out-is-a-file", ["atlas", "RUN", *D, "--out", "FILE"], "is a file", setup=["file"]),
    case(
        "evaluate-out-is-a-file",
        ["evaluate", "RUN", *D, "--out", "FILE"],
        "is a file",
        setup=["file"],
    ),
    case(
        "report-out-is-a-file",
        ["report", "RUN", *D, "--out", "FILE"],
        "exists and is not a folder",
        setup=["file"],
    ),
    case(
        "maps-out-is-a-file",
        ["maps", "RUN", "IMAGE", "--out", "FILE"],
        "is a file",
        setup=["file", "image"],
    ),
    case(
        "train-out-is-a-file",
        ["train", "--epochs", "1", *D, "--out", "FILE"],
        "is a file",
        setup=["file"],
    ),
    case(
        "export-onnx-under-a-file",
        ["export", "RUN", "--onnx", "FILE/m.onnx"],
        "the folder of --onnx",
        "is a file",
        setup=["file"],
    ),
    case("export-onnx-is-a-folder", ["export", "RUN", "--onnx", "TMP"], "must end in .onnx"),
    case(
        "similarity-out-read-only",
        ["similarity", "RUN", *D, "--out", "RO/sim"],
        "permission denied",
        "RO/sim",
        setup=["readonly"],
    ),
    case(
        "report-out-read-only",
        ["report", "RUN", *D, "--out", "RO/report"],
        "permission denied",
        setup=["readonly"],
    ),
    case(
        "train-out-read-only",
        ["train", "--epochs", "1", *D, "--out", "RO/run"],
        "permission denied",
        "RO/run",
        setup=["readonly"],
    ),
    case(
        "classes-disk-full-before",
        ["classes", "RUN", *D, "--out", "TMP/c"],
        "no space left",
        setup=["nofree"],
    ),
    case(
        "report-disk-full-before",
        ["report", "RUN", *D, "--out", "TMP/r"],
        "no space left",
        setup=["nofree"],
    ),
    case(
        "similarity-disk-full-writing",
        ["similarity", "RUN", *D, "--images", "2", "--out", "TMP/s"],
        "cannot write",
        "conv2d_1-multiply-n2",
        "no space left",
        setup=["enospc"],
    ),
    case(
        "classes-disk-full-writing",
        ["classes", "RUN", *D, "--out", "TMP/c"],
        "cannot write",
        "profile.csv",
        "no space left",
        setup=["enospc"],
    ),
    case(
        "stats-disk-full-writing",
        ["stats", "RUN", *D, "--similarity-samples", "2", "--out", "TMP/s"],
        "stats.json",
        "no space left",
        setup=["enospc"],
    ),
    case(
        "evaluate-disk-full-writing",
        ["evaluate", "RUN", *D, "--seed", "5"],
        "evaluations/test-mnist5k-seed5",
        "no space left",
        setup=["enospc"],
    ),
    case(
        "report-disk-full-writing-keeps-old",
        ["report", "RUN", *D, "--similarity-images", "2", "--out", "TMP/r"],
        "cannot write",
        "TMP/r/",
        "no space left",
        setup=["enospc"],
        before=[["report", "RUN", *D, "--similarity-images", "2", "-q", "--out", "TMP/r"]],
    ),
    case(
        "export-disk-full-writing",
        ["export", "RUN", "--onnx", "TMP/m.onnx"],
        "TMP/m.onnx",
        "no space left",
        setup=["enospc"],
    ),
    # -- nothing overwritten without asking ----------------------------------------------
    case(
        "train-over-a-run",
        ["train", "--epochs", "1", *D, "--out", "RUN"],
        "already holds a run",
        "--resume",
        "--force",
    ),
    case(
        "train-resume-and-force", ["train", "--out", "RUN", "--resume", "--force", *D], "choose one"
    ),
    case(
        "train-resume-nothing",
        ["train", "--out", "TMP/new", "--resume", *D],
        "cannot resume",
        "last.ckpt",
    ),
    case(
        "evaluate-other-seed-keeps-own",
        ["evaluate", "RUN", *D, "--seed", "1"],
        "evaluations/test-mnist5k-seed1",
        code=0,
    ),
    case(
        "evaluate-train-split",
        ["evaluate", "RUN", *D, "--split", "train"],
        "(train split, seed 0)",
        code=0,
    ),
    case(
        "evaluate-other-classes",
        ["evaluate", "RUN", *D, "--data", "animals10k"],
        "animals10k",
        "other classes",
        "--force",
    ),
    case(
        "report-other-classes",
        ["report", "RUN", *D, "--data", "animals10k", "--out", "TMP/r"],
        "other classes",
        "--force",
    ),
    case("classes-other-classes", ["classes", "RUN", *D, "--data", "animals10k"], "other classes"),
    case(
        "evaluate-other-classes-forced",
        ["evaluate", "RUN", *D, "--data", "animals10k", "--force"],
        "evaluations/test-animals10k-seed0",
        code=0,
    ),
    case(
        "evaluate-zoo-writes-nothing-here",
        ["evaluate", "mnist_convnet", "--data", "mnist5k", *D],
        "Not saved",
        code=0,
    ),
    case(
        "prune-into-itself",
        ["prune", "RUN", *D, "--layer", "conv2d_1", "--out", "RUN"],
        "is the run being pruned",
    ),
    case(
        "prune-over-a-run",
        ["prune", "RUN", *D, "--layer", "conv2d_1", "--out", "NANRUN"],
        "already holds a run",
        "--force",
    ),
    case(
        "report-into-foreign-folder",
        ["report", "RUN", *D, "--out", "TMP/mine"],
        "not a convscope report",
        setup=["foreign"],
    ),
    case(
        "report-into-current-folder",
        ["report", "RUN", *D, "--out", "."],
        "current folder",
        setup=["chdir"],
    ),
    case(
        "report-locked",
        ["report", "RUN", *D, "--out", "TMP/r"],
        "another convscope",
        "process",
        ".r.lock",
        setup=["lock"],
    ),
    case("two-models-named", ["layers", "RUN", "--model", "NANRUN"], "two models named"),
    # -- non-finite values: flagged, never silently "not firing" --------------------------
    case(
        "classes-nan",
        ["classes", "NANRUN", *D, "--out", "TMP/c"],
        "layer flatten",
        "NaN/Inf values in",
        "not firing",
    ),
    case(
        "similarity-nan",
        ["similarity", "NANRUN", *D, "--images", "2", "--out", "TMP/s"],
        "layer 'conv2d_1'",
        "NaN/Inf activation(s) in 2 of 2",
    ),
    case(
        "stats-nan-warns",
        ["stats", "NANRUN", *D, "--similarity-samples", "2"],
        "convscope: warning: NaN/Inf activations in 1 layer(s)",
        "conv2d_1 (",
        code=0,
    ),
    # -- option values that used to crash --------------------------------------------------
    case(
        "device-tpu", ["stats", "RUN", *D, "--device", "tpu"], "--device tpu", "unknown device type"
    ),
    case("device-typo", ["classes", "RUN", *D, "--device", "cpux"], "did you mean 'cpu'"),
    case(
        "device-cuda",
        ["report", "RUN", *D, "--device", "cuda"],
        "CUDA is not available",
        setup=["nocuda"],
    ),
    case(
        "device-cuda-train",
        ["train", *D, "--device", "cuda", "--out", "TMP/t"],
        "CUDA is not available",
        setup=["nocuda"],
    ),
    case(
        "device-mps",
        ["atlas", "RUN", *D, "--device", "mps"],
        "MPS is not available",
        setup=["nomps"],
    ),
    case(
        "opset-too-low",
        ["export", "RUN", "--onnx", "TMP/m.onnx", "--opset", "5"],
        "--opset 5 is out of range",
    ),
    case(
        "opset-too-high",
        ["export", "RUN", "--onnx", "TMP/m.onnx", "--opset", "99"],
        "--opset 99 is out of range",
    ),
    case("opset-legacy", ["export", "RUN", "--onnx", "TMP/m.onnx", "--opset", "6"], "out of range"),
    case("onnx-suffix", ["export", "RUN", "--onnx", "TMP/m.txt"], "must end in .onnx"),
    # -- messages that point the right way -----------------------------------------------
    case(
        "truncated-keras",
        ["layers", "BROKEN/truncated.keras"],
        "truncated.keras",
        "not a readable .keras file",
        "zip",
    ),
    case("text-onnx", ["summary", "BROKEN/text.onnx"], "text.onnx", "not a readable ONNX"),
    case(
        "truncated-safetensors",
        ["layers", "BROKEN/truncated.safetensors"],
        "truncated.safetensors",
        "truncated",
    ),
    case("text-file-as-model", ["layers", "BROKEN/notes.txt"], "notes.txt"),
    case("missing-model", ["layers", "/does/not/exist.safetensors"], "neither a file"),
    case(
        "broken-history",
        ["report", "BROKENRUN", *D, "--out", "TMP/r"],
        "history.json",
        "delete it or rerun",
        setup=["brokenhistory"],
    ),
    case(
        "one-image-class",
        ["train", "--data", "folder:FOLDER", "--epochs", "1", "--out", "TMP/t"],
        "'rare' has only 1 image",
        "--val-fraction 0",
    ),
    case(
        "offline-flag",
        ["evaluate", "RUN", "--data", "mnist", "--force", "--offline", "--data-dir", "TMP/empty"],
        "train-images-idx3-ubyte.gz",
        "TMP/empty",
        "downloads are off",
        "--data-dir",
    ),
    case(
        "offline-env",
        ["train", "--data", "fashion_mnist", "--data-dir", "TMP/empty", "--out", "TMP/t"],
        "downloads are off",
        "CONVSCOPE_OFFLINE=1",
        setup=["offline_env"],
    ),
    case(
        "cache-not-writable",
        ["train", "--data", "mnist", "--data-dir", "RO/cache", "--out", "TMP/t"],
        "data cache folder",
        "RO/cache",
        "permission denied",
        setup=["readonly"],
    ),
    case("lambda-needs-trust", ["summary", "BROKEN/lambda.keras"], "--trust", setup=["lambda"]),
    # -- consistent verbs, near misses ----------------------------------------------------
    case("verb-typo", ["simlarity", "RUN"], "invalid choice", "did you mean 'similarity'"),
    case(
        "option-typo",
        ["similarity", "RUN", "--metrc", "cosine"],
        "--metrc",
        "did you mean '--metric'",
    ),
    case("split-typo", ["evaluate", "RUN", "--split", "trian"], "did you mean 'train'"),
    case(
        "layer-typo",
        ["similarity", "RUN", *D, "--layer", "conv2d_2"],
        "unknown layer 'conv2d_2'",
        "did you mean",
    ),
    case(
        "metric-typo",
        ["similarity", "RUN", *D, "--metric", "cosin"],
        "unknown similarity metric 'cosin'",
        "did you mean 'cosine'",
    ),
    case(
        "data-typo",
        ["evaluate", "RUN", *D, "--data", "mnist5"],
        "unknown data set",
        "did you mean 'mnist5k'",
    ),
    case(
        "model-typo", ["layers", "mnist_convet"], "neither a file", "did you mean 'mnist_convnet'"
    ),
    case("layer-several", ["similarity", "RUN", *D, "--layer", "conv"], "name one"),
    case("images-zero", ["similarity", "RUN", *D, "--images", "0"], "at least 1"),
    case(
        "report-probe-range",
        ["report", "RUN", *D, "--images", "0,99999", "--out", "TMP/r"],
        "out of range",
    ),
    case("report-probe-text", ["report", "RUN", *D, "--images", "a,b"], "comma-separated"),
    case(
        "train-shape",
        ["train", "--model", "cifar_cnn5", "--data", "mnist5k", *D, "--out", "TMP/t"],
        "(3, 32, 32)",
        "(1, 28, 28)",
    ),
    case(
        "train-fraction-range",
        ["train", *D, "--val-fraction", "1.5", "--out", "TMP/t"],
        "--val-fraction takes a share in [0, 1)",
    ),
    case(
        "train-fraction-sum",
        ["train", *D, "--val-fraction", "0.5", "--test-fraction", "0.5", "--out", "TMP/t"],
        "leave no image to train on",
    ),
    case("classes-threshold", ["classes", "RUN", *D, "--threshold", "inf"], "finite"),
    case("classes-top", ["classes", "RUN", *D, "--top", "-1"], "--top must be >= 0"),
    case("stats-samples", ["stats", "RUN", *D, "--similarity-samples", "-1"], ">= 0"),
    case("atlas-k", ["atlas", "RUN", *D, "--k", "0"], "--k must be >= 1"),
    case("atlas-channels", ["atlas", "RUN", *D, "--channels", "x"], "--channels takes"),
    case("evaluate-batch", ["evaluate", "RUN", *D, "--batch-size", "0"], "--batch-size"),
    case("maps-no-image", ["maps", "RUN"], "at least one image"),
    case("maps-unreadable", ["maps", "RUN", "BROKEN/notes.txt", "--out", "TMP/m"], "notes.txt"),
    case("export-needs-onnx", ["export", "RUN"], "--onnx"),
    case("summary-trust", ["summary", "RUN", "--trust"], "Total params", code=0),
    case(
        "layers-model-data", ["layers", "--model", "RUN", "--data", "mnist5k"], "conv2d_1", code=0
    ),
    case(
        "readme-classes-dense",
        ["classes", "RUN", *D, "--layer", "dense"],
        "convscope: warning:",
        "negative values",
        code=0,
    ),
    # -- exit codes: interrupted, a bug, out of memory -----------------------------------
    case(
        "interrupted",
        ["evaluate", "RUN", *D],
        "convscope: interrupted",
        code=130,
        setup=["interrupt"],
    ),
    case(
        "a-bug",
        ["evaluate", "RUN", *D],
        "internal error (a bug in convscope)",
        "TypeError: boom",
        "report it",
        code=1,
        setup=["bug"],
    ),
    case("out-of-memory", ["evaluate", "RUN", *D], "out of memory", setup=["memory"]),
]


def _stub_tempfile(read_only: str):
    """A ``tempfile`` whose temporaries under ``read_only`` fail as on a read-only folder."""

    class Stub:
        def __getattr__(self, name):
            return getattr(tempfile, name)

        @staticmethod
        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and str(dir).startswith(read_only):
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))
            return tempfile.mkstemp(*args, dir=dir, **kwargs)

    return Stub()


def _fill_disk(handle, write):
    handle.write(b"half")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _raiser(exc):
    def load(*args, **kwargs):
        raise exc

    return load


def _setup(name, env, monkeypatch):
    tmp = env["TMP"]
    if name == "file":
        (tmp / "afile").write_text("a file, not a folder\n")
    elif name == "image":
        from PIL import Image

        Image.new("L", (28, 28), 128).save(tmp / "digit.png")
    elif name == "readonly":
        (tmp / "ro").mkdir()
        monkeypatch.setattr(cio, "tempfile", _stub_tempfile(str(tmp / "ro")))
    elif name == "nofree":
        monkeypatch.setattr(cio, "free_bytes", lambda folder: 4096)
    elif name == "enospc":
        monkeypatch.setattr(cio, "_fill_temporary", _fill_disk)
    elif name == "foreign":
        (tmp / "mine").mkdir()
        (tmp / "mine" / "thesis.tex").write_text("months of work\n")
    elif name == "chdir":
        monkeypatch.chdir(tmp)
    elif name == "lock":
        (tmp / ".r.lock").write_text(str(os.getpid()))
    elif name == "nocuda":
        import torch

        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    elif name == "nomps":
        import torch

        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    elif name == "brokenhistory":
        import shutil

        shutil.copytree(env["RUN"], tmp / "brokenrun")
        (tmp / "brokenrun" / "history.json").write_text("{broken")
    elif name == "offline_env":
        monkeypatch.setenv("CONVSCOPE_OFFLINE", "1")
    elif name == "lambda":
        _lambda_keras(env["BROKEN"] / "lambda.keras")
    elif name in ("interrupt", "bug", "memory"):
        exc = {"interrupt": KeyboardInterrupt(), "bug": TypeError("boom"),
               "memory": MemoryError()}[name]  # fmt: skip
        monkeypatch.setattr(_common, "load_data", _raiser(exc))
    else:  # pragma: no cover
        raise AssertionError(name)


def _lambda_keras(path):
    if path.exists():
        return
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2.0)])
    model.save(path)


@pytest.fixture
def env(tmp_path, cli_run, nan_run, cli_cache, broken_files, one_image_class):
    return {"RUN": cli_run, "NANRUN": nan_run, "CACHE": cli_cache, "TMP": tmp_path,
            "BROKEN": broken_files, "FOLDER": one_image_class, "FILE": tmp_path / "afile",
            "RO": tmp_path / "ro", "IMAGE": tmp_path / "digit.png",
            "BROKENRUN": tmp_path / "brokenrun"}  # fmt: skip


def _resolve(argv, env):
    out = []
    for arg in argv:
        for key in sorted(env, key=len, reverse=True):  # BROKENRUN before RUN
            if key in arg:
                arg = arg.replace(key, str(env[key]))
                break
        out.append(arg)
    return out


def test_the_catalogue_has_sixty_rows_or_more():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("row", CASES, ids=[c.id for c in CASES])
def test_catalogue(row, env, capsys, monkeypatch):
    for command in row.before:
        assert main(_resolve(command, env)) == 0
    for name in row.setup:
        _setup(name, env, monkeypatch)
    capsys.readouterr()
    watched = [env[k] for k in ("RUN", "NANRUN", "CACHE", "TMP", "BROKEN")]
    before = snapshot(*watched)
    code = main(_resolve(row.argv, env))
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == row.code, (out[-2000:], err[-2000:])
    assert "Traceback" not in err
    assert all(line.startswith("convscope: ") for line in lines), err
    if row.code != 0:
        errors = [
            line for line in lines if line.startswith(("convscope: error:", "convscope: int"))
        ]
        assert len(errors) == 1, err
        shown = errors[0]
    else:
        shown = out + err
    print(f"\n[{row.id}] {code}: {shown.strip()[-400:]}")  # shown with pytest -s
    for needle in row.needles:
        if needle.startswith(tuple(env)):  # a path: TMP/r, RO/cache...
            needle = _resolve([needle], env)[0]
        assert needle in shown, (needle, shown)
    assert changed(before) == []
    leftovers = [p for folder in watched for p in folder.rglob("*.tmp")]
    assert leftovers == []
