"""The job worker (`manage.py worker`): django-tasks-db's loop, made to say
that it is alive and to stop when it no longer works.

django-tasks-db's `db_worker` lets its loop die quietly in two ways: an error
it does not expect (SQLite's "database is locked" outside the one place it
retries, a dropped PostgreSQL connection) ends the loop, and under `--reload`
the loop is a thread, so the process lives on with nothing taking jobs; the
clerk's import sits at "queued" with no warning. Here the loop is restarted
after an error, a few times with growing pauses, and if it keeps failing the
process exits non-zero for its supervisor (systemd, `make run`) to see. All
along, a thread stamps a `WorkerBeat`: `workers_alive` tells the pages whether
anyone is taking jobs, and every few minutes deletes the request-limit
windows that have ended.
"""

import logging
import os
import socket
import threading
import time

from django.db import DatabaseError, connections
from django.utils import timezone
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker

from unionfunds import jobs, ratelimit
from unionfunds.models import WorkerBeat

logger = logging.getLogger(__name__)

BEAT_SECONDS = 5.0
# A worker is taken for gone after this long without a beat (three missed).
SILENT_SECONDS = 3 * BEAT_SECONDS + 1
# Errors in a row (each loop restart that ends in one) before the process gives up.
MAX_FAILURES = 5
HEALTHY_SECONDS = 60.0
# Ended request-limit windows are deleted this often (unionfunds.ratelimit).
PRUNE_EVERY_BEATS = 60


def workers_alive() -> bool:
    """Whether some worker has said it is alive lately. True when jobs do not
    go to a worker at all (the immediate backend runs them in the request)."""
    if not isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], DatabaseBackend):
        return True
    cutoff = timezone.now() - timezone.timedelta(seconds=SILENT_SECONDS)
    return WorkerBeat.objects.filter(beat_at__gte=cutoff).exists()


class Beating:
    """Stamps this worker's `WorkerBeat` now and every BEAT_SECONDS from a
    thread of its own, until `stop`; the row is removed on a clean stop."""

    def __init__(self, worker_id: str, every: float = BEAT_SECONDS):
        self.worker_id, self.every = worker_id, every
        self.stopped = threading.Event()
        self.started_at = timezone.now()
        self.thread = threading.Thread(target=self._beating, name="worker-beat", daemon=True)

    def start(self) -> "Beating":
        self.beat()
        self.thread.start()
        return self

    def beat(self) -> None:
        try:
            WorkerBeat.objects.update_or_create(
                worker_id=self.worker_id,
                defaults={"beat_at": timezone.now()},
                create_defaults={
                    "beat_at": timezone.now(),
                    "started_at": self.started_at,
                    "host": socket.gethostname()[:255],
                    "pid": os.getpid(),
                },
            )
        except DatabaseError as error:  # SQLite while a commit holds the lock: the next beat
            logger.warning("worker %s: beat not written this time (%s)", self.worker_id, error)

    def housekeeping(self) -> None:
        try:
            ratelimit.prune()
        except DatabaseError as error:
            logger.warning("worker %s: ended rate windows not pruned this time (%s)", self.worker_id, error)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=self.every * 2)
        try:
            WorkerBeat.objects.filter(worker_id=self.worker_id).delete()
        except DatabaseError:
            logger.warning("worker %s: its beat row was left behind", self.worker_id, exc_info=True)

    def _beating(self) -> None:
        beats = 0
        try:
            while not self.stopped.wait(self.every):
                self.beat()
                beats += 1
                if beats % PRUNE_EVERY_BEATS == 0:
                    self.housekeeping()
        finally:
            connections.close_all()  # this thread's connection


class KeptWorker(Worker):
    """`Worker` whose loop is restarted after an error and which gives up,
    exiting, when the errors keep coming."""

    failure_pause = 1.0

    def run(self) -> None:
        beating = Beating(self.worker_id).start()
        try:
            jobs.recover()  # what a predecessor killed mid-job left "checking" or "writing"
        except DatabaseError:  # the first job's own recover runs again anyway
            logger.warning("worker %s: abandoned jobs not looked for at start", self.worker_id, exc_info=True)
        failures = 0
        try:
            while self.running:
                started = time.monotonic()
                try:
                    super().run()
                    return  # --batch or --max-tasks: the loop ended as asked
                except Exception:
                    # In a row: a loop that ran a good while before its error starts the count again.
                    failures = 1 if time.monotonic() - started > HEALTHY_SECONDS else failures + 1
                    logger.exception("worker %s: its loop stopped on an error (%s in a row)", self.worker_id, failures)
                    if failures >= MAX_FAILURES:
                        break
                    connections.close_all()  # a broken connection is opened afresh
                    time.sleep(self.failure_pause * 2 ** (failures - 1))
        finally:
            beating.stop()
        logger.critical(
            "worker %s: %s errors in a row; exiting for the supervisor to restart it", self.worker_id, failures
        )
        if threading.current_thread() is threading.main_thread():
            raise SystemExit(1)
        # Under --reload the loop is a thread of Django's reloader, which would
        # otherwise watch the files on forever with no worker.
        os._exit(1)
