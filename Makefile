# The MLOps platform's one entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGE_FILES := requirements-dev.txt $(wildcard libs/pyproject.toml services/*/pyproject.toml workers/*/pyproject.toml runtime/pyproject.toml devstack/pyproject.toml testkit/pyproject.toml sdk/pyproject.toml)
PYTEST_ARGS ?=
# Reproducible builds: third-party packages install from lock files with hashes, the platform's own
# packages after them without dependencies (`make lock` below says how the locks are made).
PIP_VERSION := 26.3
DEV_LOCK := requirements-dev.lock
# the platform's own packages, editable in .venv: the `-e` lines of requirements-dev.txt
DEV_EDITABLES := $(shell sed -n 's/^-e //p' requirements-dev.txt)
# MLflow and the load generator pin many libraries of their own: `make bench` runs them from here.
BENCH_VENV := .venv-bench
BENCH_LOCK := requirements-bench.lock
BENCH_STAMP := $(BENCH_VENV)/.installed
# checkov pins many libraries of its own: it lives in a virtual environment of its own.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: help setup test test-fast lint format dev migrate bench bench-training clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install every package (editable) and the dev tools

$(STAMP): $(DEV_LOCK) $(PACKAGE_FILES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps $(addprefix -e ,$(DEV_EDITABLES))
	@touch $@

test: setup ## run every test (real PostgreSQL, the AWS emulator)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup ## the inner loop: the tests that need no server or process (`pytest -m unit`)
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

.PHONY: test-fault
test-fault: setup ## the fault suite alone: runs launched while the API is killed and the emulator stalls
	$(BIN)/python -m pytest -m fault $(PYTEST_ARGS)

lint: setup $(CHECKOV_STAMP) ## ruff, mypy, import-linter, hadolint, actionlint, checkov (terraform/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint --failure-threshold style services/*/Dockerfile workers/*/Dockerfile devstack/*/Dockerfile
	$(BIN)/actionlint
	$(CHECKOV_VENV)/bin/checkov --directory terraform --framework terraform --quiet --compact --skip-download

$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@rm -f $(CHECKOV_VENV)/.installed-* && touch $@

format: setup ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

dev: setup ## start the local stack: PostgreSQL, emulator, migrations, API on 127.0.0.1:8000
	$(BIN)/python -m mlops_devstack dev

migrate: setup ## upgrade the database at DATABASE_URL (default: the embedded one of `make dev`)
	$(BIN)/python -m mlops_devstack migrate

bench: setup $(BENCH_STAMP) ## the API against the MLflow tracking server; the workflow's POST -> awaiting_approval latency
	BENCH_VENV=$(BENCH_VENV) $(BIN)/python bench/api_vs_mlflow.py
	$(BIN)/python bench/workflow_latency.py

$(BENCH_STAMP): $(BENCH_LOCK)
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BENCH_VENV)/bin/python -m pip install --quiet --require-hashes -r $(BENCH_LOCK)
	@touch $@

bench-training: setup ## training loop vs HF Trainer+peft (needs a CUDA GPU; says so and exits 0 without)
	$(BIN)/python workers/training/bench/bench_training.py $(BENCH_ARGS)

.PHONY: bench-serving
bench-serving: setup ## the serving container at 8 and 32 clients vs a one-request-at-a-time generate server (CPU; 0.5B and 7B shapes on a GPU)
	$(BIN)/python services/serving/bench/bench_serving.py $(BENCH_ARGS)

.PHONY: bench-eval
bench-eval: setup ## RAGAS scoring of 200 samples under a judge quota: the worker vs ragas.evaluate defaults
	$(BIN)/python workers/evaluation/bench/bench_eval.py $(BENCH_ARGS)

.PHONY: bench-eval-gpu
bench-eval-gpu: setup ## candidate answers on a GPU: the evaluation's batched generate vs one prompt at a time, 0.5B and 7B shapes (says so and exits 0 without CUDA)
	$(BIN)/python workers/evaluation/bench/bench_eval_gpu.py $(BENCH_ARGS)

.PHONY: demo
demo: setup ## the newcomer's path: samples + offline model -> fine-tune -> evaluation -> approval -> registry
	$(BIN)/python -m mlops_devstack demo $(DEMO_ARGS)

# `make lock`: uv (`uv pip compile`, in .venv-lock) resolves what each environment installs into a lock
# file with every file's hash. Run it after changing a dependency in a pyproject.toml, a requirements
# file or a requirements.in (tests/test_lock_files.py fails until then). Pins that still fit are kept;
# `make lock UPGRADE=1` moves every pin to the newest release. uv rather than pip-compile: pip-compile
# downloads every file of a release to hash it where it cannot reach PyPI's JSON API (as here), uv
# takes the hashes the index publishes. The locks, all for CPython 3.11:
#   requirements-dev.lock     .venv (`make setup`): requirements-dev.txt for this machine, with pip's
#                             find-links of this machine (uv reads no pip configuration), so torch is
#                             the CPU wheel there; CI runs on the same kind of machine.
#   requirements-bench.lock   .venv-bench (`make bench`): requirements-bench.txt, likewise.
#   <part>/requirements.lock  the image <part>/Dockerfile builds: <part>/requirements.in resolved against
#                             PyPI alone, as `docker build` sees it, for linux x86_64 with glibc 2.35
#                             (the training base, Ubuntu 22.04; the slim images have 2.36). A package
#                             the dev lock also pins keeps the dev lock's version, so an image runs what
#                             the tests ran; torch is the exception each requirements.in names: PyPI's
#                             CUDA build of the dev lock's version (evaluation), the CUDA base image's
#                             own (training).
# The platform's own packages are never in a lock (--no-emit-package): they install with --no-deps.
LOCK_VENV := .venv-lock
UV_VERSION := 0.13.8
LOCK_STAMP := $(LOCK_VENV)/.installed-$(UV_VERSION)
LOCAL_PACKAGES = $(shell awk '/^\[/ {p = ($$0 == "[project]")} p && $$1 == "name" {gsub(/"/, "", $$3); print $$3}' $(wildcard */pyproject.toml */*/pyproject.toml))
IMAGE_INPUTS = $(wildcard services/*/requirements.in workers/*/requirements.in devstack/*/requirements.in)
IMAGE_PLATFORM := x86_64-manylinux_2_35
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock" $(addprefix --no-emit-package=,$(LOCAL_PACKAGES)) $(if $(UPGRADE),--upgrade)
MACHINE_WHEELS = $(addprefix --find-links=,$(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)))

.PHONY: lock
lock: $(LOCK_STAMP) ## regenerate the lock files with hashes (UPGRADE=1: move every pin to the newest)
	$(UV_COMPILE) $(MACHINE_WHEELS) --output-file=$(DEV_LOCK) requirements-dev.txt
	$(UV_COMPILE) $(MACHINE_WHEELS) --output-file=$(BENCH_LOCK) requirements-bench.txt
	@# the dev lock's versions as constraints of the images (torch apart: each image names its own)
	grep -E '^[A-Za-z0-9]' $(DEV_LOCK) | sed -E 's/[+ ;\\].*//' | grep -v '^torch==' > $(LOCK_VENV)/dev-pins.txt
	$(foreach in,$(IMAGE_INPUTS),$(UV_COMPILE) --python-platform=$(IMAGE_PLATFORM) \
		--constraints=$(LOCK_VENV)/dev-pins.txt --output-file=$(in:.in=.lock) $(in) &&) true

$(LOCK_STAMP):
	@test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet pip==$(PIP_VERSION) uv==$(UV_VERSION)
	@rm -f $(LOCK_VENV)/.installed-* && touch $@

clean: ## remove local state (.local/: embedded database, Terraform state of the emulator, stack.env)
	rm -rf .local

ENV ?= prod
.PHONY: plan deploy
plan: ## terraform plan of terraform/envs/$(ENV) with this commit's images (AWS credentials, backend.hcl)
	scripts/deploy.sh plan $(ENV)

deploy: ## build and push every image (tag = the commit), then terraform apply terraform/envs/$(ENV)
	scripts/deploy.sh deploy $(ENV)
