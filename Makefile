# Custody developer commands. `make test` is the command CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install system-deps test unit demo stack-up stack-down stack-status clean

install: $(VENV)/.installed

# Reinstall whenever pyproject.toml changes; pip reuses ~/.cache/pip between runs.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Unit and integration tests; the integration fixtures start the local stack
# (Kafka, Neo4j, S3) when no CUSTODY_* endpoints are set and no Docker engine answers.
test: install system-deps
	$(BIN)/pytest

# Graphviz `dot` draws lineage pictures (`custody audit trace --graph x.svg`) and
# its tests need it. Installed only when missing and the user is root; anyone
# else is shown the command.
system-deps:
	@if command -v dot >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing graphviz (dot) with apt-get"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q graphviz >/dev/null || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q graphviz >/dev/null; }; \
	else \
		echo "Graphviz dot is missing; install it with: sudo apt-get install graphviz"; \
	fi

unit: install
	$(BIN)/pytest tests/unit

# The end-to-end demo on real data: starts the local stack and the Custody
# services, runs the chain twice (alice, then bob's correction) and verifies
# every answer; exits non-zero when a check fails.
demo: install system-deps
	$(BIN)/custody dev up
	$(BIN)/python -m demo.run

stack-up: install
	$(BIN)/custody dev up

stack-down: install
	$(BIN)/custody dev down

stack-status: install
	$(BIN)/custody dev status

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
