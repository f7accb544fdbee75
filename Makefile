# The two commands of the README. Each sets up everything it needs in ./.venv first.
#   make demo   install, then build the bundled Online Retail data into ./recsql.duckdb
#   make test   install (with the Node client the tests use), then lint and run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The Node client of tests/test_clients.py (npm packages pinned in its package-lock.json).
NODE_CLIENT := tests/clients/node

.PHONY: demo test install lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

$(NODE_CLIENT)/node_modules/.installed: $(NODE_CLIENT)/package-lock.json
	npm ci --prefix $(NODE_CLIENT) --silent --no-audit --no-fund
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/recsql demo

lint: install $(NODE_CLIENT)/node_modules/.installed
	$(BIN)/ruff check recsql tests benchmarks models
	$(BIN)/ruff format --check recsql tests benchmarks models
	$(BIN)/sqlfluff lint models tests/dbt

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) target logs recsql.duckdb recsql.duckdb.build $(NODE_CLIENT)/node_modules
