# unionfunds — development tasks (GNU make).
#
#   make run            set up .venv, migrate, load divisions + demo data, serve on 127.0.0.1:8000 (+ job worker)
#   make test           pytest on SQLite, then on PostgreSQL (throwaway cluster); PYTEST_ARGS="-k foo -x"
#   make test-sqlite    the SQLite half
#   make test-postgres  the PostgreSQL half (uses DATABASE_URL if it already points at PostgreSQL)
#   make lint           ruff check, ruff format --check, manage.py check, makemigrations --check
#   make bench          roll-up, spreadsheet and archive benchmarks at full scale (~1 h); make bench-quick: a tenth (< 10 min)
#   make stress         proof under load and faults: gunicorn + worker on PostgreSQL, concurrent clients, SIGKILL (~2 min)
#   make venv           create .venv and install requirements-dev.txt at the versions of requirements.lock
#   make lock           re-resolve requirements.lock within the ranges of requirements*.txt

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MO := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))
WITH_POSTGRES := bash scripts/with-postgres
PYTEST_ARGS ?=

.PHONY: help venv lock messages chromium run test test-sqlite test-postgres lint bench bench-quick stress

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# --- virtualenv -------------------------------------------------------------

$(PY):
	@echo "Creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV) || { \
	    rm -rf $(VENV); \
	    echo "error: '$(PYTHON) -m venv' failed (on Debian: apt-get install python3-venv)" >&2; \
	    exit 1; }

# Reinstall only when the requirements or the lock are newer than the stamp.
$(STAMP): requirements.txt requirements-dev.txt requirements.lock | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt -c requirements.lock
	@touch $@

# Re-resolve every version within the ranges of requirements*.txt, in a
# throwaway virtualenv with pip-tools; review the diff, then commit it.
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --disable-pip-version-check -q pip-tools
	.lockvenv/bin/pip-compile -q --strip-extras --allow-unsafe --no-header --no-emit-index-url \
	    --no-emit-find-links --upgrade -o .lockvenv/requirements.lock requirements-dev.txt
	{ sed -n '1,/^$$/p' requirements.lock; cat .lockvenv/requirements.lock; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lockvenv

# The virtualenv comes with the translations compiled: `manage.py runserver`
# straight after `make venv` speaks Chinese, not English under a zh-hans header.
venv: $(STAMP) $(MO)
	@:

# --- development server -------------------------------------------------------

# Every manage.py call outside pytest needs DJANGO_DEBUG=1 (or a real secret key).
run lint: export DJANGO_DEBUG := 1

# Compile a catalogue whenever its .po is newer; gettext is installed when
# missing (as root). Without it the site would fall back to English, which
# `manage.py check` then reports (unionfunds.W001).
$(MO): %.mo: %.po | $(STAMP)
	@if ! command -v msgfmt >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq gettext >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq gettext) >/dev/null 2>&1 || true; \
	fi
	@if command -v msgfmt >/dev/null 2>&1; then \
	    msgfmt --check-format -o $@ $<; echo "compiled $@"; \
	else \
	    echo "warning: msgfmt not found (apt-get install gettext); $@ not compiled" >&2; \
	fi

messages: venv
	@:

run: venv messages
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_divisions
	@echo
	$(PY) manage.py load_demo
	@echo
	@# Imports and exports run in a worker next to the web server; both stop together.
	$(PY) manage.py worker --interval 0.5 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:8000

# --- tests -------------------------------------------------------------------

# Headless Chromium for the browser tests (tests/browser): apt-get installs it when
# missing and running as root; otherwise those tests skip with the reason (fail under CI=true).
chromium:
	@bash scripts/ensure-chromium
	@bash scripts/ensure-libreoffice

# Both halves always run; the target fails if either did. A pytest exit status
# of 5 (no tests collected) is a failure like any other.
test: venv messages chromium
	@status=0; \
	$(MAKE) test-sqlite || status=1; \
	$(MAKE) test-postgres || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see above)" >&2; fi; \
	exit $$status

test-sqlite: venv messages chromium
	@echo "=== pytest on SQLite ==="
	env -u DATABASE_URL $(PY) -m pytest $(PYTEST_ARGS)

test-postgres: venv messages chromium
	@echo "=== pytest on PostgreSQL ==="
	@case "$${DATABASE_URL:-}" in \
	    postgres://*|postgresql://*|pgsql://*|postgis://*) \
	        echo "(using DATABASE_URL from the environment)"; \
	        $(PY) -m pytest $(PYTEST_ARGS) ;; \
	    *) \
	        env -u DATABASE_URL $(WITH_POSTGRES) $(PY) -m pytest $(PYTEST_ARGS) ;; \
	esac

# --- lint --------------------------------------------------------------------

# Runs every check and fails at the end if any failed.
lint: venv
	@status=0; \
	echo "=== ruff check ==="; $(PY) -m ruff check . || status=1; \
	echo "=== ruff format --check ==="; $(PY) -m ruff format --check . || status=1; \
	echo "=== manage.py check ==="; $(PY) manage.py check || status=1; \
	echo "=== makemigrations --check ==="; $(PY) manage.py makemigrations --check --dry-run || status=1; \
	echo "=== layers (.importlinter) ==="; $(VENV)/bin/lint-imports || status=1; \
	echo "=== types of the money core (mypy) ==="; DJANGO_DEBUG=1 $(PY) -m mypy || status=1; \
	if [ $$status -ne 0 ]; then echo "make lint: FAILED (see above)" >&2; fi; \
	exit $$status

# --- benchmarks ----------------------------------------------------------------

# The roll-up benchmark, the spreadsheet benchmark, then the archive benchmark, each on
# its own throwaway cluster (DATABASE_URL is ignored): they truncate or fill the money
# tables. Each prints one "BENCH <name> <value> goal <op><target>" line per figure and
# rewrites its sections of docs/PERFORMANCE.md. BENCH_ARGS goes to all: --runs N,
# --no-doc, --strict, --townships PATH. All always run; the target fails if one failed.
BENCH_ARGS ?=
BENCHES := bench/rollup_bench.py bench/spreadsheet_bench.py bench/archive_bench.py
run_benches = status=0; \
	for script in $(BENCHES); do \
	    echo "=== $$script --scale $(1) ==="; \
	    env -u DATABASE_URL $(WITH_POSTGRES) $(PY) $$script --scale $(1) $(BENCH_ARGS) || status=1; \
	done; \
	if [ $$status -ne 0 ]; then echo "make $@: a benchmark run FAILED (see above)" >&2; fi; \
	exit $$status

bench: venv
	@$(call run_benches,full)

bench-quick: venv
	@$(call run_benches,quick)

# --- proof under load and faults --------------------------------------------------

# scripts/stress on its own throwaway cluster (DATABASE_URL is ignored): gunicorn with
# 4 workers and a job worker, 100 concurrent payments against a fund that affords 50,
# 10 retries with one Idempotency-Key, a 100,000-row import killed with SIGKILL in its
# commit, the request limits across the 4 workers; verify_ledger after each. One
# PASS/FAIL line per scenario (docs/RELIABILITY.md).
# STRESS_ARGS goes to the script: --rows N, --keep.
STRESS_ARGS ?=

stress: venv messages
	env -u DATABASE_URL $(WITH_POSTGRES) $(PY) scripts/stress $(STRESS_ARGS)
