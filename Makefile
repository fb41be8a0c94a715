# Custody developer commands. `make test` is the command CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test unit stack-up stack-down stack-status clean

install: $(VENV)/.installed

# Reinstall whenever pyproject.toml changes; pip reuses ~/.cache/pip between runs.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Unit and integration tests; the integration fixtures start the local stack
# (Kafka, Neo4j, S3) when no CUSTODY_* endpoints are set and no Docker engine answers.
test: install
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

stack-up: install
	$(BIN)/custody dev up

stack-down: install
	$(BIN)/custody dev down

stack-status: install
	$(BIN)/custody dev status

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
