"""``convscope serve`` from the command line: arguments, errors, the URL it prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from convscope.cli import build_parser, main


def test_serve_is_a_verb_with_safe_defaults():
    args = build_parser().parse_args(["serve", "runs/a", "runs/b"])
    assert args.sources == ["runs/a", "runs/b"]
    assert (args.host, args.port, args.split, args.metric) == (
        "127.0.0.1",
        8765,
        "test",
        "multiply",
    )


def test_extra_sources_must_be_run_folders(tmp_path, capsys):
    code = main(["serve", "mnist_convnet", str(tmp_path / "missing")])
    assert code == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_serve_prints_its_url_and_answers(tmp_path, tracked_run):
    env = dict(os.environ, CONVSCOPE_DATA=str(tmp_path), KERAS_BACKEND="torch")
    proc = subprocess.Popen(
        [sys.executable, "-m", "convscope", "serve", str(tracked_run), "--port", "0", "--images", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        lines, url = [], None
        deadline = time.time() + 240
        while url is None and time.time() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
            if "Open the explorer at " in line:
                url = line.split("Open the explorer at ", 1)[1].strip()
        assert url is not None and url.startswith("http://127.0.0.1:") and "token" not in url, lines
        with urllib.request.urlopen(url, timeout=10) as page:
            html = page.read().decode()
        assert "convscope explorer: mnist_convnet on mnist5k" in html
        with urllib.request.urlopen(url + "api/training", timeout=10) as training:
            assert b'"epochs":2' in training.read()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode is not None


@pytest.mark.parametrize("flag", ["--help"])
def test_help_does_not_import_the_web_stack(flag):
    code = ("import sys, contextlib, io\n"
            "from convscope.cli import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            f"    main(['serve', '{flag}'])\n"
            "print(','.join(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
