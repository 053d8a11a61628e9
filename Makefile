# Two commands: `make run` (whole pipeline offline on this machine) and `make test`.
# `make run CONFIG=.test/minimal/config.yaml` runs a test configuration instead of the demo.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
CONFIG ?= config/offline.yaml
BIN := $(VENV)/bin
RANDOM_ESM := resources/esm/random_esm2_t6_8M_UR50D.pt
SNAKEMAKE := $(BIN)/snakemake
PYTEST := PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest

.PHONY: venv run test test-all test-slow lint format dry-run clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# A tiny ESM2 with RANDOM weights, built with fair-esm's own classes, so that the embedding
# stage really runs offline. The report flags these weights as random.
$(RANDOM_ESM): | venv
	$(BIN)/python workflow/scripts/make_random_esm.py --arch esm2_t6_8M_UR50D --seed 0 --output $@

run: venv $(RANDOM_ESM)
	PATH=$(abspath $(BIN)):$$PATH $(SNAKEMAKE) --cores $(CORES) --configfile $(CONFIG)

dry-run: venv
	PATH=$(abspath $(BIN)):$$PATH $(SNAKEMAKE) -n --configfile $(CONFIG)

# Tests come in two tiers (docs/development.md): tests/conftest.py marks `slow` every test
# that runs Snakemake, a pipeline, a pip install, a browser, SLURM, the small trained model or
# a linter. `make test` runs the rest: the fast tier, a few minutes on 2 cores.
test: venv
	$(PYTEST) -m "not slow"

test-all: venv
	$(PYTEST)

# The slow tier without its lint tests, which repeat `make lint`: CI runs `make lint`,
# `make test` and `make test-slow`, which together are `make test-all`, each test once.
test-slow: venv
	$(PYTEST) -m "slow and not lint"

lint: venv
	PATH=$(abspath $(BIN)):$$PATH $(SNAKEMAKE) --lint --configfile config/offline.yaml
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/snakefmt Snakefile workflow/rules
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf results .snakemake
