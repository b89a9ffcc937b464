from django_tasks_db.management.commands import db_worker

from unionfunds.worker import KeptWorker


class Command(db_worker.Command):
    help = (
        "Run the job worker (imports, long exports): django-tasks-db's db_worker, which says it is alive "
        "and exits when its loop keeps failing. Takes db_worker's options."
    )

    def handle(self, *args, **options) -> None:
        # db_worker builds its Worker by name; ours restarts the loop and beats.
        original = db_worker.Worker
        db_worker.Worker = KeptWorker
        try:
            super().handle(*args, **options)
        finally:
            db_worker.Worker = original
