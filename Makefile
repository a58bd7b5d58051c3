# Set-up is part of every target: the virtual environment is made and filled on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: run test lint clean bench faults

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# A fresh checkout has no JWT_SECRET: ensure-secret writes a random one to .env (once).
run: $(BIN)/.installed
	$(BIN)/conduit ensure-secret
	$(BIN)/conduit migrate
	$(BIN)/conduit serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Needs PostgreSQL (BENCH_DATABASE_URL) and wrk; see bench/README.md. E.g. BENCH_ARGS="--runs 1".
bench: $(BIN)/.installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Slow fault runs against local PostgreSQL (restarts it!); see faults/run.py. FAULTS_ARGS="--short".
faults: $(BIN)/.installed
	$(BIN)/python faults/run.py $(FAULTS_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
