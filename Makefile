# Two commands on a fresh machine: `make run` serves the embedded default, `make test` runs everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install install-test system-deps lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## Serve the embedded default (SQLite under ./var, demo source) on http://127.0.0.1:8050
run: install
	$(BIN)/dugout serve

## Debian packages the tests drive: Chromium + ChromeDriver (browser tests), promtool (alert
## rules), docker-compose (checks docker-compose.yml; no Docker engine needed)
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi

## The whole suite: unit, integration (SQLite + PostgreSQL), browser
test: install-test system-deps
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Every benchmark; each prints its figures (dashboard and executors need PostgreSQL and Redis)
bench: install-test
	$(BIN)/python bench/pipelines.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/executors.py
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
