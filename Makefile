# kiosk-agent: the two commands a newcomer runs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test check bench exe deps clean help lock

help:
	@echo "make run    - the whole system on loopback with embedded defaults (kiosk-agent demo)"
	@echo "make test   - install what the tests need (venv, PyPI, Debian packages as root), run the suite"
	@echo "make check  - ruff + mypy + the layering contracts (lint-imports)"
	@echo "make bench  - reproducible benchmarks (figures go to docs/BENCHMARKS.md by hand)"
	@echo "make exe    - one-file executable with PyInstaller (under xvfb-run)"
	@echo "make lock   - regenerate requirements.lock (pinned, hashed dependencies)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Every dependency from the lock, with hashes (scripts/lock.sh regenerates it); then the
# project itself from the tree, without touching what the lock installed.
$(STAMP): pyproject.toml requirements.lock | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
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

lock:
	bash scripts/lock.sh

clean:
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache
