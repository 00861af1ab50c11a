# caseloop — two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SIZE ?= 1000000
PG_URL := $(or $(CASELOOP_TEST_POSTGRES),$(DATABASE_URL))
PYTEST_ARGS ?=

.PHONY: demo test test-sqlite test-postgres bench lint format install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/caseloop demo

test: install lint test-sqlite test-postgres

test-sqlite: install
	env -u DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install
ifneq ($(strip $(PG_URL)),)
	DATABASE_URL="$(PG_URL)" $(BIN)/pytest $(PYTEST_ARGS)
else
	@echo "PostgreSQL run skipped: set DATABASE_URL or CASELOOP_TEST_POSTGRES to a postgres:// URL."
endif

bench: install
	$(BIN)/python -m bench --size $(SIZE)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) data .pytest_cache
