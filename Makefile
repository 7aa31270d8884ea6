# Two commands set everything up on a fresh machine with Python 3.11+ and make:
#   make run    install into .venv and start the three-state demo
#   make test   install test tools and run lint, type checks and every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run serve test lint install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# The clients and libraries verifiers use, run against the node by tests/test_oidfed_interop.py
# and tests/interop/ (npm ci: the lock file's versions).
INTEROP := tests/interop
$(INTEROP)/node_modules/.installed: $(INTEROP)/package.json $(INTEROP)/package-lock.json
	npm ci --prefix $(INTEROP) --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests (tests/browser/) drive Debian's Chromium with Playwright, and check every
# page with axe-core (npm ci: the lock file's version). Chromium comes from apt-get when
# /usr/bin/chromium is missing (as root); Playwright never downloads a browser of its own.
BROWSER := tests/browser
CHROMIUM := /usr/bin/chromium
$(BROWSER)/node_modules/.installed: $(BROWSER)/package.json $(BROWSER)/package-lock.json
	npm ci --prefix $(BROWSER) --no-audit --no-fund --loglevel=error
	touch $@

$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ]; then echo "$(CHROMIUM) is missing: run 'apt-get install chromium' as root" >&2; exit 1; fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

# The PostgreSQL server the store's tests start a throwaway cluster of (tests/pg.py): Debian's
# package, installed only when missing (the tests start and stop their own server; the package's
# own cluster service is never started here).
PG_BIN ?= /usr/lib/postgresql/15/bin
$(PG_BIN)/initdb:
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
		|| (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends postgresql-15)
	-pg_ctlcluster 15 main stop 2>/dev/null

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test $(INTEROP)/node_modules/.installed $(BROWSER)/node_modules/.installed $(CHROMIUM) $(PG_BIN)/initdb

run: install
	$(BIN)/registry-node demo

serve: install
	$(BIN)/registry-node serve

lint: install-test
	$(BIN)/ruff check registry_node tests bench
	$(BIN)/ruff format --check registry_node tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(INTEROP)/node_modules $(BROWSER)/node_modules
