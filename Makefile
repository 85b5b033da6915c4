# The two commands: `make demo` (set up + run the pipeline on the embedded AWS) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# uv installs from uv.lock (every package pinned and hashed, the Python version from .python-version); uv itself
# is pinned here and in pyproject.toml, and lives in its own small environment so a sync never removes it.
UV_VERSION := 0.13.9
UV := .uv/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock | cksum | cut -d' ' -f1)

.PHONY: setup lock test-latest demo test test-fast test-future test-future-all lint format fuzz faults bench bench-query diagram screenshot clean

setup: $(STAMP)

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/python -m pip install --quiet uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra test --quiet
	rm -f $(VENV)/.installed-* && touch $@

lock: $(UV)  ## upgrade deliberately: re-resolve every package to the newest pyproject.toml allows, then run `make test`
	$(UV) lock --upgrade
	@git diff --stat uv.lock 2>/dev/null || true

test-latest: $(UV)  ## the suite on the newest versions pyproject.toml allows, in .venv-latest (the lock is untouched)
	rm -rf .venv-latest
	$(UV) venv --quiet .venv-latest
	VIRTUAL_ENV=.venv-latest $(UV) pip install --quiet --upgrade -e ".[test]"
	@echo "--- newer than uv.lock ---"
	@$(UV) export --quiet --locked --extra test --no-hashes --no-emit-project --no-header --no-annotate | grep -v '^ *#' | sort > .venv-latest/locked.txt
	@VIRTUAL_ENV=.venv-latest $(UV) pip freeze --exclude-editable | sort | comm -13 .venv-latest/locked.txt - || true
	.venv-latest/bin/python -m pytest -n 2 -q -p no:cacheprovider
	@echo "--- moto gaps: does moto still need each embedded patch? (a failure names a patch that can go) ---"
	-.venv-latest/bin/python -m pytest -q -p no:cacheprovider -rf --moto-gaps tests/moto_gaps

demo: setup  ## insert/update/delete on the embedded AWS, show audit rows, archive, notifications, DLQ
	$(BIN)/changetrail demo

test: setup lint  ## the whole suite: unit, Pulumi mocks, end-to-end on the embedded AWS
	$(BIN)/python -m pytest -n 2 -q

FUTURE_DAYS ?= 400
AHEAD_BY = test $$(( $$1 - $$(date +%s) )) -ge $$(( ($(FUTURE_DAYS) - 1) * 86400 )) || { echo "the clock did not move $(FUTURE_DAYS) days ahead"; exit 1; }
test-future: setup  ## unit and Pulumi-mock tests with every clock FUTURE_DAYS ahead (Debian's faketime; .ci/run installs it)
	@set -- $$(faketime -f +$(FUTURE_DAYS)d date +%s); $(AHEAD_BY)
	faketime -f +$(FUTURE_DAYS)d $(BIN)/python -m pytest -n 2 -q -p no:cacheprovider tests/unit tests/infra

test-future-all: setup  ## the whole suite with the wall clock FUTURE_DAYS ahead in every Python process (time-machine; see tests/clock)
	@set -- $$(CHANGETRAIL_CLOCK_AHEAD_DAYS=$(FUTURE_DAYS) PYTHONPATH=tests/clock $(BIN)/python -c 'import time; print(int(time.time()))'); $(AHEAD_BY)
	CHANGETRAIL_CLOCK_AHEAD_DAYS=$(FUTURE_DAYS) PYTHONPATH=tests/clock $(BIN)/python -m pytest -n 2 -q -p no:cacheprovider

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
	LEGAL_ITEM_EXAMPLES=20000 $(BIN)/python -m pytest -q tests/e2e/test_every_legal_item.py

FAULT_CHANGES ?= 1000
FAULT_CHANGES_TWO_SOURCES ?= 200
faults: setup  ## the fault matrix, printed as tables: 1,000 changes per fault; then two sources, 200 changes each, the fault hitting one (minutes)
	$(BIN)/python -m tests.faults.matrix --changes $(FAULT_CHANGES)
	$(BIN)/python -m tests.faults.matrix --changes $(FAULT_CHANGES_TWO_SOURCES) --sources 2

bench-query: setup  ## `changetrail query` over 100,000 archived changes on the embedded AWS: read time and two queries (not part of `make test`)
	$(BIN)/python -m bench.query

bench: setup  ## decode+diff CPU per change, trigger import vs boto3, local throughput (not part of `make test`)
	$(BIN)/python -m bench.run

diagram: setup  ## refresh the README's state machine diagram from the ASL
	$(BIN)/python -m statemachine.diagram --write README.md

screenshot: setup  ## the README's console screenshot, taken by the browser test (needs chromium and chromium-driver)
	CHANGETRAIL_SCREENSHOT=docs/console-execution.png $(BIN)/python -m pytest -q tests/e2e/test_console_browser.py

clean:
	rm -rf $(VENV) .venv-latest .uv .pytest_cache .ruff_cache .mypy_cache .hypothesis *.egg-info
