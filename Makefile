# One-command set-up: `make run` starts everything on embedded defaults; `make test` runs the whole suite.
# Installs come from the hashed lock files in requirements/ (reproducible; `make lock` regenerates them from
# pyproject.toml), and `make test` audits the locked versions for known vulnerabilities.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUNTIME_LOCK := requirements/runtime.lock
DEV_LOCK := requirements/dev.lock
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header --quiet

.PHONY: run test lint audit unit integration bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml $(RUNTIME_LOCK)
	$(BIN)/pip install --quiet --require-hashes -r $(RUNTIME_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(STAMP): $(BIN)/python pyproject.toml $(DEV_LOCK) tests/deps.sh
	bash tests/deps.sh
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/opsledger up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Known vulnerabilities in the locked versions (the PyPI advisory data pip-audit reads).
audit: $(STAMP)
	$(BIN)/pip-audit --disable-pip --require-hashes --progress-spinner off -r $(DEV_LOCK)

lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra demo $(LOCK_FLAGS) -o $(RUNTIME_LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra demo $(LOCK_FLAGS) -o $(DEV_LOCK)

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration tests/e2e -q

test: lint audit
	$(BIN)/pytest -q

bench: $(VENV)/.installed
	$(BIN)/opsledger bench pipeline --json

clean:
	rm -rf $(VENV) .opsledger .mypy_cache .ruff_cache .pytest_cache
