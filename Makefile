# kiosk-agent: the two commands a newcomer runs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test check bench exe deps clean help

help:
	@echo "make run    - the whole system on loopback with embedded defaults (kiosk-agent demo)"
	@echo "make test   - install what the tests need (venv, PyPI, Debian packages as root), run the suite"
	@echo "make check  - ruff + mypy + the layering contracts (lint-imports)"
	@echo "make bench  - reproducible benchmarks (figures go to docs/BENCHMARKS.md by hand)"
	@echo "make exe    - one-file executable with PyInstaller (under xvfb-run)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages and services the tests need (Xvfb and fonts for the notice window,
# chromium for the dashboard, postgresql for the server, dnsmasq/dnsperf as DNS peers).
deps: $(STAMP)
	bash scripts/test-deps.sh

run: $(STAMP)
	$(VENV)/bin/kiosk-agent demo

test: deps
	$(PY) -m pytest

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache --no-logo

bench: deps
	$(PY) -m benchmarks

exe: deps
	bash installer/build.sh

clean:
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache
