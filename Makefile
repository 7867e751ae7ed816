# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
HOST ?= 127.0.0.1
PORT ?= 5000
WORKER_CONNECTIONS ?= 10000
# The runtime of `make run`: eventlet (gunicorn 25, .venv) or gevent (gunicorn 27, .venv-gevent).
WORKER ?= eventlet
ifeq ($(WORKER),eventlet)
RUN_VENV := .venv
RUN_ENV :=
else ifeq ($(WORKER),gevent)
RUN_VENV := .venv-gevent
RUN_ENV := FLASK_SOCKETIO_ASYNC_MODE=gevent
else
$(error WORKER must be eventlet or gevent)
endif
# Tests that start real servers; `make test` runs them a second time under gevent.
LIVE_TESTS := $(wildcard tests/test_*_live.py) tests/test_socket_js.py tests/cluster tests/browser

.PHONY: run test deps dev-deps gevent-deps sysdeps vendor lint bench run-cluster clean

.venv/.deps: requirements.txt
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $@

.venv/.dev-deps: .venv/.deps requirements-dev.txt bench/requirements.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

# gevent runs on a current gunicorn, which has no eventlet worker: its own venv, the same app pins.
.venv-gevent/.deps: requirements.txt requirements-gevent.txt
	test -x .venv-gevent/bin/python || python3 -m venv .venv-gevent
	.venv-gevent/bin/pip install -q --upgrade pip
	grep -vE '^(gunicorn|eventlet)==' requirements.txt > .venv-gevent/requirements-app.txt
	.venv-gevent/bin/pip install -q -r .venv-gevent/requirements-app.txt -r requirements-gevent.txt
	touch $@

deps: .venv/.deps
dev-deps: .venv/.dev-deps
gevent-deps: .venv-gevent/.deps

# System packages the tests start themselves (apt installs do not start services here).
sysdeps:
	@bash scripts/sysdeps.sh

vendor:
	@if [ -x scripts/vendor.sh ]; then bash scripts/vendor.sh; fi

run: $(RUN_VENV)/.deps vendor
	$(RUN_ENV) $(RUN_VENV)/bin/flask --app app db upgrade
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; \
	$(RUN_ENV) exec $(RUN_VENV)/bin/gunicorn -k $(WORKER) -w 1 --worker-connections $(WORKER_CONNECTIONS) \
		-b $(HOST):$(PORT) wsgi:app

# Everything under eventlet, then every test that starts a real server again under gevent.
test: dev-deps gevent-deps sysdeps vendor
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; \
	.venv/bin/python -m pytest; eventlet=$$?; \
	WORKER=gevent .venv/bin/python -m pytest $(LIVE_TESTS); gevent=$$?; \
	echo "make test: eventlet pass exit $$eventlet, gevent pass exit $$gevent"; \
	[ $$eventlet = 0 ] && [ $$gevent = 0 ]

# Peers side by side (the app on eventlet and on gevent), 3 rounds: writes docs/benchmarks.md and
# docs/benchmarks.png (~25 min).
bench: dev-deps gevent-deps vendor sysdeps
	bash bench/run.sh

# Two gunicorn processes on Redis and PostgreSQL behind nginx (docs/scaling.md).
run-cluster: $(RUN_VENV)/.deps vendor sysdeps
	WORKER=$(WORKER) bash scripts/cluster.sh

lint: dev-deps
	.venv/bin/ruff check .

clean:
	rm -rf .venv .venv-gevent node_modules static/vendor .pytest_cache
