"""Households for the hardship archive from a spreadsheet, in the browser:
upload or paste, see every problem by row and column, fix the sheet or the
rows, confirm; then every household is filed and its entry waits for an
approver, or nothing is written.

The checking and the filing run in a worker (`allocations.archive_tasks`), as
for payment lists; the archive's own pages (the entries, their approval) are
elsewhere.
"""

import datetime
import io

import xlsxwriter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from allocations import archive_imports, archive_tasks
from allocations.archive_sheet_forms import HouseholdImportForm, HouseholdRowFixForm, federations_for
from allocations.views import imports
from beneficiaries.archive_models import Cause, Tier
from unionfunds import downloads, jobs
from unionfunds.forms_support import submit_once
from unionfunds.models import Job
from unionfunds.worker import workers_alive

MAX_ROWS_TO_FIX = 100  # more problems than this are better fixed in the sheet
FIXABLE_FIELDS = ("name", "id_number", "relation", "address", "tier", "income_per_head", "valid_from", "valid_to")
NOT_A_CLERK = gettext_lazy("Only a clerk can file households.")


@login_required
def household_import(request):
    if not federations_for(request.user).exists():
        raise PermissionDenied(NOT_A_CLERK)
    form = HouseholdImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        location = submit_once(request, form.cleaned_data["submission"], lambda: _start(request, form.cleaned_data))
        return redirect(location)
    context = {"form": form, "columns": archive_imports.template_columns(), "no_worker": not workers_alive()}
    return render(request, "allocations/household_import.html", context)


def _start(request, data) -> str:
    if data["sheet"]:
        upload, title = data["sheet"], data["sheet"].name[:200]
    else:
        upload, title = ContentFile(data["pasted"].encode("utf-8"), name="pasted.txt"), _("Pasted rows")
    job = Job(
        kind=Job.Kind.HOUSEHOLDS,
        title=title,
        created_by=request.user,
        federation=data["federation"],
        params={
            "federation": data["federation"].pk,
            "valid_from": data["valid_from"].isoformat(),
            "standard": data["standard"].strip(),
            "language": translation.get_language(),
        },
    )
    job.upload.save(upload.name, upload, save=False)
    job.save()
    jobs.enqueue(archive_tasks.check_household_sheet, job)
    return reverse("job_households", args=[job.pk])


@login_required
def household_template(request):
    """The headers the import reads, one household filled in as an example, and
    what goes in each column on a second sheet."""
    with translation.override("zh-hans"):
        columns = archive_imports.template_columns()
    # Named in Chinese whatever the user's language: its headers are Chinese too.
    content = io.BytesIO(_template_xlsx(columns))
    filename, fallback = "困难职工家庭建档模板.xlsx", "household-sheet-template.xlsx"
    return downloads.file_response(content, filename, fallback, downloads.XLSX)


def _template_xlsx(columns) -> bytes:

    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {"in_memory": True})
    book.set_properties({"created": datetime.datetime(2022, 1, 1)})  # the same bytes every time
    sheet = book.add_worksheet("家庭成员")
    header = book.add_format({"bold": True, "bg_color": "#EEF2F7", "border": 1})
    text = book.add_format({"num_format": "@"})  # ID numbers and keys stay text in Excel
    money = book.add_format({"num_format": "0.00"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    formats = {"户号": text, "身份证号": text, "月人均收入": money, "有效期自": day, "有效期至": day}
    widths = {"身份证号": 22, "住址": 28, "致困原因": 18, "认定标准": 24, "备注": 20}
    for index, (title, _note) in enumerate(columns):
        sheet.write_string(0, index, title, header)
        sheet.set_column(index, index, widths.get(title, 12), formats.get(title))
    for line, row in enumerate(archive_imports.example_rows(), start=1):
        for index, value in enumerate(row):
            if isinstance(value, datetime.date):
                sheet.write_datetime(line, index, datetime.datetime.combine(value, datetime.time()), day)
            elif isinstance(value, int):
                sheet.write_number(line, index, value, money)
            elif value:
                sheet.write_string(line, index, value, formats.get(columns[index][0]))
    with translation.override("zh-hans"):
        relations = ["户主", "配偶", "子女", "父母", "其他"]
        tiers = [str(label) for _code, label in Tier.choices]
    titles = [title for title, _note in columns]
    for values, title in ((relations, "与户主关系"), (tiers, "困难类别")):
        column = titles.index(title)
        sheet.data_validation(1, column, 100_000, column, {"validate": "list", "source": values, "ignore_blank": True})
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, 0, len(columns) - 1)
    imports.write_notes(book, columns, header)
    book.close()
    return output.getvalue()


# The job page -------------------------------------------------------------------------


@login_required
def household_job(request, pk: int):
    job = imports.my_job(request, pk)
    if job.kind != Job.Kind.HOUSEHOLDS:
        return redirect("job", pk=job.pk)
    context = {"job": job, "no_worker": job.running and not workers_alive()}
    if job.state == Job.State.PREVIEW:
        context.update(_preview(job))
    return render(request, "allocations/household_job.html", context)


def _preview(job: Job) -> dict:
    problems = job.problems or []
    by_line: dict[int, list[dict]] = {}
    for problem in problems:
        if problem["line"] is not None:
            by_line.setdefault(problem["line"], []).append(problem)
    rows = {row["line"]: row for row in job.rows or []} if by_line else {}
    fixable = []
    for line in sorted(by_line)[:MAX_ROWS_TO_FIX]:
        row = rows.get(line, {})
        as_read = row.get("as_read", {})
        initial = {key: row.get(key) or as_read.get(key, "") for key in FIXABLE_FIELDS}
        initial["causes"] = _causes_shown(row.get("causes") or ())
        fixable.append(
            {
                "line": line,
                "household": row.get("household", ""),
                "problems": by_line[line],
                "form": HouseholdRowFixForm(initial=initial, prefix=f"row-{line}"),
            }
        )
    return {
        "list_problems": [p for p in problems if p["line"] is None],
        "problem_rows": len(by_line),
        "fixable": fixable,
        "more_rows": max(len(by_line) - MAX_ROWS_TO_FIX, 0),
        "problems_shown": problems[:500],
    }


def _causes_shown(codes) -> str:
    labels = dict(Cause.choices)
    return "、".join(str(labels.get(code, code)) for code in codes)


@login_required
@require_POST
def household_job_fix(request, pk: int):
    """Apply corrections typed in the preview to the stored rows, and check again."""
    job = imports.my_job(request, pk)
    if job.kind != Job.Kind.HOUSEHOLDS or job.state != Job.State.PREVIEW:
        return redirect("job_households", pk=job.pk)
    lines = {p["line"] for p in job.problems if p["line"] is not None}
    kept, fixed = [], set()
    for row in Job.objects.values_list("rows", flat=True).get(pk=job.pk) or []:
        line = row["line"]
        form = HouseholdRowFixForm(request.POST, prefix=f"row-{line}") if line in lines else None
        if form is None or not form.is_valid() or f"row-{line}-name" not in request.POST:
            kept.append(row)
            continue
        fixed.add(line)
        if form.cleaned_data["remove"]:
            continue
        for key in FIXABLE_FIELDS:
            row[key] = form.cleaned_data[key].strip()
        row["causes"] = list(archive_imports._cause_codes(form.cleaned_data["causes"].strip()))
        row.pop("as_read", None)
        kept.append(row)
    summary = dict(job.summary)
    summary["cell_problems"] = [p for p in summary.get("cell_problems", []) if p["line"] not in fixed]
    summary["fixed_lines"] = sorted(set(summary.get("fixed_lines", [])) | fixed)
    if not jobs.claim(job.pk, expected=Job.State.PREVIEW, to=Job.State.QUEUED):
        return redirect("job_households", pk=job.pk)
    Job.objects.filter(pk=job.pk).update(rows=kept, summary=summary, problems=[])
    jobs.enqueue(archive_tasks.check_household_sheet, job)
    return redirect("job_households", pk=job.pk)


@login_required
@require_POST
def household_job_confirm(request, pk: int):
    """File the checked sheet, once: a second click finds the job already moving."""
    job = imports.my_job(request, pk)
    if job.kind == Job.Kind.HOUSEHOLDS and job.state == Job.State.PREVIEW and not job.problems:
        if jobs.claim(job.pk, expected=Job.State.PREVIEW, to=Job.State.COMMITTING):
            jobs.enqueue(archive_tasks.commit_household_sheet, job)
    elif job.kind == Job.Kind.HOUSEHOLDS and job.state == Job.State.PREVIEW:
        messages.error(request, _("Fix the problems first; nothing was written."))
    return redirect("job_households", pk=job.pk)
