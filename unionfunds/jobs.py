"""Running a `Job` in a worker: its state, its progress, and why it failed.

Progress is written with plain UPDATEs outside the job's own transaction, so
the page that polls it sees it move while the work goes on.
"""

import logging
from collections.abc import Callable

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from unionfunds.models import Job

logger = logging.getLogger(__name__)


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


def move(job: Job, to: str, **fields) -> None:
    job.state = to
    for name, value in fields.items():
        setattr(job, name, value)
    if to in (Job.State.DONE, Job.State.FAILED, Job.State.PREVIEW):
        job.finished_at = timezone.now()
    Job.objects.filter(pk=job.pk).update(state=to, finished_at=job.finished_at, **fields)


def claim(job_id: int, *, expected: str, to: str) -> bool:
    """Move a job from one state to the next only if it is still in the first:
    two clicks on "confirm" start one commit, not two."""
    return bool(Job.objects.filter(pk=job_id, state=expected).update(state=to))


def run(job_id: int, work: Callable[[Job], None]) -> None:
    """Run `work` for the job in its creator's language; any error ends the job
    as failed, with a message the user can act on."""
    job = Job.objects.select_related("created_by", "federation").get(pk=job_id)
    with translation.override(job.params.get("language") or "zh-hans"):
        try:
            work(job)
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
