"""Background work: checking and committing disbursement lists, big exports.

Each task takes a `Job` id and records its progress and outcome on the job;
the pages poll the job. The commit is one transaction, with the job's move to
done: if it fails, or the worker is killed halfway, the list is either all
written or not at all, and the job says which.
"""

import datetime
import tempfile

from django.core.files import File
from django.db import transaction
from django.http import QueryDict
from django_tasks import task

from allocations import imports, lists, services
from allocations.models import Fund, ListOrigin
from unionfunds import exportlog, jobs, listexports, sheetreader, spreadsheets
from unionfunds.errors import ListRefused
from unionfunds.models import Job
from unionfunds.money import valid_amount


@task()
def check_disbursement_list(job_id: int) -> None:
    jobs.run(job_id, _check)


@task()
def commit_disbursement_list(job_id: int) -> None:
    jobs.run(job_id, _commit)


@task()
def export_list(job_id: int) -> None:
    jobs.run(job_id, _export)


def _list_arguments(job: Job) -> dict:
    params = job.params
    return {
        "fund": Fund.objects.order_by().select_related("federation").get(pk=params["fund"]),
        "by": job.created_by,
        "assistance_type": params.get("assistance_type") or None,
        "date": datetime.date.fromisoformat(params["date"]) if params.get("date") else None,
    }


def _check(job: Job) -> None:
    jobs.move(job, Job.State.CHECKING)
    if job.rows is None:
        _read_sheet(job)
        if job.state == Job.State.FAILED:
            return
    rows, headers = job.rows, job.summary.get("headers", {})
    cell_problems = job.summary.get("cell_problems", [])
    try:
        checked = services.disbursements_check(rows=imports.list_rows(rows), **_list_arguments(job))
    except ListRefused as refused:
        problems = imports.merge_problems(cell_problems, imports.list_problems(refused, rows, headers))
        summary = {**job.summary, **_totals(rows)}
    else:
        problems = imports.merge_problems(cell_problems, [])
        summary = {
            **job.summary,
            **_totals(rows),
            "new_people": checked.new_people,
            "confirmed_duplicates": checked.confirmed_duplicates,
            "available": str(checked.fund.available),
        }
    jobs.move(job, Job.State.PREVIEW, problems=problems, summary=summary, message="")


def _read_sheet(job: Job) -> None:
    read_sheet(job, max_rows=lists.MAX_ROWS + imports.HEADER_SEARCH_LINES + 1, parse=imports.parse_list)


def read_sheet(job: Job, *, max_rows: int, parse) -> None:
    """Read an uploaded sheet into the job's rows, or fail the job saying why:
    the first step of every sheet import (payment lists, households), whose
    parser turns the sheet's lines into rows and cell problems."""
    with job.upload.open("rb") as upload:
        content = upload.read()
    try:
        reading = sheetreader.read(content, max_rows=max_rows)
        progress = jobs.Progress(job, reading.size_hint)
        parsed = parse(reading.lines, progress=progress)
    except sheetreader.SheetError as error:
        jobs.move(job, Job.State.FAILED, message=str(error))
        return
    progress.finish(len(parsed.rows))
    summary = {
        "headers": parsed.headers,
        "ignored_columns": parsed.ignored_columns,
        "skipped_lines": parsed.skipped_lines,
        "cell_problems": parsed.problems,
    }
    job.rows, job.summary = parsed.rows, summary
    Job.objects.filter(pk=job.pk).update(rows=parsed.rows, summary=summary)


def _totals(rows: list[dict]) -> dict:
    total = 0
    for row in rows:
        try:
            total += valid_amount(row.get("amount"))
        except Exception:  # a bad amount is reported as a problem of its row
            continue
    return {"rows": len(rows), "total": str(total)}


def _commit(job: Job) -> None:
    try:
        with transaction.atomic():
            created = services.disbursements_create(
                rows=imports.list_rows(job.rows),
                batch=job.params.get("batch", ""),
                origin=ListOrigin.IMPORT,
                **_list_arguments(job),
            )
            summary = {**job.summary, "created": len(created), "first_id": created.ids[0] if created else None}
            # The job is done in the list's own transaction: if `jobs.recover` took this
            # worker for dead meanwhile and failed the job, the list is not written either.
            if not jobs.move(job, Job.State.DONE, expected=Job.State.COMMITTING, summary=summary, message=""):
                raise jobs.Abandoned(job.pk)
    except ListRefused as refused:
        # Something changed since the preview (the fund was spent, someone was
        # paid meanwhile): back to the preview with what is wrong now.
        problems = imports.list_problems(refused, job.rows, job.summary.get("headers", {}))
        jobs.move(job, Job.State.PREVIEW, problems=problems)


def _export(job: Job) -> None:
    jobs.move(job, Job.State.CHECKING)
    params = job.params
    query = QueryDict(params.get("query", ""))
    spec = listexports.EXPORTS[params["what"]]
    queryset, form = spec.filtered(job.created_by, query)
    progress = jobs.Progress(job, queryset.count())
    counter = listexports.Counter()
    sheet = listexports.build_sheet(
        params["what"],
        job.created_by,
        query,
        full_ids=bool(params.get("full_ids")),
        counter=counter,
        queryset=queryset,
        form=form,
    )
    sheet.rows = _reporting(sheet.rows, progress)
    extension = params["format"]
    with tempfile.TemporaryFile() as output:
        if extension == "csv":
            for text in spreadsheets.csv_lines(sheet):
                output.write(text.encode("utf-8"))
        else:
            spreadsheets.xlsx_file(sheet, output)
        output.seek(0)
        # Stored under the ASCII name; the download is named `filename` (the user's language).
        job.output.save(params.get("fallback") or params["filename"], File(output), save=False)
    progress.finish(counter.rows)
    exportlog.record(
        user=job.created_by,
        what=params["what"],
        format=extension,
        query=query,
        rows=counter.rows,
        full_ids=bool(params.get("full_ids")),
    )
    refused = listexports.full_ids_refused(params["what"], job.created_by, bool(params.get("full_ids")))
    message = str(listexports.FULL_IDS_REFUSED) if refused else ""
    jobs.move(job, Job.State.DONE, output=job.output.name, summary={"rows": counter.rows}, message=message)


def _reporting(rows, progress: jobs.Progress):
    for done, row in enumerate(rows, start=1):
        progress(done)
        yield row
