"""Background work of a household sheet: checking it and filing it.

As with payment lists (`allocations.tasks`): each task takes a `Job` id and
records its progress and outcome on the job, and the commit is one transaction
with the job's move to done, so a sheet is filed whole or not at all.
"""

import datetime

from django.db import transaction
from django_tasks import task

from allocations import archive_imports, imports, tasks
from beneficiaries import archive_lists
from unionfunds import jobs
from unionfunds.errors import ListRefused
from unionfunds.models import Federation, Job


@task()
def check_household_sheet(job_id: int) -> None:
    jobs.run(job_id, _check)


@task()
def commit_household_sheet(job_id: int) -> None:
    jobs.run(job_id, _commit)


def _arguments(job: Job) -> dict:
    params = job.params
    return {
        "federation": Federation.objects.get(pk=params["federation"]),
        "by": job.created_by,
        "valid_from": datetime.date.fromisoformat(params["valid_from"]) if params.get("valid_from") else None,
        "standard": params.get("standard", ""),
    }


def _check(job: Job) -> None:
    jobs.move(job, Job.State.CHECKING)
    if job.rows is None:
        _read_sheet(job)
        if job.state == Job.State.FAILED:
            return
    rows, headers = job.rows, job.summary.get("headers", {})
    cell_problems = job.summary.get("cell_problems", [])
    summary = {**job.summary, "rows": len(rows), "households": len({row.get("household") for row in rows})}
    try:
        checked = archive_lists.households_check(rows=archive_imports.household_rows(rows), **_arguments(job))
    except ListRefused as refused:
        problems = archive_imports.merge_problems(cell_problems, archive_imports.list_problems(refused, rows, headers))
    else:
        problems = archive_imports.merge_problems(cell_problems, [])
        summary.update(households=checked.households, members=checked.members, new_people=checked.new_people)
    jobs.move(job, Job.State.PREVIEW, problems=problems, summary=summary, message="")


def _read_sheet(job: Job) -> None:
    tasks.read_sheet(
        job,
        max_rows=archive_lists.MAX_ROWS + imports.HEADER_SEARCH_LINES + 1,
        parse=archive_imports.parse_households,
    )


def _commit(job: Job) -> None:
    try:
        with transaction.atomic():
            filed = archive_lists.households_file_many(rows=archive_imports.household_rows(job.rows), **_arguments(job))
            summary = {**job.summary, "filed": len(filed.households), "first_entry": min(filed.entries, default=None)}
            # Done in the filing's own transaction: a job failed meanwhile as abandoned files nothing.
            if not jobs.move(job, Job.State.DONE, expected=Job.State.COMMITTING, summary=summary, message=""):
                raise jobs.Abandoned(job.pk)
    except ListRefused as refused:
        # Something changed since the preview (someone filed one of these people
        # meanwhile): back to the preview with what is wrong now.
        problems = archive_imports.list_problems(refused, job.rows, job.summary.get("headers", {}))
        jobs.move(job, Job.State.PREVIEW, problems=problems)
