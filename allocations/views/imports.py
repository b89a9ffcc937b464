"""Disbursement lists from spreadsheets, in the browser: upload or paste, see
every problem by row and column, fix the sheet or the rows, confirm.

The checking and the writing run in a worker (`allocations.tasks`); these
views start them and show the job's page, which follows their progress.
"""

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from allocations import imports, tasks
from allocations.forms import ListImportForm, ListRowFixForm, funds_for
from allocations.models import AssistanceType
from unionfunds import downloads, jobs, spreadsheets
from unionfunds.forms_support import submit_once
from unionfunds.models import Job
from unionfunds.worker import workers_alive

MAX_ROWS_TO_FIX = 100  # more problems than this are better fixed in the sheet


@login_required
def list_import(request):
    if not funds_for(request.user).exists():
        raise PermissionDenied(_("Only a clerk can enter money movements."))
    form = ListImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        location = submit_once(request, form.cleaned_data["submission"], lambda: _start(request, form.cleaned_data))
        return redirect(location)
    context = {"form": form, "columns": imports.template_columns(), "no_worker": not workers_alive()}
    return render(request, "allocations/list_import.html", context)


def _start(request, data) -> str:
    if data["sheet"]:
        upload, title = data["sheet"], data["sheet"].name[:200]
    else:
        upload, title = ContentFile(data["pasted"].encode("utf-8"), name="pasted.txt"), _("Pasted rows")
    fund = data["fund"]
    job = Job(
        kind=Job.Kind.IMPORT,
        title=title,
        created_by=request.user,
        federation=fund.federation,
        params={
            "fund": fund.pk,
            "assistance_type": data["assistance_type"],
            "date": data["date"].isoformat(),
            "batch": data["batch"],
            "language": translation.get_language(),
        },
    )
    job.upload.save(upload.name, upload, save=False)
    job.save()
    jobs.enqueue(tasks.check_disbursement_list, job)
    return job_url(job)


def job_url(job: Job) -> str:
    return reverse("job", args=[job.pk])


@login_required
def list_template(request, extension: str):
    """An empty list with the headers the import reads, and what goes in each."""
    if extension not in ("xlsx", "csv"):
        raise Http404
    with translation.override("zh-hans"):
        columns = imports.template_columns()
    sheet = spreadsheets.Sheet(
        title="发放名单",
        columns=[spreadsheets.Column(header, width=22 if header == "身份证号" else 14) for header, _note in columns],
        rows=[],
    )
    # Named in Chinese whatever the user's language: its headers are Chinese too.
    filename, fallback = f"发放名单模板.{extension}", f"disbursement-list-template.{extension}"
    if extension == "csv":
        return downloads.sheet_response(sheet, "csv", filename, fallback=fallback)
    return downloads.file_response(io.BytesIO(_template_xlsx(columns)), filename, fallback, downloads.XLSX)


def _template_xlsx(columns) -> bytes:
    import xlsxwriter

    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {"in_memory": True})
    sheet = book.add_worksheet("发放名单")
    header = book.add_format({"bold": True, "bg_color": "#EEF2F7", "border": 1})
    text = book.add_format({"num_format": "@"})  # ID numbers and phones stay text in Excel
    money = book.add_format({"num_format": "0.00"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    formats = {"身份证号": text, "联系电话": text, "金额": money, "发放日期": day}
    for index, (title, _note) in enumerate(columns):
        sheet.write_string(0, index, title, header)
        sheet.set_column(index, index, 22 if title == "身份证号" else 14, formats.get(title))
    with translation.override("zh-hans"):
        types = [str(label) for _code, label in AssistanceType.choices]
    sheet.data_validation(1, 3, 100_000, 3, {"validate": "list", "source": types, "ignore_blank": True})
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, 0, len(columns) - 1)
    write_notes(book, columns, header)
    book.close()
    return output.getvalue()


def write_notes(book, columns: list[tuple[str, str]], header) -> None:
    """The template's second sheet: what goes in each column (填写说明)."""
    notes = book.add_worksheet("填写说明")
    notes.set_column(0, 0, 14)
    notes.set_column(1, 1, 90)
    for index, (title, note) in enumerate(columns):
        notes.write_string(index, 0, title, header)
        notes.write_string(index, 1, note)


# The job page -------------------------------------------------------------------------


def my_job(request, pk: int) -> Job:
    # Not the rows (a 100,000-row list is tens of megabytes of JSON): the progress is
    # polled every two seconds. The preview and the fixes load them when they use them.
    job = get_object_or_404(Job.objects.of(request.user).select_related("federation").defer("rows"), pk=pk)
    if job.running and jobs.recover(Job.objects.filter(pk=job.pk)):
        job.refresh_from_db()  # its worker is gone: the page says so rather than "checking…" forever
    return job


@login_required
def job_detail(request, pk: int):
    job = my_job(request, pk)
    if job.kind == Job.Kind.HOUSEHOLDS:
        return redirect("job_households", pk=job.pk)  # its own page: households, not payments
    context = {"job": job, "no_worker": job.running and not workers_alive()}
    if job.kind == Job.Kind.IMPORT and job.state == Job.State.PREVIEW:
        context.update(_preview(job))
    return render(request, "allocations/job.html", context)


FIXABLE_FIELDS = ("name", "id_number", "amount", "assistance_type", "date")


def _preview(job: Job) -> dict:
    problems = job.problems or []
    by_line: dict[int, list[dict]] = {}
    for problem in problems:
        if problem["line"] is not None:
            by_line.setdefault(problem["line"], []).append(problem)
    rows = {row["line"]: row for row in job.rows or []}
    fixable = []
    for line in sorted(by_line)[:MAX_ROWS_TO_FIX]:
        row = rows.get(line, {})
        as_read = row.get("as_read", {})
        initial = {key: row.get(key) or as_read.get(key, "") for key in FIXABLE_FIELDS}
        initial["confirm_duplicate"] = bool(row.get("confirm_duplicate"))
        fixable.append(
            {
                "line": line,
                "problems": by_line[line],
                "form": ListRowFixForm(initial=initial, prefix=f"row-{line}"),
                "duplicate": any(p["code"] == "duplicate_payment" for p in by_line[line]),
            }
        )
    return {
        "list_problems": [p for p in problems if p["line"] is None],
        "problem_rows": len(by_line),
        "fixable": fixable,
        "more_rows": max(len(by_line) - MAX_ROWS_TO_FIX, 0),
        "problems_shown": problems[:500],
    }


@login_required
def job_progress(request, pk: int):
    job = my_job(request, pk)
    return JsonResponse(
        {"state": job.state, "done": job.progress_done, "total": job.progress_total, "percent": job.percent}
    )


@login_required
@require_POST
def job_fix(request, pk: int):
    """Apply corrections typed in the preview to the stored rows, and check again."""
    job = my_job(request, pk)
    if job.kind != Job.Kind.IMPORT or job.state != Job.State.PREVIEW:
        raise Http404
    lines = {p["line"] for p in job.problems if p["line"] is not None}
    rows = job.rows
    kept, fixed = [], set()
    for row in rows:
        line = row["line"]
        if line not in lines:
            kept.append(row)
            continue
        form = ListRowFixForm(request.POST, prefix=f"row-{line}")
        if not form.is_valid() or f"row-{line}-name" not in request.POST:
            kept.append(row)
            continue
        fixed.add(line)
        if form.cleaned_data["remove"]:
            continue
        for key in FIXABLE_FIELDS:
            row[key] = form.cleaned_data[key].strip()
        row["confirm_duplicate"] = form.cleaned_data["confirm_duplicate"]
        row.pop("as_read", None)
        kept.append(row)
    summary = dict(job.summary)
    summary["cell_problems"] = [p for p in summary.get("cell_problems", []) if p["line"] not in fixed]
    summary["fixed_lines"] = sorted(set(summary.get("fixed_lines", [])) | fixed)
    if not jobs.claim(job.pk, expected=Job.State.PREVIEW, to=Job.State.QUEUED):
        raise Http404
    Job.objects.filter(pk=job.pk).update(rows=kept, summary=summary, problems=[])
    jobs.enqueue(tasks.check_disbursement_list, job)
    return redirect("job", pk=job.pk)


@login_required
@require_POST
def job_confirm(request, pk: int):
    """Write the checked list, once: a second click finds the job already moving."""
    job = my_job(request, pk)
    if job.kind != Job.Kind.IMPORT:
        raise Http404
    if job.state == Job.State.PREVIEW and not job.problems:
        if jobs.claim(job.pk, expected=Job.State.PREVIEW, to=Job.State.COMMITTING):
            jobs.enqueue(tasks.commit_disbursement_list, job)
    elif job.state == Job.State.PREVIEW:
        messages.error(request, _("Fix the problems first; nothing was written."))
    return redirect("job", pk=job.pk)


@login_required
def job_download(request, pk: int):
    job = my_job(request, pk)
    if job.kind != Job.Kind.EXPORT or job.state != Job.State.DONE or not job.output:
        raise Http404
    extension = job.params.get("format", "xlsx")
    filename = job.params.get("filename") or f"export.{extension}"
    return downloads.file_response(
        job.output.open("rb"),
        filename,
        job.params.get("fallback") or filename,
        downloads.XLSX if extension == "xlsx" else downloads.CSV,
    )


@login_required
def job_list(request):
    jobs.recover(Job.objects.of(request.user))
    mine = Job.objects.of(request.user).defer("rows")[:50]
    waiting = any(job.running for job in mine)
    return render(request, "allocations/jobs.html", {"jobs": mine, "no_worker": waiting and not workers_alive()})
