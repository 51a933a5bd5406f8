# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test soak lint format install migrate demo messages clean bench

help:
	@echo "make run    - install, migrate, load demo data, start web + worker + beat (Ctrl-C stops all)"
	@echo "make test   - install, lint (ruff, import layers), run the test suite (pytest)"
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
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The soak test that `make test` runs for 90 s, for ten minutes: `manage.py run_all` on the
# embedded PostgreSQL and the database broker in a folder of its own, under three producers.
soak: install
	SOAK_SECONDS=$(or $(SOAK_SECONDS),600) $(PY) -m pytest -m soak -s $(PYTEST_ARGS)

# One catalogue per app (<app>/locale), plus locale/ (LOCALE_PATHS) for templates/ and
# loyalty_site/. django-admin runs without settings so makemessages writes to the locale/ of
# the directory it runs in; the project catalogue skips loyalty_site/portal, which has its own.
MESSAGE_APPS := customers loyalty_site/portal surveys programs
NOT_PROJECT_MESSAGES := $(MESSAGE_APPS) tests bench docs var e2e-artifacts $(VENV)
DJANGO_ADMIN := env -u DJANGO_SETTINGS_MODULE $(CURDIR)/$(VENV)/bin/django-admin

messages: install
	@set -e; for app in $(MESSAGE_APPS); do \
		ignore=--ignore=migrations; \
		echo "== $$app"; \
		(cd $$app && $(DJANGO_ADMIN) makemessages -l de -l en --no-obsolete $$ignore \
			&& $(DJANGO_ADMIN) compilemessages); \
	done
	@echo "== project (templates/, loyalty_site/)"
	@mkdir -p locale
	$(DJANGO_ADMIN) makemessages -l de -l en --no-obsolete $(NOT_PROJECT_MESSAGES:%=--ignore=%)
	$(DJANGO_ADMIN) compilemessages $(NOT_PROJECT_MESSAGES:%=--ignore=%)

# DATABASE_URL / REDIS_URL if set (the database name must contain "bench": it is re-created),
# else postgres://postgres@127.0.0.1:5432/loyalty_bench and redis://127.0.0.1:6379/12.
bench: install
	BENCH_SCALE=$(or $(BENCH_SCALE),default) $(PY) -m bench

clean:
	$(PY) -m loyalty_site.local_postgres stop var || true
	rm -rf var .pytest_cache .ruff_cache .hypothesis
