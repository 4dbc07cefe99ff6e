"""The README's Python examples run as written (a shorter training, in a temporary folder)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Python API", 1)[1].split("### Keras 3 and ONNX", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_python_api_examples_run(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVSCOPE_DATA", os.environ.get("CONVSCOPE_DATA", str(tmp_path / "cache")))
    blocks = _python_blocks()
    assert len(blocks) >= 7  # setup, seeds 000-004, report
    code = "\n".join(blocks).replace("epochs=8", "epochs=1")
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert Path("runs/mine/model.safetensors").is_file()
    assert Path("belt.png").is_file() and Path("out/index.html").is_file()
    assert 0.0 <= namespace["m"] <= 1.0
    assert namespace["S"].shape == (64, 64)
