"""A worker that dies leaves no job "checking" or "writing" forever, and nothing half-written.

The worker stamps its job's heartbeat while it works; a job whose heartbeat has
stopped for `UNIONFUNDS_JOB_STALE_SECONDS` and whose task is not waiting in the
queue is failed, with a message saying what happened, when its page is viewed or
when a worker starts its next job. The tests use django-tasks-db's queue (the
production backend) where the task's state matters, and once a real worker
process killed with SIGKILL in the middle of a commit.
"""

import datetime
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection, connections
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from allocations import services
from allocations.models import Disbursement, Fund
from beneficiaries.models import Beneficiary
from tests.test_list_import import frontline_rows, upload, xlsx_bytes
from unionfunds import jobs
from unionfunds.models import Job

BASE_DIR = Path(__file__).resolve().parent.parent
QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
STALE = 60
GONE_WRITING = "后台处理程序在写入名单时停止运行，未写入任何数据。请重新上传名单。"
GONE_CHECKING = "后台处理程序在检查名单时停止运行，未写入任何数据。请重新上传名单。"


@pytest.fixture
def queue(settings):
    """django-tasks-db's queue, as in production: enqueued tasks wait for a worker."""
    settings.TASKS = QUEUE
    settings.UNIONFUNDS_JOB_STALE_SECONDS = STALE
    return settings


def work_the_queue() -> None:
    """What `manage.py worker` does with each waiting task, in this process: claim
    it, run it, record the outcome (its loop also closes old connections, which a
    test's transaction would not survive)."""
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    while (task := DBTaskResult.objects.ready().first()) is not None:
        task.claim(worker.worker_id)
        worker.run_task(task)


def silent_for(job: Job, seconds: int) -> None:
    """The job's last sign of life was `seconds` ago."""
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - datetime.timedelta(seconds=seconds))


def taken_by_a_worker(job: Job) -> DBTaskResult:
    """Its task claimed by a worker that then died: RUNNING, and nobody at work."""
    job.refresh_from_db()
    task = DBTaskResult.objects.get(pk=job.task_id)
    task.claim("killed-worker")
    return task


def previewed(client, fund, rows: int = 5) -> tuple[Job, str]:
    # No person categories: a transactional test's flush has removed the ones the migrations made.
    job, location = upload(client, fund, xlsx_bytes([[*row[:5], "", *row[6:]] for row in frontline_rows(rows)]))
    work_the_queue()
    job.refresh_from_db()
    assert job.state == Job.State.PREVIEW and not job.problems
    return job, location


@pytest.mark.django_db
def test_a_list_whose_worker_died_while_writing_fails_on_its_page_with_nothing_written(alice_client, rich_fund, queue):
    job, location = previewed(alice_client, rich_fund)
    alice_client.post(f"{location}confirm/")
    task = taken_by_a_worker(job)
    silent_for(job, STALE + 1)

    page = alice_client.get(location).content.decode()

    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.message == GONE_WRITING
    assert GONE_WRITING in page and "上传" in page
    task.refresh_from_db()
    assert task.status == TaskResultStatus.FAILED and "worker stopped" in task.traceback
    assert not Disbursement.objects.exists()
    assert Fund.objects.get(pk=rich_fund.pk).reserved == Decimal("0.00")


@pytest.mark.django_db
def test_the_progress_poll_and_the_job_list_find_an_abandoned_check_too(alice_client, rich_fund, queue):
    polled, location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(3)))
    listed, _ = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(3)))
    for job in (polled, listed):
        taken_by_a_worker(job)
        Job.objects.filter(pk=job.pk).update(state=Job.State.CHECKING)
        silent_for(job, STALE + 1)

    assert alice_client.get(f"{location}progress/").json()["state"] == "failed"
    assert Job.objects.get(pk=listed.pk).state == Job.State.CHECKING
    assert "失败" in alice_client.get("/jobs/").content.decode()
    assert set(Job.objects.values_list("state", "message")) == {(Job.State.FAILED, GONE_CHECKING)}


@pytest.mark.django_db
def test_a_job_waiting_for_a_worker_is_left_waiting_however_long(alice_client, rich_fund, queue):
    """No worker running for an hour is not a dead worker: the task is still in the queue."""
    job, location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(3)))
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - datetime.timedelta(hours=1))

    assert alice_client.get(f"{location}progress/").json()["state"] == "queued"
    assert jobs.recover() == []

    work_the_queue()  # the worker comes back and does it
    job.refresh_from_db()
    assert job.state == Job.State.PREVIEW


@pytest.mark.django_db
def test_a_confirmed_list_long_in_preview_is_not_taken_for_abandoned(alice_client, rich_fund, queue):
    """Its check ended long ago; confirming queues it afresh."""
    job, location = previewed(alice_client, rich_fund)
    silent_for(job, 3600)
    alice_client.post(f"{location}confirm/")

    assert jobs.recover() == []
    work_the_queue()
    job.refresh_from_db()
    assert (job.state, job.summary["created"]) == (Job.State.DONE, 5)


@pytest.mark.django_db
def test_a_worker_still_beating_is_left_alone(alice_client, rich_fund, queue):
    job, location = previewed(alice_client, rich_fund)
    alice_client.post(f"{location}confirm/")
    taken_by_a_worker(job)
    silent_for(job, STALE - 5)

    assert alice_client.get(f"{location}progress/").json()["state"] == "committing"
    assert jobs.recover() == []


@pytest.mark.django_db
def test_a_task_that_ended_without_finishing_its_job_is_abandoned(alice_client, rich_fund, queue):
    """A worker stopped by a second Ctrl+C marks its task failed but not the job."""
    job, location = previewed(alice_client, rich_fund)
    alice_client.post(f"{location}confirm/")
    task = taken_by_a_worker(job)
    task.set_failed(SystemExit(1))
    silent_for(job, STALE + 1)

    assert jobs.recover() == [job.pk]
    job.refresh_from_db()
    assert (job.state, job.message) == (Job.State.FAILED, GONE_WRITING)


@pytest.mark.django_db
def test_a_worker_fails_the_abandoned_jobs_before_it_starts_the_next(alice_client, rich_fund, queue):
    abandoned, _ = previewed(alice_client, rich_fund)
    alice_client.post(f"/jobs/{abandoned.pk}/confirm/")
    taken_by_a_worker(abandoned)
    silent_for(abandoned, STALE + 1)
    upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(2, start=100)))

    work_the_queue()

    abandoned.refresh_from_db()
    assert (abandoned.state, abandoned.message) == (Job.State.FAILED, GONE_WRITING)
    assert Job.objects.exclude(pk=abandoned.pk).get().state == Job.State.PREVIEW


@pytest.mark.django_db
def test_the_message_is_in_the_language_the_job_was_started_in(client, alice, rich_fund, queue, settings):
    client.force_login(alice)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    job, _location = upload(client, rich_fund, xlsx_bytes(frontline_rows(2)))
    assert job.params["language"] == "en"
    taken_by_a_worker(job)
    silent_for(job, STALE + 1)

    assert jobs.recover() == [job.pk]
    job.refresh_from_db()
    assert (
        job.message
        == str(jobs.WORKER_GONE_CHECKING)
        == ("The worker stopped while checking the list; nothing was written. Upload the list again.")
    )


@pytest.mark.django_db
def test_an_export_whose_worker_died_says_no_file_was_made(client, carol, qinghai_2022, queue):
    queue.UNIONFUNDS_EXPORT_INLINE_ROWS = 1
    client.force_login(carol)
    location = client.get("/disbursements/export.xlsx")["Location"]
    job = Job.objects.get(kind=Job.Kind.EXPORT)
    taken_by_a_worker(job)
    silent_for(job, STALE + 1)

    assert "未生成文件" in client.get(location).content.decode()
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and not job.output


@pytest.mark.django_db(transaction=True)
def test_a_list_is_never_written_behind_a_job_failed_meanwhile(alice_client, rich_fund, queue, monkeypatch):
    """The worker pauses past the stale time in the middle of its commit (a frozen
    VM, a stopped process), and a page view takes it for dead. On PostgreSQL the
    page view fails the job while the commit is open, and the commit, finding its
    job failed, rolls back. SQLite lets no one write during the commit: the page
    view waits for it, then finds the job done. Either way the job tells the truth."""
    job, location = previewed(alice_client, rich_fund)
    alice_client.post(f"{location}confirm/")
    create = services.disbursements_create
    seen, views = [], []

    def paused_past_the_stale_time(**kwargs):
        created = create(**kwargs)

        def page_view():  # another request, on its own connection
            try:
                silent_for(job, STALE + 1)
                seen.append(jobs.recover(Job.objects.filter(pk=job.pk)))
            finally:
                connections.close_all()

        views.append(threading.Thread(target=page_view))
        views[0].start()
        if connection.vendor == "postgresql":
            views[0].join(timeout=30)
        return created

    monkeypatch.setattr(services, "disbursements_create", paused_past_the_stale_time)
    work_the_queue()
    views[0].join(timeout=30)

    job.refresh_from_db()
    if connection.vendor == "postgresql":
        assert seen == [[job.pk]]
        assert (job.state, job.message) == (Job.State.FAILED, GONE_WRITING)
        assert (Disbursement.objects.count(), Beneficiary.objects.count()) == (0, 0)
        assert Fund.objects.get(pk=rich_fund.pk).reserved == Decimal("0.00")
    else:
        assert seen == [[]]
        assert (job.state, Disbursement.objects.count()) == (Job.State.DONE, 5)
        assert Fund.objects.get(pk=rich_fund.pk).reserved == Decimal("5000.00")


@pytest.mark.django_db(transaction=True)
def test_a_working_job_beats_from_a_thread_of_its_own(rich_fund, alice, settings):
    settings.UNIONFUNDS_JOB_STALE_SECONDS = 3  # a beat every half second
    job = Job.objects.create(
        kind=Job.Kind.IMPORT, title="名单", created_by=alice, federation=rich_fund.federation, state="checking"
    )
    with jobs.Heartbeat(job.pk) as heartbeat:
        first = Job.objects.get(pk=job.pk).heartbeat_at
        time.sleep(1.2)  # the main thread busy, as in a long query
        assert heartbeat.thread is not None and Job.objects.get(pk=job.pk).heartbeat_at > first
    assert not heartbeat.thread.is_alive()


# A real worker process, killed ------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, time

    os.environ["DJANGO_SETTINGS_MODULE"] = "unionfunds.settings"
    os.environ["UNIONFUNDS_TESTING"] = "1"
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = os.environ["RECOVERY_DATABASE_NAME"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    import django

    django.setup()
    from django.core.management import call_command

    from unionfunds import jobs

    move = jobs.move

    def stall(job, to, **kwargs):
        if kwargs.get("expected") == "committing":  # every row inserted, the transaction still open
            print("writing", flush=True)
            time.sleep(600)
        return move(job, to, **kwargs)

    jobs.move = stall
    call_command("worker", batch=True, interval=0, startup_delay=False, reload=False, verbosity=0)
    """
)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_a_commit_leaves_nothing_and_its_job_fails(alice_client, rich_fund, queue):
    job, location = previewed(alice_client, rich_fund, rows=300)
    alice_client.post(f"{location}confirm/")
    env = {**os.environ, "RECOVERY_DATABASE_NAME": str(connection.settings_dict["NAME"])}
    worker = subprocess.Popen(
        [sys.executable, "-c", CHILD], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = worker.stdout.readline()
        if line.strip() != "writing":
            worker.wait(timeout=30)
            pytest.fail(f"the worker did not reach the commit: {line!r}\n{worker.stderr.read()[-3000:]}")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    job.refresh_from_db()
    assert job.state == Job.State.COMMITTING  # what a killed worker leaves behind
    assert DBTaskResult.objects.get(pk=job.task_id).status == TaskResultStatus.RUNNING
    assert (Disbursement.objects.count(), Beneficiary.objects.count()) == (0, 0)
    assert Fund.objects.get(pk=rich_fund.pk).reserved == Decimal("0.00")

    silent_for(job, STALE + 1)
    assert alice_client.get(f"{location}progress/").json()["state"] == "failed"
    job.refresh_from_db()
    assert job.message == GONE_WRITING
    assert DBTaskResult.objects.get(pk=job.task_id).status == TaskResultStatus.FAILED

    # Uploaded again, the same list is written whole.
    again, location = previewed(alice_client, rich_fund, rows=300)
    alice_client.post(f"{location}confirm/")
    work_the_queue()
    again.refresh_from_db()
    assert (again.state, Disbursement.objects.count()) == (Job.State.DONE, 300)
    assert Fund.objects.get(pk=rich_fund.pk).reserved == Decimal("300000.00")
