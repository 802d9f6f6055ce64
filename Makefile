# creditpay: every target creates the virtual environment and installs the project first.
PYTHON ?= python3
# The container image sets VENV=/opt/venv (creditpay installed there, docs/operations.md).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2
# The tests' scratch space (their SQLite files, the throwaway PostgreSQL server's data
# directory): memory when the machine has a tmpfs with room (4 GiB free), else /tmp. Nothing
# there has to survive the run, and on a disk every test database's create, commit and drop
# waits for it (the same tests ran in half the time). Durability is measured in bench/.
TEST_TMPDIR ?= $(shell avail=$$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $$4}'); \
  if [ -w /dev/shm ] && [ "$${avail:-0}" -gt 4194304 ]; then echo /dev/shm; else echo /tmp; fi)

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
	TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q; status=$$?; \
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
