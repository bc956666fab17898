# make test   run the package tests and every book notebook (nbmake)
# make book   execute the notebooks and build the HTML book into _build/html (warnings are errors);
#             executed notebooks are cached, keyed on the notebooks and on the package source;
#             FORCE=1 re-executes everything (CI does); no progress bars (spikformer_lite/progress.py)
# make test-fresh  every notebook with an empty data root, the downloads served from a local mirror
# make test-installed  as test-fresh, but as a Colab reader runs it: the package built as a wheel and installed
#             (not editable) into a fresh venv with the lock's pins, the chapter notebooks alone in a temporary
#             folder outside the repository (tests/book_installed.py; CI runs it instead of test-fresh)
# make check-book  open every built page in headless Chromium and check it (book/_check_pages.py)
# make bench-events  the event data path at CIFAR10-DVS's scale (benchmarks/bench_events.py)
# make bench  print the LIF benchmark (numba vs torch vs SpikingJelly vs the memory floor), the training-step
#             benchmark and the inference benchmark (event-driven engine vs dense torch vs SpikingJelly)
# make bench-gpu  training and eval throughput on one GPU, ours (each LIF backend, fp32/bf16/fp16) against
#             SpikingJelly (benchmarks/bench_gpu.py --save: results/<date>-gpu-train.txt); without CUDA it
#             says so and measures nothing
# make gpu-carry  the wheels and CIFAR-10 file a lent GPU machine lacks, into .whl/ and .carry/, for
#             benchmarks/gpu_check.sh there (benchmarks/gpu_carry.sh; needs PyPI, not the venv)
# Each target first creates .venv and installs the pinned environment (requirements-lock.txt).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Where the data sets live; CI points this at ../shared/data.
export SPIKFORMER_DATA ?= $(HOME)/.cache/spikformer_lite
export PYTHONUNBUFFERED := 1

.PHONY: test test-fresh test-installed book check-book bench bench-events bench-gpu gpu-carry venv clean

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
	$(PY) -m pytest --nbmake --nbmake-timeout=600 book/

# The execution cache (jupyter-cache, keyed on each notebook's code) is dropped when the package,
# the lock file or the book's extensions change, so no page shows outputs of older code.
EXEC_KEY := $(shell cat requirements-lock.txt $$(find spikformer_lite book/_ext -name '*.py' | sort) 2>/dev/null | sha256sum | cut -c1-16)

test-fresh: venv
	$(PY) tests/book_from_scratch.py

test-installed: venv
	$(PY) tests/book_installed.py --python $(PYTHON)

book: venv
	$(PY) book/_vendor.py
	@mkdir -p _build
	@if [ -n "$(FORCE)" ] || [ "$$(cat _build/.exec-key 2>/dev/null)" != "$(EXEC_KEY)" ]; then \
		echo "execution cache cleared (package source changed, or FORCE set)"; rm -rf _build/.jupyter_cache _build/.doctrees _build/jupyter_execute; fi
	@echo "$(EXEC_KEY)" > _build/.exec-key
	SPIKFORMER_PROGRESS=off $(VENV)/bin/jupyter-book build . -W --keep-going --path-output .
	@echo "open _build/html/index.html"

check-book: venv
	$(PY) book/_check_pages.py _build/html

bench: venv
	$(PY) benchmarks/bench_lif.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_engine.py

# The event data path at CIFAR10-DVS's scale (synthetic recordings written under /tmp: about 2 GB of
# recordings and 5 GB of frame stores): peak memory, samples/s, disk; results/<date>-events.txt
bench-events: venv
	$(PY) benchmarks/bench_events.py --train-steps 2 --rebuild --save

bench-gpu: venv
	$(PY) benchmarks/bench_gpu.py --save

gpu-carry:
	bash benchmarks/gpu_carry.sh

clean:
	rm -rf _build
