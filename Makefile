# The two commands: `make demo` (the main job on the embedded data set) and `make test`.
# Both create .venv if it is missing and install everything convscope needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.convscope-installed
export KERAS_BACKEND ?= torch

.PHONY: demo test lint format bench browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the CPU wheel first: a bare `torch` requirement would pull a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[keras,onnx,ray,serve,tensorboard,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/convscope demo

# Headless Chromium for the browser tests (Debian's package; needs root, as on CI).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -q && apt-get install -y -q chromium) >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples conftest.py
	$(BIN)/ruff format --check src tests bench examples conftest.py

format: $(STAMP)
	$(BIN)/ruff format src tests bench examples conftest.py
	$(BIN)/ruff check --fix src tests bench examples conftest.py

test: $(STAMP) browser lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
