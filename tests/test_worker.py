"""A worker that stops working does not stay alive, and the pages say when no
worker is taking jobs (`unionfunds.worker`, `manage.py worker`).

The failure is the one seen under `make run`: SQLite's "database is locked"
raised where django-tasks-db's loop does not retry, which ended the loop and,
under --reload, left the process watching files with nobody taking jobs.
"""

import datetime
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from django_tasks_db.management.commands import db_worker

from tests.test_job_recovery import GONE_CHECKING, QUEUE
from tests.test_list_import import frontline_rows, upload, xlsx_bytes
from unionfunds import worker
from unionfunds.models import Job, WorkerBeat

BASE_DIR = Path(__file__).resolve().parent.parent
NO_WORKER = "没有后台进程在处理导入和导出"


def kept_worker(**overrides) -> worker.KeptWorker:
    options = {
        "queue_names": ["default"],
        "interval": 0,
        "batch": True,
        "backend_name": "default",
        "startup_delay": False,
        "max_tasks": None,
        "worker_id": "test-worker",
        "excluded_queue_names": [],
    }
    kept = worker.KeptWorker(**{**options, **overrides})
    kept.failure_pause = 0
    return kept


def locked_database(monkeypatch, times: int | None = None) -> list[int]:
    """Make the loop's first call fail as SQLite does under a long write, `times`
    times (or always); returns how many beat rows existed at each failure."""
    original, seen = db_worker.close_old_connections, []

    def close_old_connections():
        if times is None or len(seen) < times:
            seen.append(WorkerBeat.objects.filter(worker_id="test-worker").count())
            raise OperationalError("database is locked")
        original()

    monkeypatch.setattr(db_worker, "close_old_connections", close_old_connections)
    return seen


@pytest.mark.django_db(transaction=True)
def test_a_loop_that_keeps_failing_ends_the_worker_and_its_beat(monkeypatch, caplog, settings):
    settings.TASKS = QUEUE
    failures = locked_database(monkeypatch)
    with caplog.at_level(logging.ERROR, logger="unionfunds.worker"), pytest.raises(SystemExit) as exit:
        kept_worker().run()
    assert exit.value.code == 1
    assert failures == [1] * worker.MAX_FAILURES  # it said it was alive while it tried
    assert not WorkerBeat.objects.exists() and not worker.workers_alive()
    assert "errors in a row; exiting" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_loop_thread_that_keeps_failing_ends_the_process_as_under_reload(monkeypatch, settings):
    settings.TASKS = QUEUE
    locked_database(monkeypatch)
    exits = []
    monkeypatch.setattr(worker.os, "_exit", exits.append)
    thread = threading.Thread(target=kept_worker().run)
    thread.start()
    thread.join(timeout=30)
    assert exits == [1]


@pytest.mark.django_db(transaction=True)
def test_a_passing_lock_is_outlived_and_the_queued_list_is_checked(alice_client, rich_fund, monkeypatch, settings):
    settings.TASKS = QUEUE
    job, _location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(3)))
    assert job.state == Job.State.QUEUED
    failures = locked_database(monkeypatch, times=2)
    kept_worker().run()  # --batch: returns once the queue is empty
    job.refresh_from_db()
    assert (len(failures), job.state, job.summary["rows"]) == (2, Job.State.PREVIEW, 3)


@pytest.mark.django_db
def test_the_pages_say_when_no_worker_is_taking_jobs(alice_client, rich_fund, settings):
    settings.TASKS = QUEUE
    _job, location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(3)))
    for page in (location, "/jobs/", "/disbursements/import/"):
        assert NO_WORKER in alice_client.get(page).content.decode(), page
    assert alice_client.get("/healthz").json()["workers"] == "none"

    beat = WorkerBeat.objects.create(
        worker_id="w1", host="app1", pid=1, started_at=timezone.now(), beat_at=timezone.now()
    )
    assert NO_WORKER not in alice_client.get(location).content.decode()
    assert alice_client.get("/healthz").json()["workers"] == "ok"

    beat.beat_at = timezone.now() - datetime.timedelta(seconds=worker.SILENT_SECONDS + 1)
    beat.save()
    assert NO_WORKER in alice_client.get(location).content.decode()


@pytest.mark.django_db
def test_no_warning_where_jobs_run_in_the_request(alice_client, rich_fund):
    job, _location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(3)))
    assert job.state == Job.State.PREVIEW  # the immediate backend of the tests
    assert NO_WORKER not in alice_client.get("/disbursements/import/").content.decode()


CHILD = """
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "unionfunds.settings"
os.environ["UNIONFUNDS_TESTING"] = "1"
from django.conf import settings
settings.DATABASES["default"]["NAME"] = os.environ["WORKER_DATABASE_NAME"]
settings.MEDIA_ROOT = os.environ["WORKER_MEDIA_ROOT"]  # where the upload was saved
settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
import django
django.setup()
from django.core.management import call_command
call_command("worker", batch=True, interval=0, startup_delay=False, reload=False, verbosity=0)
"""


@pytest.mark.django_db(transaction=True)
def test_manage_py_worker_takes_the_queued_list(alice_client, rich_fund, settings):
    """The command itself, in a process of its own, on the test database."""
    settings.TASKS = QUEUE
    job, _location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(3)))
    assert job.state == Job.State.QUEUED
    env = {
        **os.environ,
        "WORKER_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "WORKER_MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    job.refresh_from_db()
    assert job.state == Job.State.PREVIEW, (job.message, done.stdout[-3000:], done.stderr[-3000:])
    assert not WorkerBeat.objects.exists()  # a clean stop removes its beat


@pytest.mark.django_db(transaction=True)
def test_a_starting_worker_fails_what_a_killed_one_left_running(alice, rich_fund, settings):
    settings.TASKS = QUEUE
    left = Job.objects.create(
        kind=Job.Kind.IMPORT,
        title="名单",
        created_by=alice,
        federation=rich_fund.federation,
        state=Job.State.CHECKING,
        heartbeat_at=timezone.now() - datetime.timedelta(seconds=settings.UNIONFUNDS_JOB_STALE_SECONDS + 1),
    )
    kept_worker().run()  # an empty queue: it starts, looks, and ends
    left.refresh_from_db()
    assert (left.state, left.message) == (Job.State.FAILED, GONE_CHECKING)
