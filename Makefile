# glasslab: `make run` and `make test` set everything up on a fresh machine.
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The torch build: these versions lie on this machine's disk.  On a GPU server
# bring your own CUDA build, e.g. make TORCH="torch torchvision".
TORCH ?= torch==2.14.1 torchvision==0.29.1
# Test workers (pytest-xdist): two, what a 2-core CI machine has; `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2

# The lowest versions pyproject.toml allows for every runtime dependency and those of the notebook
# and plot extras (.ci/floors.py reads them from it), in a venv of their own: CI runs
# `make test-floors` after `make test` (issues 24, 32).  torch 2.5 comes from PyPI as a CUDA build:
# about 3 GB, a few minutes.
FLOORS_VENV  ?= .venv-floors
FLOORS_STAMP := $(FLOORS_VENV)/.installed

.PHONY: run test test-floors bench clean-runs

# The console's SVG snapshots hold under the textual and rich that drew them: pinned for the tests.
SNAPSHOT_PINS := tests/console/snapshot-pins.txt

$(STAMP): pyproject.toml $(SNAPSHOT_PINS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -c $(SNAPSHOT_PINS) -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/glasslab

test: $(STAMP)
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadgroup

$(FLOORS_STAMP): pyproject.toml .ci/floors.py
	test -x $(FLOORS_VENV)/bin/python || python3 -m venv $(FLOORS_VENV)
	python3 .ci/floors.py > $(FLOORS_VENV)/floors.txt
	$(FLOORS_VENV)/bin/pip install -q -c $(FLOORS_VENV)/floors.txt -e '.[test,notebook,plot]'
	touch $(FLOORS_STAMP)

# A short run from a scratch folder, then the whole suite, at the floors.
test-floors: $(FLOORS_STAMP)
	$(FLOORS_VENV)/bin/python .ci/floors.py --check
	scratch=$$(mktemp -d) && cd $$scratch && $(CURDIR)/$(FLOORS_VENV)/bin/glasslab run quickstart --no-ui --steps 300 --out runs \
	  && $(CURDIR)/$(FLOORS_VENV)/bin/glasslab analyze runs/*.zarr > /dev/null && cd / && rm -rf $$scratch
	$(FLOORS_VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadgroup

bench: $(STAMP)
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/batching.py

clean-runs:
	rm -rf runs
