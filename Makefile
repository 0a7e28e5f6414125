# Two commands do everything on a machine with only Python:
#   make test   set up both virtual environments, then lint, type-check and run every test
#               (tests/unit and tests/integration; make test-unit runs the unit tests alone)
#   make demo   a local Label Studio, the sidecar and a demo LangChain app (servers keep running)
#   make stop   stops what make demo started
#   make demo-reset  the demo again from an empty Label Studio
PYTHON ?= python3
VENV := .venv
LS_VENV := .venv-labelstudio
LABEL_STUDIO_VERSION := 1.23.2

.PHONY: test test-unit lint setup clean bench bench-quick demo demo-reset stop browser postgres

setup: $(VENV)/.installed $(LS_VENV)/.installed

# The project's own environment: the package in editable mode plus its test tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[test]"
	touch $@

# Label Studio is a separate server with heavy pins of its own: it gets its own environment.
$(LS_VENV)/.installed:
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LS_VENV)/bin/python -m pip install --quiet "label-studio==$(LABEL_STUDIO_VERSION)"
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench devtools
	$(VENV)/bin/ruff format --check src tests bench devtools
	$(VENV)/bin/mypy

test: lint $(LS_VENV)/.installed browser
	$(VENV)/bin/python -m pytest

# Unit tests only (tests/unit): no Label Studio, no child process, offline, about a minute.
test-unit: $(VENV)/.installed
	$(VENV)/bin/python -m pytest tests/unit

# Headless Chromium for the browser test: Debian's chromium package, no browser download.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# PostgreSQL for the bench's e2e_postgres scenario: Debian's postgresql package (the bench runs its
# own server in a temporary data directory on loopback, never the package's cluster).
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }

# The main job (devtools/demo_stack.py: developer tooling, not in the package): Label Studio and
# `otel-label-studio serve` in the background (state in .local/demo),
# demo traffic in-process and through the sidecar, then the project URLs and the login.
demo: setup
	$(VENV)/bin/python -m devtools.demo_stack up --label-studio-bin $(LS_VENV)/bin/label-studio

# A fresh start: stop the demo, delete its Label Studio data, spool and logs, then run it again.
demo-reset: setup
	$(VENV)/bin/python -m devtools.demo_stack down --wipe
	$(MAKE) demo

stop:
	@if [ -x $(VENV)/bin/python ]; then $(VENV)/bin/python -m devtools.demo_stack down; \
	else echo "nothing to stop (no .venv)"; fi

# Benchmarks, side by side in one run (not tests): prints a table, writes bench/out/results.json;
# the full run also rewrites bench/RESULTS.md. PYTHONPATH=.: the servers start through devtools/.
# `postgres`: the e2e_postgres scenario runs Label Studio on Debian's PostgreSQL server.
bench: setup postgres
	$(VENV)/bin/python -m pip install --quiet -e ".[test,bench]"
	$(VENV)/bin/python -m bench.run

bench-quick: setup postgres
	$(VENV)/bin/python -m pip install --quiet -e ".[test,bench]"
	$(VENV)/bin/python -m bench.run --quick

clean:
	rm -rf $(VENV) $(LS_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/out src/*.egg-info
