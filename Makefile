# SIGMAX — two commands: `make run` and `make test`. Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SIGMAX_HOME ?= $(CURDIR)
export SIGMAX_HOME

.PHONY: run test lint typecheck unit install check-python clean bench

check-python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python >= 3.11 (Debian: apt-get install python3 python3-venv)"; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "error: SIGMAX needs Python >= 3.11, $(PYTHON) is $$($(PYTHON) -V 2>&1)"; exit 2; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { echo "error: the Python venv module is missing (Debian: apt-get install python3-venv)"; exit 2; }

$(PY): | check-python
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the project's dependency list changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all,dev]"
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check src tests
	$(PY) -m ruff format --check src tests

typecheck: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck unit

# Paper trading on a replay of the bundled candles at 1 candle per second per symbol; stop it
# with Ctrl-C and run it again to resume where it stopped.
run: $(STAMP)
	$(VENV)/bin/sigmax config validate
	$(VENV)/bin/sigmax run --mode paper --profile conservative

bench: $(STAMP)
	$(VENV)/bin/sigmax bench data --json

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
