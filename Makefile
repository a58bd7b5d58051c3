# Set-up is part of every target: the virtual environment is made and filled on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: run test test-under-load lint clean bench faults cluster lock migration

# Exactly the versions in requirements.lock, checked against its hashes; then the project.
$(BIN)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# After a change to the dependencies in pyproject.toml, or to upgrade them all: pins the
# newest versions the ranges allow, for every Python and platform, with their hashes.
lock: $(BIN)/.installed
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --generate-hashes \
		--python-version 3.11 --custom-compile-command "make lock" --quiet -o requirements.lock

# A fresh checkout has no JWT_SECRET: ensure-secret writes a random one to .env (once).
run: $(BIN)/.installed
	$(BIN)/conduit ensure-secret
	$(BIN)/conduit migrate
	$(BIN)/conduit serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite ROUNDS times with every core kept busy: a test that depends on timing fails here.
test-under-load: $(BIN)/.installed
	scripts/test_under_load.sh $(or $(ROUNDS),3) $(PYTEST_ARGS)

# Needs PostgreSQL (BENCH_DATABASE_URL) and wrk; see bench/README.md. E.g. BENCH_ARGS="--runs 1".
bench: $(BIN)/.installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Slow fault runs on a PostgreSQL cluster of their own when root (else the local server, no
# restart); see faults/run.py. FAULTS_ARGS="--short".
# Fault 8 alone (hostile clients, direct and via nginx):
#   make faults FAULTS_ARGS="--short --only 8"
faults: $(BIN)/.installed
	$(BIN)/python faults/run.py $(FAULTS_ARGS)

# As root: its own PostgreSQL primary + replica, PgBouncer, 3 API hosts in network namespaces
# and nginx, under load and faults; see cluster/run.py. CLUSTER_ARGS="--short" (CI).
cluster: $(BIN)/.installed
	$(BIN)/python cluster/run.py $(CLUSTER_ARGS)

# A revision from the change to infrastructure/orm.py (README, "A new migration").
migration: $(BIN)/.installed
	@test -n "$(m)" || { echo 'usage: make migration m="what it changes"' >&2; exit 2; }
	$(BIN)/python -m infrastructure.migrations "$(m)"

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache
