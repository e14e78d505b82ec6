# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test test-corpus lint assets system-deps runtime-deps install clean

# scripts/install_python.sh runs `python3 -m venv .venv` and pip, quietly (log in .venv/pip.log).
$(STAMP): pyproject.toml
	@./scripts/install_python.sh
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

assets:
	@./scripts/build_assets.sh

## Debian packages (scripts/system-packages.txt): what the running portal needs, and for the
## tests also poppler-utils and chromium. Installs what is missing, or says how and stops.
runtime-deps:
	@./scripts/system_deps.sh runtime

system-deps:
	@./scripts/system_deps.sh test

## Set up everything and start the portal (SQLite, embedded Redis, a worker, demo data).
## Prerequisites in this order: the system packages first, so nothing starts without them.
run: runtime-deps $(STAMP) assets
	@$(PY) scripts/run_local.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit --quiet --severity-level medium --configfile pyproject.toml -r portal workers

## Lint and the whole suite; a second pass on PostgreSQL when TEST_DATABASE_URL is set.
test: $(STAMP) assets system-deps lint
	env -u TEST_DATABASE_URL $(VENV)/bin/pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== second pass on PostgreSQL: $$TEST_DATABASE_URL"; \
	  $(VENV)/bin/pytest -m "not browser" --database-only; \
	fi

## The tests over the larger registry corpus, ../shared/data/registry-samples (or REGISTRY_SAMPLES).
test-corpus: $(STAMP)
	env -u TEST_DATABASE_URL $(VENV)/bin/pytest -m corpus

clean:
	rm -rf $(VENV) node_modules portal/static/govuk instance
