# Fresh machine: `make demo` or `make test`. Both create .venv, install chainrule with its
# extras, and install the system Graphviz with apt when it is missing and we are root.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# setuptools announces every editable install with a multi-line warning banner: silence that one
# message (matched by its first words), so every other warning and error still shows.
QUIET_EDITABLE := PYTHONWARNINGS='ignore:Editable installation'

.PHONY: setup graphviz browser demo test test-torch notebook lint bench fuzz clean

setup: $(STAMP) graphviz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(QUIET_EDITABLE) $(BIN)/python -m pip install --quiet -e '.[dev,demo]'
	@touch $(STAMP)

graphviz:
	@if command -v dot >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing the system Graphviz (apt-get install graphviz)..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	else \
		echo "NOTE: Graphviz's 'dot' is missing, so graphs are written as .gv text, not SVG."; \
		echo "      Install it with: sudo apt-get install graphviz   (macOS: brew install graphviz)"; \
	fi

# The step-through page's browser tests need Debian's chromium and chromium-driver (they skip,
# saying so, without them): `make browser` installs both with apt, as root.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing chromium and chromium-driver (apt-get install chromium chromium-driver)..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
		echo "Install the browser for the page's tests: sudo apt-get install chromium chromium-driver"; \
	fi

# The main job: train a classifier, check the hand-derived formulas, draw graphs (files in out/), define
# sin and cos as ops of your own, print Wengert lists (demos/wengert_list.py --time also times the three
# ways of training).
demo: setup
	$(BIN)/python demos/train_classifier.py --out out
	$(BIN)/python demos/seed_network.py
	$(BIN)/python demos/compare_gradients.py
	$(BIN)/python demos/draw_graph.py --out out
	$(BIN)/python demos/second_derivatives.py
	$(BIN)/python demos/define_your_own_op.py --out out
	$(BIN)/python demos/wengert_list.py
	@echo; echo "Done. Open the files in out/ (decision boundary, loss curve, model, graphs, and"; \
		echo "neuron_backprop.html / mlp_backprop.html to step through backprop in a browser)."
	@echo "For a guided tour, open demos/backprop_tour.ipynb (README: A guided tour)."

test: setup
	$(BIN)/python -m pytest -q

# The PyTorch float64 oracle tests (torch is optional; 2.13.0 is the CPU wheel).
test-torch: setup
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pytest -q -m torch

# Re-run the guided notebook demos/backprop_tour.ipynb and store its outputs (committed, so it reads on
# the web); PyTorch is installed first so that its last step shows. tests/test_notebook.py says when due.
notebook: setup
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python demos/refresh_notebook.py

# Differential fuzzing campaign, outside `make test`: each property of tests/test_fuzz.py and
# tests/test_anomaly.py on FUZZ_EXAMPLES random graphs (e.g. make fuzz FUZZ_EXAMPLES=2000).
FUZZ_EXAMPLES ?= 10000
fuzz: setup
	CHAINRULE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q --hypothesis-profile=fuzz \
		--durations=0 tests/test_fuzz.py tests/test_anomaly.py

lint: setup
	$(BIN)/ruff check engine nn demos tests bench

# Timings against micrograd 0.1.0 and a plain-float floor, in a venv of their own (see
# bench/README.md); results go to bench/results/. `make bench BENCH_ARGS=--quick` for a smoke run.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(QUIET_EDITABLE) $(BENCH_VENV)/bin/python -m pip install --quiet -e . 'micrograd==0.1.0'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .hypothesis build *.egg-info
