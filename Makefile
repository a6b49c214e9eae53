# The commands of the README's quick start: `make run`, `make test` (the fast tier) and `make
# test-all` (every test; what CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE ?= 1

.PHONY: install run test test-all table clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e ".[dev,ray]"
	touch $(STAMP)

install: $(STAMP)

# All registered methods, one seed, quick profile, on the synthetic twin (generated on first use).
run: $(STAMP)
	$(BIN)/bench run --method all --seeds 0
	$(BIN)/bench table --out tables/main.tex

# One pytest worker per core; the tests of one file stay together (module fixtures made once),
# files handed out in conftest.py's order (the longest first).
PYTEST := $(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder

# The fast tier: every module's contract and every adapter's fast checks; the tests marked slow
# (quick-profile runs end to end), paper (paper shapes, minutes) and ray are left to test-all.
test: $(STAMP)
	$(PYTEST) -m "not slow and not paper and not ray"

test-all: $(STAMP)
	$(PYTEST)

clean:
	rm -rf results tables plots
