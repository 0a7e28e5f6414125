# Two commands do everything on a machine with only Python:
#   make test   set up the locked environments (.venv, .venv-labelstudio, .venv-py/3.10 ... 3.13),
#               then lint, type-check and run every test
#               (tests/unit and tests/integration; make test-unit runs the unit tests alone)
#   make demo   a local Label Studio, the sidecar and a demo LangChain app (servers keep running)
#   make stop   stops what make demo started
#   make demo-reset  the demo again from an empty Label Studio
#   make docs   the documentation site (docs/, mkdocs.yml) into site/
# Every environment is installed from the lock files in requirements/ (uv pip compile; `make lock`
# regenerates them), never from the ranges in pyproject.toml: the same packages on any day.
# `make test-newest` is the one target that takes the newest releases the ranges allow.
PYTHON ?= python3
VENV := .venv
LS_VENV := .venv-labelstudio
NEWEST_VENV := .venv-newest
# The supported Pythons: the exit test runs a child app under each (.venv-py/3.10 ... 3.13).
PYTHONS := 3.10 3.11 3.12 3.13
PY_VENVS := $(foreach v,$(PYTHONS),.venv-py/$(v)/.installed)
UV := $(VENV)/bin/uv
# uv uses the Pythons this machine has, by their real path, and never downloads one.
export UV_PYTHON_DOWNLOADS := never
interpreter = $$($(1) -c 'import sys; print(sys.executable)')

.PHONY: test test-unit test-newest lint lock setup pythons clean bench bench-quick demo demo-reset stop browser postgres docs

setup: $(VENV)/.installed $(LS_VENV)/.installed

# The project's own environment: the package in editable mode plus its test, demo and bench tools,
# exactly as requirements/dev.txt pins them. uv itself comes pinned and hashed from requirements/uv.txt.
$(UV): requirements/uv.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "make needs Python 3.11 or newer as $(PYTHON) (the package itself runs on 3.10 to 3.13): make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/uv.txt
	touch $@

$(VENV)/.installed: pyproject.toml requirements/dev.txt $(UV)
	$(UV) pip sync --quiet --python $(VENV)/bin/python requirements/dev.txt
	$(UV) pip install --quiet --python $(VENV)/bin/python --no-deps -e .
	touch $@

# Label Studio is a separate server with heavy pins of its own: it gets its own environment,
# installed from requirements/label-studio.txt (a set known to start).
$(LS_VENV)/.installed: requirements/label-studio.txt $(VENV)/.installed
	$(UV) venv --quiet --allow-existing --python $(call interpreter,$(PYTHON)) $(LS_VENV)
	$(UV) pip sync --quiet --python $(LS_VENV)/bin/python requirements/label-studio.txt
	touch $@

# One small app environment per supported Python (requirements/app.txt: the package and the demo
# extra), for the exit test that runs a real child app under each. A missing Python fails here.
.venv-py/%/.installed: requirements/app.txt $(VENV)/.installed
	@py=$$($(PYTHON) -m devtools.find_python $*) || exit 1; \
	  echo "$(UV) venv --python $$py .venv-py/$*"; $(UV) venv --quiet --allow-existing --python "$$py" .venv-py/$*
	$(UV) pip sync --quiet --python .venv-py/$*/bin/python requirements/app.txt
	$(UV) pip install --quiet --python .venv-py/$*/bin/python --no-deps -e .
	touch $@

pythons: $(PY_VENVS)

# Regenerate every lock from pyproject.toml and requirements/*.in: run it to take new releases on
# purpose (after `make test-newest` says they work), then commit the changed requirements/*.txt.
LOCK := $(UV) pip compile --quiet --universal --generate-hashes
lock: $(UV)
	$(LOCK) --python-version 3.10 requirements/uv.in -o requirements/uv.txt
	$(LOCK) --python-version 3.11 --extra test --extra demo --extra bench --extra postgres --extra docs pyproject.toml -o requirements/dev.txt
	$(LOCK) --python-version 3.10 --extra demo --extra postgres pyproject.toml -o requirements/app.txt
	$(LOCK) --python-version 3.10 requirements/label-studio.in -o requirements/label-studio.txt

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench devtools
	$(VENV)/bin/ruff format --check src tests bench devtools
	$(VENV)/bin/mypy

test: lint $(LS_VENV)/.installed $(PY_VENVS) browser postgres
	$(VENV)/bin/python -m pytest

# Unit tests only (tests/unit): no Label Studio, no child process, offline, one to two minutes.
test-unit: $(VENV)/.installed
	$(VENV)/bin/python -m pytest tests/unit

# The canary for new releases (not part of `make test` or CI): a fresh environment from the newest
# releases pyproject.toml's ranges allow, not the locks; the unit suite and one real Label Studio
# round trip. Run it before `make lock`, and when a dependency announces a release.
test-newest: $(LS_VENV)/.installed
	rm -rf $(NEWEST_VENV)
	$(UV) venv --quiet --python $(call interpreter,$(PYTHON)) $(NEWEST_VENV)
	$(UV) pip install --quiet --refresh --python $(NEWEST_VENV)/bin/python -e ".[test,demo,postgres]"
	$(NEWEST_VENV)/bin/python -m pytest -p no:cacheprovider tests/unit \
	  tests/integration/test_integration.py::test_legacy_token_works

# Headless Chromium for the browser test: Debian's chromium package, no browser download.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# PostgreSQL for the tests of the shared review state (--state-url) and the bench's e2e_postgres
# scenario: Debian's postgresql package (tests and bench run their own server in a temporary data
# directory on loopback, tests/support/postgres.py, never the package's cluster).
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
	$(VENV)/bin/python -m bench.run

bench-quick: setup postgres
	$(VENV)/bin/python -m bench.run --quick

# The documentation site (mkdocs.yml: docs/ with MkDocs and Material, the docs extra) into site/; --strict makes
# a broken link, anchor or included file an error.
docs: $(VENV)/.installed
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) $(LS_VENV) $(NEWEST_VENV) .venv-py .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/out site src/*.egg-info
