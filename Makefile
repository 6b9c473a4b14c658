# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.runtime
	$(PIP) install -e '.[test,ray,train]'
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || echo "chromium not installed: the browser test skips"
	$(BIN)/vidlab models install mediapipe || echo "mediapipe models not installed (tests that need them skip)"
	@touch $@

demo: $(VENV)/.runtime
	$(BIN)/vidlab demo --outdir vidlab-demo

test: $(VENV)/.test
	$(BIN)/python -m pytest -q

# The house rules CI checks before the tests: ruff's lint and format, and the layer contracts
# of DESIGN.md (.importlinter: a lower layer never imports a higher one).
lint: $(VENV)/.test
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/lint-imports

bench: $(VENV)/.test
	$(BIN)/python benchmarks/bench_transcode.py
	$(BIN)/python benchmarks/bench_parallel.py
	$(BIN)/python benchmarks/bench_styles.py
	$(BIN)/python benchmarks/bench_flicker.py
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_interp.py

clean:
	rm -rf $(VENV) vidlab-demo .pytest_cache build src/*.egg-info
