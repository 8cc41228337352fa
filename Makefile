# Two commands on a fresh machine: `make run` serves the embedded default, `make test` runs everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The lock files: every package pinned with its hashes (`make lock` refreshes them). The app's
# own set, and the test set (the app's plus the test extras) resolved on its own, so the test
# tools' pins (dash[testing]'s selenium 4.2 wants urllib3 1.26) stay out of the app's set.
LOCK      := requirements.txt
TEST_LOCK := requirements-test.txt
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/tools/bin/pip-compile --quiet \
	--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: run test install install-test system-deps lint lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: $(TEST_LOCK) $(VENV)/.installed
	$(BIN)/pip install --quiet --require-hashes -r $(TEST_LOCK)
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## Serve the embedded default (SQLite under ./var, demo source) on http://127.0.0.1:8050
run: install
	$(BIN)/dugout serve

## Debian packages the tests drive: Chromium + ChromeDriver (browser tests), promtool (alert
## rules), amtool (Alertmanager config), docker-compose (checks docker-compose.yml; no Docker
## engine needed)
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v amtool >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi

## The whole suite: unit, integration (SQLite + PostgreSQL), browser
test: install-test system-deps
	$(BIN)/python -m pytest

## Re-resolve every dependency to the newest version pyproject.toml allows, pinned with hashes
## (pip-tools, in a venv of its own so it never mixes with the app's packages)
lock: | $(BIN)/python
	[ -x $(VENV)/tools/bin/pip-compile ] || { $(PYTHON) -m venv $(VENV)/tools \
		&& $(VENV)/tools/bin/pip install --quiet 'pip-tools>=7.6'; }
	$(PIP_COMPILE) --upgrade -o $(LOCK) pyproject.toml
	$(PIP_COMPILE) --upgrade --extra test -o $(TEST_LOCK) pyproject.toml

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
