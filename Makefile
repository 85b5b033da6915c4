# The two commands: `make demo` (set up + run the pipeline on the embedded AWS) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: setup demo test test-fast lint format fuzz faults bench diagram screenshot clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@

demo: setup  ## insert/update/delete on the embedded AWS, show audit rows, archive, notifications, DLQ
	$(BIN)/changetrail demo

test: setup lint  ## the whole suite: unit, Pulumi mocks, end-to-end on the embedded AWS
	$(BIN)/python -m pytest -n 2 -q

test-fast: setup  ## unit and Pulumi-mock tests only
	$(BIN)/python -m pytest -q tests/unit tests/infra

lint: setup  ## ruff (lint and format) and mypy (the type check, configured in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

fuzz: setup  ## long property-based run (not part of `make test`)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/unit

faults: setup  ## the fault matrix: 1,000 changes per fault, printed as a table (several minutes)
	$(BIN)/python -m tests.faults.matrix --changes 1000

bench: setup  ## decode+diff CPU per change, trigger import vs boto3, local throughput (not part of `make test`)
	$(BIN)/python -m bench.run

diagram: setup  ## refresh the README's state machine diagram from the ASL
	$(BIN)/python -m statemachine.diagram --write README.md

screenshot: setup  ## the README's console screenshot, taken by the browser test (needs chromium and chromium-driver)
	CHANGETRAIL_SCREENSHOT=docs/console-execution.png $(BIN)/python -m pytest -q tests/e2e/test_console_browser.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis *.egg-info
