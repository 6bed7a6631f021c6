# SIGMAX — two commands: `make run` and `make test`. Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SIGMAX_HOME ?= $(CURDIR)
export SIGMAX_HOME

.PHONY: run test lint typecheck unit install check-python clean bench dashboard check-node check-chromium check-promtool

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

# The web dashboard (web/, TypeScript + Vite), built into the package that serves it. npm ci runs
# only when the lock file changed; the build only when a source of the page did.
DASHBOARD_DIST := src/sigmax/api/dashboard_dist
DASHBOARD_STAMP := $(DASHBOARD_DIST)/.built
NODE_STAMP := web/node_modules/.installed
DASHBOARD_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts \
	web/tsconfig.json web/package.json web/package-lock.json

check-node:
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "error: the dashboard needs Node.js >= 20.19 and npm (Debian: apt-get install nodejs npm, or from nodejs.org)"; exit 2; }
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' || { echo "error: the dashboard needs Node.js >= 20.19 (found $$(node --version))"; exit 2; }

$(NODE_STAMP): web/package.json web/package-lock.json | check-node
	cd web && npm ci --no-audit --no-fund
	@touch $(NODE_STAMP)

$(DASHBOARD_STAMP): $(NODE_STAMP) $(DASHBOARD_SOURCES) | check-node
	cd web && npm run build
	@touch $(DASHBOARD_STAMP)

dashboard: $(DASHBOARD_STAMP)

# The dashboard's tests drive Debian's Chromium (Playwright cannot download its own here).
check-chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Chromium is missing: installing Debian's chromium package"; \
			(apt-get install -y chromium || (apt-get update && apt-get install -y chromium)) >/dev/null || { echo "error: apt-get could not install chromium"; exit 2; }; \
		else \
			echo "error: the dashboard tests need Chromium at /usr/bin/chromium; install it with 'sudo apt-get install chromium' (Debian/Ubuntu)"; exit 2; \
		fi; \
	fi

# The alert rules' unit tests run Debian's promtool (package prometheus).
check-promtool:
	@if ! command -v promtool >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "promtool is missing: installing Debian's prometheus package"; \
			(apt-get install -y prometheus || (apt-get update && apt-get install -y prometheus)) >/dev/null || { echo "error: apt-get could not install prometheus"; exit 2; }; \
		else \
			echo "error: the alert rule tests need promtool; install it with 'sudo apt-get install prometheus' (Debian/Ubuntu)"; exit 2; \
		fi; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check src tests
	$(PY) -m ruff format --check src tests

typecheck: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP) $(DASHBOARD_STAMP) check-chromium check-promtool
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck unit

# Paper trading on a replay of the bundled candles at 1 candle per second per symbol; stop it
# with Ctrl-C and run it again to resume where it stopped.
run: $(STAMP) $(DASHBOARD_STAMP)
	@echo "dashboard: http://localhost:8000/ (its controls ask for the API token: SIGMAX_API_TOKEN or the file $(SIGMAX_HOME)/api_token)"
	$(VENV)/bin/sigmax config validate
	$(VENV)/bin/sigmax run --mode paper --profile conservative

bench: $(STAMP)
	$(VENV)/bin/sigmax bench data --json

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
