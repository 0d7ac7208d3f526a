# glasslab: `make run` and `make test` set everything up on a fresh machine.
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The torch build: these versions lie on this machine's disk.  On a GPU server
# bring your own CUDA build, e.g. make TORCH="torch torchvision".
TORCH ?= torch==2.14.1 torchvision==0.29.1
# Test workers (pytest-xdist): two, what a 2-core CI machine has; `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2

.PHONY: run test bench clean-runs

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/glasslab

test: $(STAMP)
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadgroup

bench: $(STAMP)
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/batching.py

clean-runs:
	rm -rf runs
