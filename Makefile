# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
# uv installs the locked set in seconds; pip is the fallback when uv cannot be had.
UV_VERSION := 0.13.9
# Budgets in seconds per phase of `make run` on a 2-core machine (README, "Two commands").
BUDGET_INSTALL := 60
BUDGET_DEMO := 30

# $(call timed,phase,budget,command): run command, then print how long it took against the budget.
define timed
	@start=$$(date +%s); $(3) || exit $$?; took=$$(( $$(date +%s) - start )); \
	if [ $$took -gt $(2) ]; then note=" - over budget"; else note=""; fi; \
	echo "make run: $(1) took $$took s (budget $(2) s)$$note"
endef

.DEFAULT_GOAL := help
.PHONY: help run test soak lint format install migrate demo messages clean bench

help:
	@echo "make run    - install, migrate, load demo data, start web + worker + beat (Ctrl-C stops all; PORT=8001 for another port)"
	@echo "make test   - install, lint (ruff, import layers), run the test suite (pytest)"
	@echo "make bench  - benchmark on PostgreSQL + Redis (BENCH_SCALE=smoke|default|large), see docs/benchmarks.md"
	@echo "make lint / make format / make messages / make clean"

# The project itself has no packages (the code runs from this folder), so it is installed as a
# plain wheel: an editable install would only add setuptools' "Editable installation" notice.
$(STAMP): pyproject.toml requirements.lock
	$(call timed,install,$(BUDGET_INSTALL),$(MAKE) --no-print-directory dependencies)
	@touch $(STAMP)

.PHONY: dependencies
dependencies:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -m pip install --quiet "uv==$(UV_VERSION)" 2>/dev/null; then \
		$(VENV)/bin/uv pip install --quiet --python $(PY) -c requirements.lock ".[dev]"; \
	else \
		echo "make: uv $(UV_VERSION) is not available, installing with pip (slower)"; \
		$(PY) -m pip install --quiet --upgrade "pip>=24" \
		&& $(PY) -m pip install --quiet -c requirements.lock ".[dev]"; \
	fi

install: $(STAMP)

migrate: install
	@$(PY) manage.py migrate --noinput -v0

demo: migrate
	$(call timed,demo data,$(BUDGET_DEMO),$(PY) manage.py demo_data)

# PORT=8001 make run: the web server listens there and SITE_URL (links in e-mails) follows,
# unless SITE_URL is set.
run: export DEBUG ?= 1
run: export SITE_URL ?= http://127.0.0.1:$(PORT)
run: demo
	@$(PY) manage.py collectstatic --noinput -v0
	@$(PY) manage.py run_all --quiet --addr 127.0.0.1:$(PORT)

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
