# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test lint format install migrate demo messages clean bench

help:
	@echo "make run    - install, migrate, load demo data, start web + worker + beat (Ctrl-C stops all)"
	@echo "make test   - install, lint (ruff), run the test suite (pytest)"
	@echo "make bench  - benchmark on PostgreSQL + Redis (BENCH_SCALE=smoke|default|large), see docs/benchmarks.md"
	@echo "make lint / make format / make messages / make clean"

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py demo_data

run: export DEBUG ?= 1
run: demo
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py run_all

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

messages: install
	$(PY) manage.py makemessages -l de -l en --no-obsolete --ignore=.venv --ignore=var --ignore=tests --ignore=bench
	$(PY) manage.py compilemessages --ignore=.venv

# DATABASE_URL / REDIS_URL if set (the database name must contain "bench": it is re-created),
# else postgres://postgres@127.0.0.1:5432/loyalty_bench and redis://127.0.0.1:6379/12.
bench: install
	BENCH_SCALE=$(or $(BENCH_SCALE),default) $(PY) -m bench

clean:
	rm -rf var .pytest_cache .ruff_cache .hypothesis
