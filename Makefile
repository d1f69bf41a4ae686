# storelens: `make demo` and `make test` work on a fresh machine (they create .venv themselves).
# `make demo` installs storelens with the service extra, so every command in README.md works in
# .venv afterwards (`storelens serve` included); `make dev` adds the test and benchmark tools.
PY ?= $(shell command -v python3.11 || command -v python3)
# extra arguments for `storelens demo`, e.g. `make demo DEMO_ARGS="--max-frames 50"`
DEMO_ARGS ?=
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.stamp-runtime
DEV_STAMP := $(VENV)/.stamp-dev

.PHONY: demo test test-quick lint format bench venv dev clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[service]'
	touch $@

$(DEV_STAMP): pyproject.toml bench/requirements-baselines.txt | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps -r bench/requirements-baselines.txt
	touch $@ $(RUNTIME_STAMP)

venv: $(RUNTIME_STAMP)
dev: $(DEV_STAMP)

## Run the whole pipeline on the bundled demo store (SQLite, no services needed).
demo: $(RUNTIME_STAMP)
	$(BIN)/storelens demo $(DEMO_ARGS)

## The whole test suite (integration tests need PostgreSQL, Mosquitto, NATS: .ci/run starts them).
test: $(DEV_STAMP)
	$(BIN)/pytest -q

## The suite without the long real-video and browser runs (marked slow / e2e).
test-quick: $(DEV_STAMP)
	$(BIN)/pytest -q -m "not slow and not e2e"

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix src tests bench scripts
	$(BIN)/ruff format src tests bench scripts

## Benchmarks: each prints ours next to a named baseline from the same run, with ratios.
bench: $(DEV_STAMP)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/detector.py
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/analytics.py
	$(BIN)/python bench/expressions.py
	$(BIN)/python bench/interaction.py
	$(BIN)/python bench/intent.py
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
