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

test: $(STAMP)
	$(PY) -m pytest

# The inner loop: everything but the tests marked slow.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

train: $(STAMP)
	$(PY) train.py $(ARGS)

clean:
	rm -rf runs .pytest_cache
