# Tandem — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint typecheck imports pytest bench bench-lti bench-sync clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

## run: venv, install, migrate, seed the demo org when empty, serve http://$(HOST):$(PORT)
##      with the development LTI platform at /dev/platform (TANDEM_DEV_PLATFORM=1 unless set)
##      and a fake SuccessFactors at /dev/successfactors behind the demo connection demo-sf
run: $(STAMP)
	$(BIN)/tandem db upgrade
	$(BIN)/tandem demo seed --org demo --people 2000 --seed 7 --if-empty
	@case "$${TANDEM_DEV_PLATFORM:-1}" in 0|false|False) ;; *) TANDEM_DEV_PLATFORM=1 TANDEM_BASE_URL=$${TANDEM_BASE_URL:-http://$(HOST):$(PORT)} $(BIN)/tandem demo hris --org demo;; esac
	@case "$${TANDEM_DEV_PLATFORM:-1}" in 0|false|False) ;; *) echo "Development LTI platform: $${TANDEM_BASE_URL:-http://$(HOST):$(PORT)}/dev/platform (launch Tandem as a demo junior, senior, coordinator or HR admin)"; echo "Demo SuccessFactors: $${TANDEM_BASE_URL:-http://$(HOST):$(PORT)}/dev/successfactors (in another shell: .venv/bin/tandem sync demo-sf)";; esac
	TANDEM_DEV_PLATFORM=$${TANDEM_DEV_PLATFORM:-1} TANDEM_BASE_URL=$${TANDEM_BASE_URL:-http://$(HOST):$(PORT)} $(BIN)/tandem serve --host $(HOST) --port $(PORT)

## test: venv, install with dev extras, lint, type-check, import contracts, tests
test: $(STAMP) lint typecheck imports pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy plugin connectors

imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python bench/bench_matching.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache

## bench-lti: LTI login + launch flows/s and latency, Tandem (gunicorn, PostgreSQL) beside a minimal pylti1p3 tool
bench-lti: $(STAMP)
	$(BIN)/python bench/lti_launch.py

## bench-sync: 100,000 SuccessFactors users from the fake (loopback, 1,000 per page) into PostgreSQL:
##             full, delta after 1 % changed, second full, beside fetch + parse alone
bench-sync: $(STAMP)
	$(BIN)/python bench/sync.py

## translations: extract the pages' messages, update the German catalogue, compile it
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k N_ --sort-output --no-location -o lti/translations/messages.pot .
	$(BIN)/pybabel update -i lti/translations/messages.pot -d lti/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d lti/translations
