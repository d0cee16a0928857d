# replica-pipeline: the two commands of the quick start are `make run` and `make test`.
# Every target sets up .venv itself when it is missing or stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: install lint typecheck test unit bench up down run clean

install: $(INSTALLED)

# Reinstall whenever the declared dependencies change.
$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "replica-pipeline needs Python 3.11 or newer; set PYTHON=python3.x")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cli]'
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy functions tests local infra app.py bench

test: lint typecheck
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

bench: install
	$(BIN)/python -m bench.bytes_read
	$(BIN)/python -m bench.callback_cost

# The local stack: moto, the Tavus emulator and the real handlers, on loopback.
up: install
	@$(BIN)/python -m local.stack up

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m local.stack down; else echo "No local stack is running."; fi

# Start the local stack, submit the sample video and watch it become a replica.
run: install
	@$(BIN)/python -m local.demo

clean: down
	rm -rf $(VENV) cdk.out .local .mypy_cache .ruff_cache .pytest_cache
