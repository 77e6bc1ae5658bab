# The few commands a newcomer needs. `make demo` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv tools demo test lint format typecheck unit suite bench clean schema

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# promtool (Debian's prometheus package, unpacked locally) lints /metrics and tests alert rules;
# chromium + chromium-driver (Debian) drive the status-page browser test.
tools:
	bash scripts/install-promtool.sh
	bash scripts/install-chromium.sh

demo: $(STAMP)
	bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The fast tier (pure logic, no processes or servers): seconds, for every change.
unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

# Everything: unit, integration (the sandbox over real HTTP), e2e (real processes).
suite: $(STAMP) tools
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck suite

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(STAMP)
	$(BIN)/backfuture schema > schemas/backfuture.schema.json

bench: $(STAMP)
	$(BIN)/python benchmarks/probe_fanout.py
	$(BIN)/python benchmarks/reconcile_latency.py
	$(BIN)/python benchmarks/market_data_fanout.py
	$(BIN)/python benchmarks/bots.py
	$(BIN)/python benchmarks/hostile_revision.py
	$(BIN)/python benchmarks/revision_fuzz.py
	$(BIN)/python benchmarks/daemon_fuzz.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
