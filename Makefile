# The MLOps platform's one entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGE_FILES := requirements-dev.txt $(wildcard libs/pyproject.toml services/*/pyproject.toml workers/*/pyproject.toml devstack/pyproject.toml)
PYTEST_ARGS ?=
# checkov pins many libraries of its own: it lives in a virtual environment of its own.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: help setup test lint format dev migrate bench bench-training clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install every package (editable) and the dev tools

$(STAMP): $(PACKAGE_FILES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

test: setup ## run every test (real PostgreSQL, the AWS emulator)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup $(CHECKOV_STAMP) ## ruff, mypy, hadolint, actionlint, checkov (terraform/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint --failure-threshold style services/*/Dockerfile workers/*/Dockerfile
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

bench: setup ## the API against the MLflow tracking server; the workflow's POST -> awaiting_approval latency
	$(BIN)/python bench/api_vs_mlflow.py
	$(BIN)/python bench/workflow_latency.py

bench-training: setup ## training loop vs HF Trainer+peft (needs a CUDA GPU; says so and exits 0 without)
	$(BIN)/python workers/training/bench/bench_training.py $(BENCH_ARGS)

.PHONY: bench-eval
bench-eval: setup ## RAGAS scoring of 200 samples under a judge quota: the worker vs ragas.evaluate defaults
	$(BIN)/python workers/evaluation/bench/bench_eval.py $(BENCH_ARGS)

.PHONY: demo
demo: setup ## the newcomer's path: samples + offline model -> fine-tune -> evaluation -> approval -> registry
	$(BIN)/python -m mlops_devstack demo $(DEMO_ARGS)

clean: ## remove local state (.local/: embedded database, Terraform state of the emulator, stack.env)
	rm -rf .local

ENV ?= prod
.PHONY: plan deploy
plan: ## terraform plan of terraform/envs/$(ENV) with this commit's images (AWS credentials, backend.hcl)
	scripts/deploy.sh plan $(ENV)

deploy: ## build and push every image (tag = the commit), then terraform apply terraform/envs/$(ENV)
	scripts/deploy.sh deploy $(ENV)
