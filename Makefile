# Mosaic — one command surface. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml uv.lock
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); }
	@# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on CI machines), every
	@# process (server workers, CLI commands, the tests' subprocesses) would otherwise compile
	@# some 1,400 modules from source at start-up, about 2.5 s of CPU each time.
	$(BIN)/uv sync --frozen --quiet --compile-bytecode
	$(BIN)/python -m compileall -q src
	@touch $@

.PHONY: install
install: $(STAMP) ## Create .venv and install the locked dependencies

.PHONY: run
run: $(STAMP) ## Migrate and serve on http://$${MOSAIC_HOST:-127.0.0.1}:$${MOSAIC_PORT:-8000} (embedded PostgreSQL unless DATABASE_URL is set)
	$(BIN)/mosaic serve

.PHONY: test
test: lint ## Lint, then run the whole test suite
	$(BIN)/pytest

.PHONY: lint
lint: $(STAMP) ## ruff format check, ruff check, mypy strict
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

.PHONY: format
format: $(STAMP) ## Format and autofix
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

.PHONY: migrate
migrate: $(STAMP) ## Apply database migrations
	$(BIN)/mosaic migrate

.PHONY: bench
bench: $(STAMP) ## Run the benchmarks and write docs/benchmarks.md
	$(BIN)/python -m bench

.PHONY: clean
clean: ## Remove the virtual environment and caches (keeps .mosaic data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
