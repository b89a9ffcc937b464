"""Proof under load and faults (`make stress`): real servers, real clients, real SIGKILL.

    make stress
    scripts/with-postgres .venv/bin/python scripts/stress [--rows 100000] [--keep]

On the throwaway PostgreSQL it is given (it refuses a database that already holds
funds), it migrates, collects the static files, creates its federations, users
and funds through the project's services, and starts gunicorn (4 worker
processes on a free port of 127.0.0.1) and one `manage.py worker`, with
production settings but for plain HTTP (see `environment`). Then, each with
real concurrent HTTP clients:

1. concurrent-disbursements: 100 clients POST a 1,000.00 disbursement at once
   against a fund holding 50,000.00: 50 are entered (pending, each reserving its
   amount), 50 refused with `insufficient_funds`. Two approvers then approve all
   50 at once, each of them every one: 50 approved, 50 `not_pending`; the fund ends
   at balance 0.00, reserved 0.00, and its roll-up shows 50,000.00 paid.
2. idempotent-retries: the same POST with one Idempotency-Key from 10 clients at
   once, for one payment and for a 1,000-row list: one write, ten equal answers
   (nine with `Idempotent-Replayed: true`).
3. killed-import: a 100,000-row XLSX list uploaded on the import page, checked by
   the worker, confirmed; while the worker's commit inserts the disbursements,
   worker and gunicorn get SIGKILL. Nothing of the list is in the database; after
   a restart the job page says the worker stopped and nothing was written; the
   same list uploaded again is written whole.
4. request-limits: 70 sign-in POSTs for one username, then 70 for seventy
   usernames, then the per-token limit plus 60 GETs with one token, each at
   concurrency 8 across the 4 workers: exactly 10, 20 and the per-token limit
   (1,200 a minute by default) are answered, the rest refused `throttled` with a
   Retry-After within the minute.

After each scenario `manage.py verify_ledger` must exit 0. One PASS or FAIL line
per scenario with its figures; the exit status is 1 if any failed, 2 if it could
not run. Every process started here is killed on the way out, whatever happens.
"""

import argparse
import atexit
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "bench")]

from servers import WORKERS, Servers, Service  # noqa: E402

# A killed worker's job is failed after this many seconds without a sign of life
# (production: 120 s); short, so that the run does not wait two minutes for it.
STALE_SECONDS = 10


def say(text: str = "") -> None:
    print(text, flush=True)


def environment(scratch: Path) -> dict[str, str]:
    """Production settings: no DEBUG, a real secret key, the database task queue,
    password hashing, the manifest static files. Only what serving plain HTTP on
    127.0.0.1 needs is changed, through the settings' own variables: no HTTPS
    redirect (DJANGO_SSL_REDIRECT=0), no HSTS header, session and CSRF cookies not
    marked Secure (a client does not send those back over HTTP)."""
    dropped = {"DJANGO_DEBUG", "UNIONFUNDS_TESTING", "UNIONFUNDS_TASKS_IMMEDIATE", "PGAPPNAME"}
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env.update(
        DJANGO_SETTINGS_MODULE="unionfunds.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SSL_REDIRECT="0",
        DJANGO_HSTS_SECONDS="0",
        DJANGO_SECURE_COOKIES="0",
        UNIONFUNDS_MEDIA_ROOT=str(scratch / "media"),
        UNIONFUNDS_STATIC_ROOT=str(scratch / "static"),
        UNIONFUNDS_JOB_STALE_SECONDS=str(STALE_SECONDS),
        PYTHONUNBUFFERED="1",
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="Rows of the killed import (default 100,000)")
    parser.add_argument("--keep", action="store_true", help="Keep the servers' logs and files")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        say("stress: needs PostgreSQL: run it under scripts/with-postgres (make stress does)")
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="unionfunds-stress-"))
    env = environment(scratch)
    os.environ.clear()
    os.environ.update(env)  # this process reads the settings the servers read
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda number, _frame: sys.exit(128 + number))
    atexit.register(Service.stop_all)
    started = time.perf_counter()
    try:
        return run(args, env, scratch)
    finally:
        Service.stop_all()
        if args.keep:
            say(f"stress: logs and files kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
        say(f"stress: {time.perf_counter() - started:.0f} s in all")


def run(args, env: dict[str, str], scratch: Path) -> int:
    import django

    django.setup()
    import spreadsheet_bench  # noqa: F401  (it sets UNIONFUNDS_TESTING as a default: not for the servers)
    from django.core.management import call_command
    from rollup_bench import machine

    from allocations.models import Fund

    os.environ.pop("UNIONFUNDS_TESTING", None)
    import scenarios

    call_command("migrate", interactive=False, verbosity=0)
    if Fund.objects.exists():
        say("stress: this database already holds funds; run it on a throwaway one (make stress does)")
        return 2
    info = machine("stress")
    say(
        f"stress: {info['date']}, {info['cpu']}, {info['nproc']} CPUs, {info['memory']}, load {info['load']}; "
        f"PostgreSQL {info['postgresql']}; Python {info['python']}; commit {info['commit']}"
    )
    call_command("collectstatic", interactive=False, verbosity=0)
    world = scenarios.build_world()
    servers = Servers(env, scratch)
    up = servers.start()
    config = " (with gunicorn.conf.py)" if (ROOT / "gunicorn.conf.py").exists() else ""
    say(f"stress: gunicorn --workers {WORKERS}{config} on 127.0.0.1:{servers.port} and a job worker, up in {up:.1f} s")
    scenarios.sign_in_api(servers.port, world)

    runs = [
        ("concurrent-disbursements", lambda: scenarios.concurrent_disbursements(servers, world)),
        ("idempotent-retries", lambda: scenarios.idempotent_retries(servers, world)),
        ("killed-import", lambda: scenarios.killed_import(servers, world, args.rows)),
        ("request-limits", lambda: scenarios.request_limits(servers, world)),
    ]
    results = []
    for name, scenario in runs:
        say(f"== {name}")
        began = time.perf_counter()
        try:
            result = scenario()
        except Exception:
            result = scenarios.Scenario(name)
            result.check(False, f"crashed:\n{traceback.format_exc()}{servers.logs()}")
        if not servers.running():  # the kill, or a crash, left them down
            servers.kill()
            servers.start()
        scenarios.verify_ledger(env, result)
        result.figures.append(f"{time.perf_counter() - began:.0f} s")
        say(result.line())
        results.append(result)

    say()
    for result in results:
        say(result.line())
    failed = [result.name for result in results if not result.passed]
    say(
        f"stress: {len(results) - len(failed)} of {len(results)} scenarios passed"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
