# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test test-corpus lint assets system-deps install clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

assets:
	@./scripts/build_assets.sh

system-deps:
	@./scripts/system_deps.sh

## Set up everything and start the portal (SQLite, embedded Redis, a worker, demo data).
run: $(STAMP) assets
	$(PY) scripts/run_local.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit --quiet --severity-level medium --configfile pyproject.toml -r portal workers

## Lint and the whole suite; a second pass on PostgreSQL when TEST_DATABASE_URL is set.
test: $(STAMP) assets system-deps lint
	env -u TEST_DATABASE_URL $(VENV)/bin/pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== second pass on PostgreSQL: $$TEST_DATABASE_URL"; \
	  $(VENV)/bin/pytest -m "not browser"; \
	fi

## The tests over the larger registry corpus, ../shared/data/registry-samples (or REGISTRY_SAMPLES).
test-corpus: $(STAMP)
	env -u TEST_DATABASE_URL $(VENV)/bin/pytest -m corpus

clean:
	rm -rf $(VENV) node_modules portal/static/govuk instance
