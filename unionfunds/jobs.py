"""Running a `Job` in a worker: its state, its progress, and why it failed.

Progress is written with plain UPDATEs outside the job's own transaction, so
the page that polls it sees it move while the work goes on.

A worker that dies (SIGKILL, out of memory, the machine restarted) cannot say
so, and its job would show "checking" or "writing" forever. So while a worker
runs a job, a thread of its own stamps the job's `heartbeat_at` every few
seconds, also while the job's main transaction is busy; `recover` fails a job
whose stamp is older than `UNIONFUNDS_JOB_STALE_SECONDS` unless its task is
still waiting in the queue. The job pages call it, and so does every worker
before it starts a job (a restarted worker's first act). Nothing needs undoing:
the commit of a list is one transaction that also moves its job to done, so a
job failed this way has written nothing, and if `recover` gave up on a worker
that was only slow, its commit is rolled back rather than written behind a
"failed" job.
"""

import datetime
import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, connections
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tasks import TaskResultStatus, default_task_backend

from unionfunds.models import Job

logger = logging.getLogger(__name__)

WORKER_GONE_CHECKING = gettext_lazy(
    "The worker stopped while checking the list; nothing was written. Upload the list again."
)
WORKER_GONE_WRITING = gettext_lazy(
    "The worker stopped while writing the list; nothing was written. Upload the list again."
)
WORKER_GONE_EXPORTING = gettext_lazy("The worker stopped while exporting; no file was made. Export the list again.")


class Progress:
    """Reports done/total at most every `step` items, so that a million rows
    cost a few hundred small UPDATEs rather than a million."""

    def __init__(self, job: Job, total: int, step: int = 1000):
        self.job_id, self.total, self.step = job.pk, max(total, 0), step
        Job.objects.filter(pk=self.job_id).update(progress_done=0, progress_total=self.total)

    def __call__(self, done: int) -> None:
        if done % self.step:
            return
        total = max(self.total, done)
        Job.objects.filter(pk=self.job_id).update(progress_done=done, progress_total=total)

    def finish(self, done: int) -> None:
        Job.objects.filter(pk=self.job_id).update(progress_done=done, progress_total=max(self.total, done))


class Abandoned(Exception):
    """The job was failed by `recover` while its worker was still at it."""


def move(job: Job, to: str, *, expected: str | None = None, **fields) -> bool:
    """Move the job to `to`, from `expected` if given; a failed job stays failed
    (`recover` may have failed it while its worker was slow). Returns whether it moved."""
    job.state = to
    for name, value in fields.items():
        setattr(job, name, value)
    if to in (Job.State.DONE, Job.State.FAILED, Job.State.PREVIEW):
        job.finished_at = timezone.now()
    rows = Job.objects.filter(pk=job.pk)
    rows = rows.filter(state=expected) if expected else rows.exclude(state=Job.State.FAILED)
    return bool(rows.update(state=to, finished_at=job.finished_at, **fields))


def claim(job_id: int, *, expected: str, to: str) -> bool:
    """Move a job from one state to the next only if it is still in the first:
    two clicks on "confirm" start one commit, not two. The job is queued afresh:
    its last sign of life is now."""
    return bool(Job.objects.filter(pk=job_id, state=expected).update(state=to, heartbeat_at=timezone.now()))


def enqueue(task, job: Job) -> None:
    """Queue `task` for the job and remember which task it is, so that `recover`
    can tell a job waiting for a worker from one whose worker is gone."""
    result = task.enqueue(job.pk)
    Job.objects.filter(pk=job.pk).update(task_id=str(result.id))


def run(job_id: int, work: Callable[[Job], None]) -> None:
    """Run `work` for the job in its creator's language; any error ends the job
    as failed, with a message the user can act on."""
    with Heartbeat(job_id):
        recover(Job.objects.exclude(pk=job_id))
        job = Job.objects.select_related("created_by", "federation").get(pk=job_id)
        if job.state == Job.State.FAILED:
            return
        with translation.override(job.params.get("language") or "zh-hans"):
            try:
                work(job)
            except Abandoned:
                logger.warning("job %s: failed meanwhile as abandoned; its work was rolled back", job_id)
            except (ValidationError, PermissionDenied) as error:
                text = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
                move(job, Job.State.FAILED, message=text or _("Not allowed."))
            except Exception:
                logger.exception("job %s failed", job_id)
                move(
                    job,
                    Job.State.FAILED,
                    message=_("The job stopped on an unexpected error; nothing was written. Try again, or ask IT."),
                )


# A worker's signs of life ------------------------------------------------------------------


def stale_seconds() -> int:
    return settings.UNIONFUNDS_JOB_STALE_SECONDS


class Heartbeat:
    """Stamps the job's `heartbeat_at` now, then every sixth of the stale time
    from a thread with its own database connection, until the block ends.

    When the job runs inside a transaction (tests, the immediate task backend
    within a request), no other connection could see the job anyway: no thread.
    """

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.every = max(stale_seconds() / 6, 0.5)
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> "Heartbeat":
        self.beat()
        if not connection.in_atomic_block:
            self.thread = threading.Thread(target=self._beating, name=f"job-{self.job_id}-heartbeat", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()

    def beat(self) -> None:
        Job.objects.filter(pk=self.job_id, state__in=Job.RUNNING).update(heartbeat_at=timezone.now())

    def _beating(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                try:
                    self.beat()
                except DatabaseError as error:  # e.g. SQLite, while the job's own commit holds the write lock
                    logger.warning("job %s: heartbeat not written this time (%s)", self.job_id, error)
        finally:
            connections.close_all()  # this thread's connection


def recover(jobs: QuerySet | None = None) -> list[int]:
    """Fail every job of `jobs` (all jobs by default) whose worker is gone: it
    is running, has shown no sign of life for the stale time, and its task is
    not waiting in the queue. Returns the ids of the jobs failed."""
    now = timezone.now()
    cutoff = now - datetime.timedelta(seconds=stale_seconds())
    silent = (Job.objects.all() if jobs is None else jobs).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff), state__in=Job.RUNNING
    )
    failed = []
    for job in silent.only("pk", "kind", "state", "heartbeat_at", "task_id", "params"):
        task = _task_result(job.task_id)
        if task is not None and task.status == TaskResultStatus.READY:
            continue  # waiting for a worker, not abandoned by one
        with translation.override(job.params.get("language") or "zh-hans"):
            message = str(_worker_gone_message(job))
        try:
            # Only if nothing moved meanwhile: not a new beat, not the worker's own end.
            moved = Job.objects.filter(pk=job.pk, state=job.state, heartbeat_at=job.heartbeat_at).update(
                state=Job.State.FAILED, finished_at=now, message=message
            )
        except DatabaseError:  # SQLite: a writer holds the lock, perhaps that very worker
            logger.warning("job %s: could not be marked failed now", job.pk, exc_info=True)
            continue
        if moved:
            logger.warning("job %s: its worker is gone (%s, task %s); marked failed", job.pk, job.state, job.task_id)
            failed.append(job.pk)
            _fail_task(task)
    return failed


def _worker_gone_message(job: Job):
    if job.kind == Job.Kind.EXPORT:
        return WORKER_GONE_EXPORTING
    return WORKER_GONE_WRITING if job.state == Job.State.COMMITTING else WORKER_GONE_CHECKING


def _task_result(task_id: str):
    """The job's task as the task backend knows it, or None if it cannot tell
    (no id, a backend that keeps no results, a result since deleted)."""
    if not task_id or not default_task_backend.supports_get_result:
        return None
    try:
        return default_task_backend.get_result(task_id)
    except Exception:  # TaskResultDoesNotExist, or a task that can no longer be imported
        return None


class WorkerGone(RuntimeError):
    pass


def _fail_task(task) -> None:
    """A killed worker leaves its task RUNNING too (django-tasks-db's table): say
    what happened there as well."""
    if task is None or task.status != TaskResultStatus.RUNNING or not hasattr(task, "db_result"):
        return
    try:
        task.db_result.set_failed(WorkerGone("the worker stopped while running this task (unionfunds.jobs.recover)"))
    except DatabaseError:
        logger.warning("task %s: could not be marked failed", task.id, exc_info=True)
