# Fieldbook: `make run` serves the app, `make test` runs every test. Both work on a fresh Debian 12.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
#: Test-only JavaScript from the npm registry (axe-core for the accessibility test), pinned in package-lock.json.
NODE_STAMP := node_modules/.installed

.PHONY: run test test-server test-sync test-pwa test-browser soak bench migrate demo system-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# `npm ci` installs exactly the lock file, and only again when the lock file changed.
$(NODE_STAMP): package-lock.json | system-packages
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

## Serve on http://127.0.0.1:8000 after migrating the embedded SQLite database and loading demo data when empty.
run: $(STAMP)
	$(BIN)/fieldbook migrate
	$(BIN)/fieldbook demo --if-empty
	$(BIN)/fieldbook serve

migrate: $(STAMP)
	$(BIN)/fieldbook migrate

demo: $(STAMP)
	$(BIN)/fieldbook demo

## What the tests need from Debian: PostgreSQL (a throwaway server per run), Node.js and npm, and Chromium.
system-packages:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing PostgreSQL from Debian's packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi
	@if ! command -v node >/dev/null 2>&1; then \
		echo "installing Node.js from Debian's packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null; \
	fi
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "installing npm from Debian's packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Chromium from Debian's packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

## Every test: sync core, server on SQLite and PostgreSQL, the phone in Chromium, the phone's merge under node.
test: $(STAMP) system-packages $(NODE_STAMP)
	$(BIN)/python -m pytest -q
	node --test tests/pwa/

test-pwa: system-packages
	node --test tests/pwa/

## Only the browser tests: the PWA in Debian's Chromium against a live server.
test-browser: $(STAMP) system-packages $(NODE_STAMP)
	$(BIN)/python -m pytest -q tests/pwa

test-sync: $(STAMP)
	$(BIN)/python -m pytest -q tests/sync

test-server: $(STAMP) system-packages
	$(BIN)/python -m pytest -q tests/server

## A long randomised run of the sync property tests.
soak: $(STAMP)
	FIELDBOOK_SOAK=1 $(BIN)/python -m pytest -q tests/sync/test_properties.py

bench: $(STAMP)
	$(BIN)/python bench/api_bench.py

clean:
	rm -rf $(VENV) build *.egg-info node_modules
