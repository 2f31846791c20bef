# dflowctl developer targets. `make help` lists them.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared

.PHONY: help install test lint fmt golden check-golden run-example bench ci cluster-build cluster-up cluster-down test-cluster bench-cluster

help: ## list targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python ## create .venv and install dflowctl with its test tools
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'

test: install ## run the test suite (what CI runs)
	$(BIN)/python -m pytest -q

lint: install ## ruff and mypy
	$(BIN)/ruff check dflowctl tests bench
	$(BIN)/ruff format --check dflowctl tests bench
	$(BIN)/mypy

fmt: install ## format the code
	$(BIN)/ruff format dflowctl tests bench
	$(BIN)/ruff check --fix dflowctl tests bench

golden: install ## regenerate golden renders (never in CI)
	DFLOWCTL_REGENERATE=1 $(BIN)/python -m pytest -q tests/test_golden.py

check-golden: golden ## regenerate golden renders and fail if they changed
	git diff --exit-code tests/golden

run-example: install ## the README's main job: run the HelloWorld example locally
	$(BIN)/dflowctl run specs/hello.yaml

bench: install ## run the benchmarks (print ratios; not tests)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

ci: lint test ## what .ci/run does

cluster-build: ## build kube-apiserver, etcd, Argo and the S3 server from pinned Go modules (cached)
	tests/cluster/build.sh

cluster-up: install cluster-build ## start a loopback Kubernetes API server + real Argo (root; prints the export line)
	$(BIN)/python -m tests.cluster.up

cluster-down: install ## stop everything cluster-up started
	$(BIN)/python -m tests.cluster.down

test-cluster: install ## run the `cluster` tests against the cluster of cluster-up
	KUBECONFIG=$$($(BIN)/python -c 'from tests.cluster.layout import layout; print(layout().kubeconfig)') \
		$(BIN)/python -m pytest -q -m cluster -p no:randomly tests/

bench-cluster: install ## benchmarks on the cluster of cluster-up: S3 download, watch vs polling, first pod, 1,000-item fan-out (not in CI)
	$(BIN)/python bench/cluster.py
