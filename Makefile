# hubsync: `make run` serves the whole pipeline locally; `make test` runs every check CI runs.
# Each target sets itself up (virtual environments, installs) on first use.
SHELL := /bin/bash
VENV := .venv
SAMVENV := .venv-sam
CHECKOVVENV := .venv-checkov
LOCALSTACKVENV := .venv-localstack
PY := $(VENV)/bin/python
# The Lambda runtime is python3.13; the code also runs on 3.11+. scripts/find-python chooses.
BASE_PYTHON = $(shell scripts/find-python)
# Template checks run offline: SAM and cfn-lint only need a region and some credentials to exist.
OFFLINE_AWS := AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 SAM_CLI_TELEMETRY=0

.PHONY: run test unit lint typecheck pytest template security bench clean setup chaos deploy-check

setup: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt pyproject.toml local/pyproject.toml
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e . -e local
	touch $@

$(SAMVENV)/.installed: requirements-sam.txt
	test -x $(SAMVENV)/bin/python || $(BASE_PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAMVENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

# checkov pins boto3 1.35, which the dev environment's boto3 cannot share: its own environment too.
$(CHECKOVVENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOVVENV)/bin/python || $(BASE_PYTHON) -m venv $(CHECKOVVENV)
	$(CHECKOVVENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOVVENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

# LocalStack in-process (no Docker) for deploy-check, in its own environment: its pins (boto3 1.42, click >= 8.2)
# cannot share one with SAM CLI's. Python 3.13, the Lambda runtime that `sam build` needs on PATH.
$(LOCALSTACKVENV)/.installed: deploy/requirements-localstack.txt deploy/localstack_noexec/pyproject.toml $(wildcard deploy/localstack_noexec/localstack_noexec/*.py)
	$(BASE_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || { echo "deploy-check needs Python 3.13" >&2; exit 1; }
	test -x $(LOCALSTACKVENV)/bin/python || $(BASE_PYTHON) -m venv $(LOCALSTACKVENV)
	$(LOCALSTACKVENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCALSTACKVENV)/bin/python -m pip install --quiet -r deploy/requirements-localstack.txt
	$(LOCALSTACKVENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation ./deploy/localstack_noexec
	touch $@

run: $(VENV)/.installed
	$(PY) -m hubsync_local

# Template checks before the suite, so the suite's summary closes the output.
test: lint typecheck template security pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The handlers are all app.py, so each is checked on its own (one module name per run).
typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy
	for handler in functions/*/app.py; do $(VENV)/bin/mypy --strict $$handler || exit 1; done
	# deploy-check's own scripts (they run in .venv-localstack; mypy reads them with the dev stubs)
	MYPYPATH=local:deploy $(VENV)/bin/mypy --strict deploy/check.py deploy/stack_checks.py

pytest: $(VENV)/.installed
	$(VENV)/bin/pytest

unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit

# cfn-lint, `sam validate --lint` and `sam build` (which needs python3.13 on PATH: the venv's).
template: $(VENV)/.installed $(SAMVENV)/.installed
	$(VENV)/bin/cfn-lint template.yaml
	$(OFFLINE_AWS) $(SAMVENV)/bin/sam validate --lint --template template.yaml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(OFFLINE_AWS) $(SAMVENV)/bin/sam build --template template.yaml

# checkov on template.yaml with .checkov.yaml (the skipped checks and why): any other failed check fails the build.
security: $(CHECKOVVENV)/.installed
	$(CHECKOVVENV)/bin/checkov --config-file .checkov.yaml

# sam build + sam deploy into LocalStack (create, then an update with changed parameters), asserted against
# template.yaml; what LocalStack only stubs is listed as not proven (deploy/README.md). .ci/run runs it after the tests.
deploy-check: $(LOCALSTACKVENV)/.installed $(SAMVENV)/.installed
	SAM=$(SAMVENV)/bin/sam $(LOCALSTACKVENV)/bin/python deploy/check.py

bench: $(VENV)/.installed
	$(PY) -m bench

# The fault suite at full size (make test runs it with 600 events over 80 records); -s prints its report.
chaos: $(VENV)/.installed
	CHAOS_EVENTS=4000 CHAOS_RECORDS=300 $(VENV)/bin/pytest tests/chaos -s --timeout=900

clean:
	rm -rf $(VENV) $(SAMVENV) $(CHECKOVVENV) $(LOCALSTACKVENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
