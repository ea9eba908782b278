# Two commands matter: `make run` and `make test`. Everything else supports them.
# `make test-unit` is the fast run: no test that starts a process (tests/conftest.py enforces it).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
SYSTEM_PACKAGES := redis-server redis-sentinel faketime nginx prometheus wrk docker-compose chromium
SYSTEM_PROGRAMS := redis-server redis-sentinel faketime nginx prometheus promtool wrk docker-compose chromium
NODE_SDKS := tests/node/node_modules/.installed
CLAUDE_CODE := tests/claude_code/node_modules/.installed

.PHONY: run test test-unit lint docs bench bench-compare install sysdeps node-sdks clean

# `make run` needs only the router's own packages; `make test` adds the test extra (the
# SDKs, Playwright, linters, MkDocs...), which takes minutes to install the first time.
$(RUN_STAMP): pyproject.toml
	@echo "installing: a virtualenv in $(VENV) and the router's packages (the first time only)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml $(RUN_STAMP)
	@echo "installing: the test, lint, docs and tracing packages (the first time only)"
	$(PY) -m pip install --quiet -e '.[test,tracing]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the integration tests and the benchmark start for real.
sysdeps:
	@missing=""; for p in $(SYSTEM_PROGRAMS); do \
	  command -v $$p >/dev/null 2>&1 || [ -x /usr/sbin/$$p ] || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages (missing:$$missing)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null || \
	  { echo "could not install $(SYSTEM_PACKAGES); the tests that need them will fail"; exit 1; }; \
	fi

# The official Node SDKs (openai, @google/genai, @anthropic-ai/sdk) for the compatibility
# tests, and Claude Code (a test-only folder of its own: its native binary is large), when
# npm is present; without npm those tests skip and say why.
$(NODE_SDKS): tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd tests/node && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the Node SDK tests will be skipped"; fi

$(CLAUDE_CODE): tests/claude_code/package.json tests/claude_code/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd tests/claude_code && npm ci --no-audit --no-fund --loglevel=error && \
	  touch node_modules/.installed; \
	else echo "npm not found: the Claude Code tests will be skipped"; fi

node-sdks: $(NODE_SDKS) $(CLAUDE_CODE)

# Two mock nodes on :9001/:9002 and the router on :8080 with the shipped routes.yaml.
run: $(RUN_STAMP)
	@$(PY) -m router check routes.yaml
	@bash .ci/demo.sh $(PY)

# Three pytest-xdist workers on two cores: most of the integration suite waits on
# processes, sockets and timers, so a third worker fills the time the other two wait
# (3,090 tests: 6 min 46 s on two workers, 5 min 3 s on three, same quiet machine). The
# unit tests only compute: they run on as many workers as cores. make test gives each
# worker whole modules (a module shares its processes); TEST_WORKERS=1 runs everything
# in one process.
TEST_WORKERS ?= 3
UNIT_WORKERS ?= 2

test: $(STAMP) sysdeps node-sdks
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory docs

test-unit: $(STAMP)
	$(PY) -m pytest -q -n $(UNIT_WORKERS) -m "not integration" --ignore=tests/integration

lint: $(STAMP)
	$(VENV)/bin/ruff format --check router tests bench
	$(VENV)/bin/ruff check router tests bench
	$(VENV)/bin/mypy

# The manual in docs/ as a site in site/; --strict: a broken link or heading fails it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: $(STAMP) sysdeps
	$(PY) -m bench

# Two builds of the router in paired rounds: `make bench-compare BASE=<rev> [HEAD=<rev>]`.
HEAD ?= HEAD
bench-compare: $(STAMP) sysdeps
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<rev> [HEAD=<rev>]"; exit 2; }
	$(PY) -m bench.compare $(BASE) $(HEAD)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
