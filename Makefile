# The two commands of the README. Each sets up everything it needs in ./.venv first.
#   make demo   install, then build the bundled Online Retail data into ./recsql.duckdb
#   make test   install (with the Node client the tests use), then lint and run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The Node client of tests/test_clients.py (npm packages pinned in its package-lock.json).
NODE_CLIENT := tests/clients/node

.PHONY: demo test install lint clean

# One install for both commands: the dev extras hold the test tools and the DuckDB CLI
# ($(BIN)/duckdb), which the query that `recsql demo` prints uses. pip lists what it installs.
$(VENV)/.installed: pyproject.toml
	@echo "Installing recsql and its dependencies into ./$(VENV) (a minute or two on the first run)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

$(NODE_CLIENT)/node_modules/.installed: $(NODE_CLIENT)/package-lock.json
	@echo "Installing the Node client that the tests query the database with ($(NODE_CLIENT))..."
	npm ci --prefix $(NODE_CLIENT) --no-audit --no-fund
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/recsql demo

lint: install $(NODE_CLIENT)/node_modules/.installed
	@echo "Linting the Python (ruff, mypy) and the SQL (sqlfluff)..."
	$(BIN)/ruff check recsql tests benchmarks models
	$(BIN)/ruff format --check recsql tests benchmarks models
	$(BIN)/sqlfluff lint models tests/dbt
	$(BIN)/mypy

test: lint
	@echo "Running every test, one process per core (about ten minutes on two; $(BIN)/pytest -m 'not slow' runs the fast ones)..."
	$(BIN)/pytest --numprocesses auto --dist loadfile

clean:
	rm -rf $(VENV) target logs recsql.duckdb recsql.duckdb.build $(NODE_CLIENT)/node_modules
