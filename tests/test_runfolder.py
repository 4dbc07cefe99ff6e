"""RunFolder: the one place that names a run's files; nothing in train/ spells them."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import convscope
import convscope.train as train
from convscope.errors import FormatError
from convscope.runfolder import RunFolder

FILE_NAMES = {
    RunFolder.RECORD,
    RunFolder.MODEL,
    RunFolder.CHECKPOINT,
    RunFolder.HISTORY_JSON,
    RunFolder.HISTORY_CSV,
    RunFolder.EVALUATION,
    RunFolder.PREDICTIONS,
}
PACKAGE = Path(convscope.__file__).parent


def test_paths_and_names(tmp_path):
    run = RunFolder(tmp_path / "run")
    assert run.record_path.name == "run.json" and run.model.name == "model.safetensors"
    assert run.checkpoint.name == "last.ckpt" and run.history_csv.name == "history.csv"
    assert run.evaluation == tmp_path / "run" / "evaluation.json"
    assert run.report_dir == tmp_path / "run" / "report"
    assert run.request_dir("val", "mnist5k", 3).parts[-2:] == ("evaluations", "val-mnist5k-seed3")
    assert str(run) == repr(run) == f"RunFolder({str(tmp_path / 'run')!r})"
    assert Path(run) == tmp_path / "run"  # os.fspath works
    assert run.files()["history"] == ["history.json", "history.csv"]


def test_compatibility_names_come_from_runfolder(tmp_path):
    assert train.CHECKPOINT_FILE == RunFolder.CHECKPOINT
    assert train.RUN_FILE == RunFolder.RECORD
    assert (train.HISTORY_JSON, train.HISTORY_CSV) == (
        RunFolder.HISTORY_JSON,
        RunFolder.HISTORY_CSV,
    )
    from convscope.train.fit import read_run, run_seed  # the old deep import still works

    RunFolder(tmp_path).write_record({"options": {"seed": 4}})
    assert read_run(tmp_path) == {"options": {"seed": 4}} and run_seed(tmp_path) == 4


def test_record_seed_status_dataset(tmp_path):
    run = RunFolder(tmp_path / "new")
    assert run.record() == {} and run.seed() == 0 and run.status() is None
    assert not run.is_run() and not run.has_training() and run.history() is None
    run.write_record({"status": "complete", "seed": 2, "dataset": "toy"})
    assert run.is_run() and not run.has_training()
    assert (run.status(), run.seed(), run.dataset()) == ("complete", 2, "toy")
    run.write_record({"seed": 2, "options": {"seed": 5}})  # the options' seed wins
    assert run.seed() == 5 and run.dataset() is None
    run.checkpoint.write_bytes(b"")
    assert run.has_training()
    assert not list(run.path.glob(".*"))  # atomic writes leave no temporary files


def test_unreadable_files_are_format_errors_naming_the_file(tmp_path):
    run = RunFolder(tmp_path)
    run.record_path.write_text("[1, 2]")
    with pytest.raises(FormatError, match="run.json does not hold a run record"):
        run.record()
    run.record_path.write_text("{not json")
    with pytest.raises(FormatError, match="run.json is not readable JSON"):
        run.status()
    run.write_record({"seed": "seven"})
    with pytest.raises(FormatError, match="seed that is not an integer"):
        run.seed()
    run.history_json.write_text(json.dumps({"loss": 1.0}))
    with pytest.raises(FormatError, match="history.json does not hold a training history"):
        run.history()


def _spelled_file_names(path: Path) -> list[str]:
    """String constants (docstrings aside) that spell a run's file name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and any(name in node.value for name in FILE_NAMES):
                found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    return found


def test_only_runfolder_spells_the_file_names():
    # evaluate.py is being rewritten in another room; it still defines EVALUATION_FILE
    paths = [p for p in (PACKAGE / "train").glob("*.py") if p.name != "evaluate.py"]
    paths.append(PACKAGE / "cli" / "train_verbs.py")
    found = [hit for path in sorted(paths) for hit in _spelled_file_names(path)]
    assert found == []
    assert _spelled_file_names(PACKAGE / "runfolder.py")  # the check does see them
