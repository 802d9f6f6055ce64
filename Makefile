# creditpay: every target creates the virtual environment and installs the project first.
PYTHON ?= python3
# The container image sets VENV=/opt/venv (creditpay installed there, docs/operations.md).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: install demo test bench lint serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/creditpay demo

test: $(STAMP)
	@# Guard rails first (fail fast): import contracts, then types.
	$(BIN)/lint-imports
	$(BIN)/mypy
	bash scripts/ensure-system-deps.sh
	@# pytest exits 5 when it collected no test: a failure here, said plainly.
	@# --dist loadgroup: the tests of one xdist_group (tests/spark: one JVM) share a worker.
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; fi; \
	  exit $$status

bench: $(STAMP)
	bash scripts/ensure-system-deps.sh
	$(BIN)/creditpay bench ledger --json

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/bandit -q -r src -c pyproject.toml
	$(BIN)/pip-audit --skip-editable --progress-spinner off

serve: $(STAMP)
	$(BIN)/creditpay serve

clean:
	rm -rf $(VENV) var .pytest_cache
