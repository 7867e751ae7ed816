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
RUN_ENV := FLASK_SOCKETIO_JWT_ASYNC_MODE=gevent
else
$(error WORKER must be eventlet or gevent)
endif
# pytest-xdist: test files spread over this many processes (module-scoped servers stay per file).
PYTEST_WORKERS ?= 3
XDIST := -n $(PYTEST_WORKERS) --dist loadfile
# The package's own tests (tests/package) run with nothing of the demo app importable, in pytest
# runs of their own: from a new temporary folder that holds only a link to the package (`python -m`
# puts that folder, not the checkout, on sys.path), with pytest's importlib import mode (which adds
# no folder to sys.path either). After this, in the same shell, `package_pytest PYTHON ARGS...` is
# such a run; the folder is removed when the shell exits. tests/package/test_package_rules.py
# checks that the app cannot be imported there.
PACKAGE_PYTEST := pkgdir=$$(mktemp -d) && trap 'rm -rf "$$pkgdir"' EXIT && \
	ln -s "$(CURDIR)/flask_socketio_jwt" "$$pkgdir/flask_socketio_jwt" && \
	package_pytest() { py=$$1; shift; (cd "$$pkgdir" && "$(CURDIR)/$$py" -m pytest -c "$(CURDIR)/pyproject.toml" \
		--rootdir "$(CURDIR)" --import-mode=importlib "$$@"); }

.PHONY: run test test-package deps dev-deps gevent-deps sysdeps vendor tools lint docs bench run-cluster screenshots clean nextjs-deps nextjs-build run-nextjs

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

# The package's own tests on the lowest release of every range it declares (requirements-floor.txt).
.venv-floor/.deps: requirements-floor.txt
	test -x .venv-floor/bin/python || python3 -m venv .venv-floor
	.venv-floor/bin/pip install -q --upgrade pip
	.venv-floor/bin/pip install -q -r requirements-floor.txt
	touch $@

deps: .venv/.deps
dev-deps: .venv/.dev-deps
gevent-deps: .venv-gevent/.deps

# System packages the tests start themselves (apt installs do not start services here).
sysdeps:
	@bash scripts/sysdeps.sh

vendor:
	@if [ -x scripts/vendor.sh ]; then bash scripts/vendor.sh; fi

# Test-time npm tools (the AsyncAPI CLI).
tools:
	@bash scripts/tools.sh

run: $(RUN_VENV)/.deps vendor
	$(RUN_ENV) $(RUN_VENV)/bin/flask --app app db upgrade
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; \
	$(RUN_ENV) exec $(RUN_VENV)/bin/gunicorn -k $(WORKER) -w 1 --worker-connections $(WORKER_CONNECTIONS) \
		-b $(HOST):$(PORT) wsgi:app

# Four passes; the first three are two pytest runs each (tests/app, then tests/package with
# nothing of the app importable), spread over PYTEST_WORKERS processes: everything under eventlet;
# every test that starts a real server (marked `live` by its fixtures: tests/support/live.py)
# again under gevent; the same tests once more with every patch on library internals off
# (SOCKETIO_JWT_PATCHES = False), so the contract is proven on stock libraries too. The fourth runs
# the package's own tests on the lowest release of every range it declares (.venv-floor: nothing
# of the app installed, nor importable). The tests write only to temporary folders: the checkout
# must look the same afterwards (checked after each run).
FLOOR_TESTS := tests/package/test_secure_default.py tests/package/test_extension.py
# The patches-off pass leaves out the browser and multi-process tests: they drive the same socket
# paths as the single-server tests it runs, and they ran in the first two passes (this keeps
# `make test` within its time budget).
STOCK_SKIP := --ignore=tests/app/browser --ignore=tests/app/cluster

test: dev-deps gevent-deps .venv-floor/.deps sysdeps vendor tools nextjs-build
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; \
	$(PACKAGE_PYTEST); \
	before=$$(git status --porcelain 2>/dev/null); \
	unchanged() { after=$$(git status --porcelain 2>/dev/null); [ "$$before" = "$$after" ] && return 0; \
		echo "make test changed the checkout (git status --porcelain):"; diff <(echo "$$before") <(echo "$$after"); \
		return 1; }; \
	.venv/bin/python -m pytest $(XDIST) tests/app; app=$$?; unchanged || exit 1; \
	package_pytest .venv/bin/python $(XDIST) "$(CURDIR)/tests/package"; package=$$?; unchanged || exit 1; \
	eventlet=$$(( app ? app : package )); \
	WORKER=gevent .venv/bin/python -m pytest $(XDIST) -m live tests/app; app=$$?; unchanged || exit 1; \
	WORKER=gevent package_pytest .venv/bin/python $(XDIST) -m live "$(CURDIR)/tests/package"; package=$$?; \
	unchanged || exit 1; gevent=$$(( app ? app : package )); \
	echo "make test: eventlet pass exit $$eventlet, gevent pass exit $$gevent; now the patches-off pass"; \
	SOCKETIO_JWT_TEST_PATCHES=off .venv/bin/python -m pytest $(XDIST) -m live $(STOCK_SKIP) tests/app; app=$$?; \
	unchanged || exit 1; \
	SOCKETIO_JWT_TEST_PATCHES=off package_pytest .venv/bin/python $(XDIST) -m live \
		--ignore="$(CURDIR)/tests/package/browser" "$(CURDIR)/tests/package"; \
	package=$$?; unchanged || exit 1; stock=$$(( app ? app : package )); \
	echo "make test: patches-off pass exit $$stock; now the package's tests on its lowest supported versions"; \
	package_pytest .venv-floor/bin/python --noconftest $(addprefix $(CURDIR)/,$(FLOOR_TESTS)); \
	floor=$$?; unchanged || exit 1; \
	echo "make test: eventlet $$eventlet, gevent $$gevent, patches-off $$stock, floor versions $$floor"; \
	[ $$eventlet = 0 ] && [ $$gevent = 0 ] && [ $$stock = 0 ] && [ $$floor = 0 ]

# The package's own tests alone, as `make test` runs them (nothing of the app importable; eventlet
# unless WORKER=gevent; PYTEST_ARGS for more, e.g. PYTEST_ARGS="-m live").
PYTEST_ARGS ?=
test-package: dev-deps
	$(PACKAGE_PYTEST); WORKER=$(WORKER) package_pytest .venv/bin/python $(XDIST) $(PYTEST_ARGS) "$(CURDIR)/tests/package"

# The pictures in the docs (docs/demo.png), from a real server driven in Chromium.
screenshots: dev-deps sysdeps vendor
	.venv/bin/python scripts/screenshots.py

# Peers side by side (the app on eventlet and on gevent), 3 rounds: writes docs/benchmarks.md and
# docs/benchmarks.png (~25 min).
bench: dev-deps gevent-deps vendor sysdeps
	bash bench/run.sh

# Two gunicorn processes on Redis and PostgreSQL behind nginx (docs/scaling.md).
run-cluster: $(RUN_VENV)/.deps vendor sysdeps
	WORKER=$(WORKER) bash scripts/cluster.sh

# The Next.js example (examples/nextjs): npm ci, then next build, each redone only when its
# inputs change. npm's cache lives in .cache/npm (git-ignored) so later installs work offline.
NEXT_DIR := examples/nextjs
NPM_CACHE := $(CURDIR)/.cache/npm
NEXT_SOURCES := $(shell find $(NEXT_DIR)/app $(NEXT_DIR)/components $(NEXT_DIR)/hooks $(NEXT_DIR)/lib -type f 2>/dev/null) \
	$(NEXT_DIR)/next.config.mjs $(NEXT_DIR)/jsconfig.json $(NEXT_DIR)/proxy.js
CLIENT_SOURCES := $(wildcard clients/js/src/*) clients/js/package.json

$(NEXT_DIR)/node_modules/.installed: $(NEXT_DIR)/package-lock.json $(CLIENT_SOURCES)
	cd $(NEXT_DIR) && npm ci --cache $(NPM_CACHE) --no-audit --no-fund --loglevel=error
	touch $@

$(NEXT_DIR)/.next/BUILD_ID: $(NEXT_DIR)/node_modules/.installed $(NEXT_SOURCES)
	cd $(NEXT_DIR) && NEXT_TELEMETRY_DISABLED=1 node_modules/.bin/next build
	touch $@

nextjs-deps: $(NEXT_DIR)/node_modules/.installed
nextjs-build: $(NEXT_DIR)/.next/BUILD_ID

# Flask on HOST:PORT (as `make run`: 127.0.0.1:5000) and the Next.js app on HOST:NEXT_PORT (3000);
# examples/nextjs/README.md.
NEXT_PORT ?= 3000
run-nextjs: deps vendor nextjs-build
	FLASK_HOST=$(HOST) FLASK_PORT=$(PORT) NEXT_PORT=$(NEXT_PORT) bash $(NEXT_DIR)/run-with-flask.sh

lint: dev-deps
	.venv/bin/ruff check .
	.venv/bin/mypy

# The package's documentation site into docs/_build/html (git-ignored): warnings are errors and
# every cross-reference must resolve (tests/package/test_docs_site.py builds it the same way).
docs: dev-deps
	.venv/bin/sphinx-build -W --keep-going -n -b html docs docs/_build/html

clean:
	rm -rf .venv .venv-gevent .venv-floor node_modules static/vendor .pytest_cache tools/asyncapi/node_modules .cache $(NEXT_DIR)/node_modules $(NEXT_DIR)/.next docs/_build
