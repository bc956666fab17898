# make test   run the package tests and every book notebook (nbmake)
# make book   execute the notebooks and build the HTML book into _build/html (warnings are errors)
# make bench  print the LIF benchmark (numba vs torch vs SpikingJelly vs the memory floor) and the training-step benchmark
# Each target first creates .venv and installs the pinned environment (requirements-lock.txt).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Where the data sets live; CI points this at ../shared/data.
export SPIKFORMER_DATA ?= $(HOME)/.cache/spikformer_lite
export PYTHONUNBUFFERED := 1

.PHONY: test book bench venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

test: venv
	$(PY) -m pytest tests/
	$(PY) -m pytest --nbmake book/

book: venv
	$(VENV)/bin/jupyter-book build . -W --keep-going --path-output .
	@echo "open _build/html/index.html"

bench: venv
	$(PY) benchmarks/bench_lif.py
	$(PY) benchmarks/bench_train.py

clean:
	rm -rf _build
