# Two commands do all the set-up: `make train` and `make test`. Each creates .venv if missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-fast train clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

# Two workers on the 2-core CI machine: most of a TF test is single-threaded Python (tracing, building
# models). loadfile keeps a file on one worker (module fixtures built once); --no-loadscope-reorder hands
# out files in conftest's order, longest first. PYTEST_WORKERS=0: in-process.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: $(STAMP)
	$(PY) -m pytest $(XDIST)

# The inner loop: everything but the tests marked slow.
test-fast: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not slow"

train: $(STAMP)
	$(PY) train.py $(ARGS)

clean:
	rm -rf runs .pytest_cache
