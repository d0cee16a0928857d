# replica-pipeline: the two commands of the quick start are `make run` and `make test`.
# Every target sets up .venv itself when it is missing or stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# Node 20's end-of-life banner; the DEPRECATED variable alone does not silence it.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# checkov pins an old boto3, so it lives in a virtualenv of its own.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: install lint typecheck test unit bench up down run clean synth cfn-lint checkov infra-checks

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
	$(BIN)/bandit -q -c pyproject.toml -r functions local infra

typecheck: install
	$(BIN)/mypy functions tests local infra app.py bench

$(CHECKOV_INSTALLED):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'
	@touch $@

# Synthesize (cdk-nag AwsSolutions + Serverless run during synthesis; findings fail it).
synth: install
	$(BIN)/python -m infra.checks synth

cfn-lint: install
	$(BIN)/python -m infra.checks cfn-lint

checkov: install $(CHECKOV_INSTALLED)
	$(BIN)/python -m infra.checks checkov --checkov $(CHECKOV)

# One synthesis (cdk-nag), then cfn-lint and checkov on its template.
infra-checks: install $(CHECKOV_INSTALLED)
	$(BIN)/python -m infra.checks all --checkov $(CHECKOV)

# Every gate: lint, types, the synthesized stack's checks, then every test.
test: lint typecheck infra-checks
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

# Speed and size figures, each next to a reference measured in the same run;
# writes bench/RESULTS.md. Never part of make test (shared machines are noisy).
bench: install
	$(BIN)/python -m bench.run_all

# The local stack: moto, the Tavus emulator and the real handlers, on loopback.
up: install
	@$(BIN)/python -m local.stack up

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m local.stack down; else echo "No local stack is running."; fi

# Start the local stack, submit the sample video and watch it become a replica.
run: install
	@$(BIN)/python -m local.demo

clean: down
	rm -rf $(VENV) $(CHECKOV_VENV) cdk.out .local .mypy_cache .ruff_cache .pytest_cache
