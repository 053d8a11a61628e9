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

.PHONY: venv run test test-fast lint format dry-run clean

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

test: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest

test-fast: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -m "not slow and not slurm and not browser"

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
