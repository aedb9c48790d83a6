# contrastkit: `make lab` opens the notebooks, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888

.PHONY: lab test lint unit notebooks data run bench clean help

help:
	@echo "make lab    - set up .venv if needed and open JupyterLab on notebooks/"
	@echo "make test   - set up .venv if needed, then lint, unit tests and the notebooks (quick mode)"
	@echo "make data   - download the full MNIST (60,000/10,000) into data/MNIST"
	@echo "make run    - train the four methods and write a comparison report under runs/"
	@echo "make bench  - the loss and quality benchmarks"

# (Re)build the environment when it is missing or requirements.txt / pyproject.toml changed.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(PORT) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

test: lint unit notebooks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest tests -q

# nbval executes every notebook; quick mode only shrinks epochs and sample counts.
notebooks: $(STAMP)
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
		CONTRASTKIT_QUICK=1 MPLBACKEND=Agg $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks/ -q -p no:cacheprovider; \
	else echo "no notebooks yet: nothing to validate"; fi

data: $(STAMP)
	$(BIN)/python -m contrastkit.data download

run: $(STAMP)
	$(BIN)/python -m contrastkit compare

bench: $(STAMP)
	$(BIN)/python benchmarks/losses.py
	$(BIN)/python benchmarks/quality.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
