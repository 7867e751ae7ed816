# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
HOST ?= 127.0.0.1
PORT ?= 5000
WORKER_CONNECTIONS ?= 10000

.PHONY: run test deps dev-deps sysdeps vendor lint bench run-cluster clean

.venv/.deps: requirements.txt
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $@

.venv/.dev-deps: .venv/.deps requirements-dev.txt bench/requirements.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

deps: .venv/.deps
dev-deps: .venv/.dev-deps

# System packages the tests start themselves (apt installs do not start services here).
sysdeps:
	@bash scripts/sysdeps.sh

vendor:
	@if [ -x scripts/vendor.sh ]; then bash scripts/vendor.sh; fi

run: deps vendor
	.venv/bin/flask --app app db upgrade
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; \
	exec .venv/bin/gunicorn -k eventlet -w 1 --worker-connections $(WORKER_CONNECTIONS) \
		-b $(HOST):$(PORT) wsgi:app

# The whole suite, then the live socket tests once more with every patch on library internals
# off (SOCKETIO_JWT_PATCHES = False): the contract holds on stock libraries too.
test: dev-deps sysdeps vendor
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; \
	.venv/bin/python -m pytest && \
	SOCKETIO_JWT_TEST_PATCHES=off .venv/bin/python -m pytest -m "live and not needs_patches"

# Peers side by side, 3 rounds: writes docs/benchmarks.md and docs/benchmarks.png (~20 min).
bench: dev-deps vendor sysdeps
	bash bench/run.sh

# Two gunicorn processes on Redis and PostgreSQL behind nginx (docs/scaling.md).
run-cluster: deps vendor sysdeps
	bash scripts/cluster.sh

lint: dev-deps
	.venv/bin/ruff check .
	.venv/bin/mypy

clean:
	rm -rf .venv node_modules static/vendor .pytest_cache
