# Vigil's developer entry points. `make test` and `make demo` install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Everything built outside the clone (Go module and build caches, kube-apiserver/etcd/kubectl)
# lives here, keyed by version, and is reused across clones.
export VIGIL_CACHE ?= $(HOME)/.cache/vigil
VENV ?= .venv
PY := $(VENV)/bin/python
VIGIL := $(VENV)/bin/vigil
TEST_STATE := .vigil/test
DEMO_NS ?= vigil-demo
PYTEST_ARGS ?=

.PHONY: help deps bench-deps venv controlplane cluster cluster-down crds check-crds test unit bench demo clean

help:
	@echo "make test          the whole suite (unit, integration, e2e) on a throwaway local control plane"
	@echo "make demo          local control plane + CRDs + examples, then kubectl get vigil"
	@echo "make cluster       start etcd, kube-apiserver and redis-server in the background (.vigil/)"
	@echo "make cluster-down  stop what make cluster started"
	@echo "make crds          regenerate crds/ from the models"
	@echo "make bench         the benchmarks, each against a floor measured in the same run"

# System packages: redis-server from Debian; Go must already be there (it builds the control plane).
deps:
	@command -v go >/dev/null || { echo "Go is missing: install Go >= 1.26 (https://go.dev/dl), then retry" >&2; exit 2; }
	@command -v redis-server >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "redis-server is missing: install it with your package manager" >&2; exit 2; }; \
	  echo "installing redis-server (Debian package)"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq redis-server >/dev/null; }

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

controlplane: deps
	tools/controlplane/build.sh $(VIGIL_CACHE)

crds: venv
	$(VIGIL) crds

check-crds: venv
	$(VIGIL) crds --check

cluster: deps venv
	$(VIGIL) dev up

cluster-down: venv
	$(VIGIL) dev down

unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# A control plane of its own, so a running `make cluster` is left alone; always torn down.
test: deps venv
	$(VIGIL) crds --check
	$(VIGIL) dev up --state-dir $(TEST_STATE)
	VIGIL_STATE_DIR=$(TEST_STATE) $(PY) -m pytest tests/unit tests/integration tests/e2e $(PYTEST_ARGS); rc=$$?; \
	  $(VIGIL) dev down --state-dir $(TEST_STATE); exit $$rc

# The load generator for bench/ingest, from Debian.
bench-deps:
	@command -v wrk >/dev/null || { echo "installing wrk (Debian package)"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq wrk >/dev/null; }

# Benchmarks print their figures next to a floor measured in the same run (bench/README.md).
bench: deps bench-deps venv
	$(VIGIL) dev up --state-dir .vigil/bench
	rc=0; for n in 200 1000; do \
	  VIGIL_STATE_DIR=.vigil/bench $(PY) bench/reconcile.py --rules $$n || { rc=$$?; break; }; done; \
	  $(VIGIL) dev down --state-dir .vigil/bench; [ $$rc = 0 ] || exit $$rc
	$(PY) bench/ingest.py

demo: cluster
	tools/demo.sh

clean: cluster-down
	rm -rf .vigil $(VENV)
