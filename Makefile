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

.PHONY: install install-local lock lint typecheck test unit component bench up down run clean synth cfn-lint checkov infra-checks \
	console console-check browser cdk-cli

# The functions' runtime dependencies, all of them, pinned with their hashes (make lock).
LOCK := requirements/functions.lock
# The deep-check function's: the same, plus the deep-check extra (PyAV, numpy, OpenCV).
DEEP_CHECK_LOCK := requirements/deep-check.lock

install: $(INSTALLED)

# Reinstall whenever the declared dependencies or a lock change. The functions' lock goes in
# first, hash-checked; both locks' pins then constrain the rest, so no dev or CLI tool moves a
# locked version, and the CLI's pre-flight runs the versions the deep-check function ships
# (a clash fails here: relock with make lock, or change the tool's pin). The constraints are
# the locks without their hashes: pip turns hashes in a constraints file into hash-checking of
# the whole install, which an editable install and the unlocked dev tools cannot pass.
# $(1): the project's extras to install with it.
define install_project
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "replica-pipeline needs Python 3.11 or newer; set PYTHON=python3.x")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	sed -e '/^ *--hash=/d' -e 's/ *\\$$//' $(LOCK) $(DEEP_CHECK_LOCK) > $(VENV)/lock-constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(1)]' -c $(VENV)/lock-constraints.txt
endef

$(INSTALLED): pyproject.toml $(LOCK) $(DEEP_CHECK_LOCK)
	$(call install_project,dev)
	@touch $@

# make run and make up need the CLI and the local stack, not the test, lint and CDK tools:
# a third of the full install, so a fresh clone's first make run starts sooner. Nothing to
# do when the full install is already up to date.
RUN_INSTALLED := $(VENV)/.installed-run
$(RUN_INSTALLED): pyproject.toml $(LOCK) $(DEEP_CHECK_LOCK)
	@if [ $(INSTALLED) -nt pyproject.toml ] && [ $(INSTALLED) -nt $(LOCK) ] \
	  && [ $(INSTALLED) -nt $(DEEP_CHECK_LOCK) ]; then \
	  echo "(the full install is up to date)"; else $(MAKE) --no-print-directory install-local; fi
	@touch $@

install-local:
	$(call install_project,local)

# Rewrite the locks after changing [project].dependencies or the deep-check extra: every
# transitive dependency with its hashes, resolved for the functions' platform
# (infra/bundling.py: arm64, Python 3.13), minus what the Lambda runtime provides. The
# deep-check lock adds the deep-check extra and is constrained by the functions' lock, so
# what both ship is locked at one version; it targets glibc 2.28, as PyAV's and numpy's arm64
# wheels do (Lambda's Amazon Linux 2023 has 2.34). Only needs uv (at the dev extra's pin), so
# a lock that no longer agrees with pyproject.toml can be rewritten before make install runs.
# Versions already locked are kept; UPGRADE=--upgrade moves them to the newest allowed.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$$(sed -n 's/^ *"\(uv==[^"]*\)",*$$/\1/p' pyproject.toml)"
	$(BIN)/uv pip compile pyproject.toml --excludes requirements/provided-by-lambda.txt \
	  --python-platform aarch64-manylinux2014 --python-version 3.13 --generate-hashes $(UPGRADE) \
	  --quiet -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra deep-check --constraints $(LOCK) \
	  --excludes requirements/provided-by-lambda.txt \
	  --python-platform aarch64-manylinux_2_28 --python-version 3.13 --generate-hashes $(UPGRADE) \
	  --quiet -o $(DEEP_CHECK_LOCK)

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

# Synthesis (cdk-nag fails on a finding), then cfn-lint and checkov on each template.
# Twice: as cdk.json sets it, and with every optional resource on (the CloudFront signer,
# a KMS bucket, destroy's auto-delete, the default bus, upload expiry, the deep check), so
# each is checked.
INFRA_ALTERNATIVE := -c signer=cloudfront -c bucket_kms=true -c removal_policy=destroy \
	-c event_bus=default -c upload_expiry_days=30 -c deep_check=true
infra-checks: install $(CHECKOV_INSTALLED)
	$(BIN)/python -m infra.checks all --checkov $(CHECKOV)
	$(BIN)/python -m infra.checks all --checkov $(CHECKOV) $(INFRA_ALTERNATIVE)

# The CDK command line pinned in package.json (and package-lock.json): `npx cdk ...` runs it.
# Reinstalled only when the lock file changes (npm ci writes node_modules/.package-lock.json).
cdk-cli: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The console's page (replicas console): Vite builds console/ into local/replica_pipeline_local/cli/console_static/,
# which is committed so the CLI needs no Node. Rebuild after editing console/src.
CONSOLE_STATIC := local/replica_pipeline_local/cli/console_static
NPM_QUIET := --no-audit --no-fund --loglevel=error

console:
	cd console && npm ci $(NPM_QUIET) && npm run build

# The committed page is exactly the build of its source, and its helpers pass their tests.
console-check:
	cd console && npm ci $(NPM_QUIET) && npm test
	@fresh=$$(mktemp -d) && cd console && npm run build -- --outDir "$$fresh" --emptyOutDir >/dev/null \
	  && if diff -r "$$fresh" ../$(CONSOLE_STATIC); then rm -rf "$$fresh"; \
	     else rm -rf "$$fresh"; echo "$(CONSOLE_STATIC) is stale: run make console and commit it"; exit 1; fi

# The console tests drive the system Chromium (browser downloads are not possible here).
# Installed when missing and we may (root, or sudo without a password); otherwise those
# tests skip and say why.
CHROMIUM ?= chromium
browser:
	@command -v $(CHROMIUM) >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "No Chromium and no way to install it: the console's browser tests will skip."; exit 0; fi; \
	echo "Installing Debian's chromium for the console's browser tests..."; \
	( $$sudo apt-get install -y -qq chromium >/dev/null 2>&1 \
	  || ( $$sudo apt-get update -qq >/dev/null 2>&1 && $$sudo apt-get install -y -qq chromium >/dev/null 2>&1 ) ) \
	  || echo "Installing chromium failed: the console's browser tests will skip."

# Every gate: lint, types, the synthesized stack's checks, the console's build, the pinned CDK
# CLI (tests/infra/test_cdk_cli.py synthesizes with it), then every test.
test: lint typecheck infra-checks console-check browser cdk-cli
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

component: install
	$(BIN)/pytest tests/component

# Speed and size figures, each next to a reference measured in the same run;
# writes bench/RESULTS.md. Never part of make test (shared machines are noisy).
bench: install
	$(BIN)/python -m bench.run_all

# The local stack: moto, the Tavus emulator and the real handlers, on loopback.
up: $(RUN_INSTALLED)
	@$(BIN)/python -m replica_pipeline_local.stack up

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m replica_pipeline_local.stack down; else echo "No local stack is running."; fi

# Start the local stack, submit the sample video and watch it become a replica.
run: $(RUN_INSTALLED)
	@$(BIN)/python -m replica_pipeline_local.demo

clean: down
	rm -rf $(VENV) $(CHECKOV_VENV) cdk.out node_modules .local .mypy_cache .ruff_cache .pytest_cache console/node_modules
