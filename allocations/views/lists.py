"""Lists of funds, entries and beneficiaries in the user's subtree: filtered,
paged, and exported to XLSX or CSV with the same filters."""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import translation

from allocations import tasks
from unionfunds import downloads, exportlog, jobs, listexports
from unionfunds.models import Job

LIST_TEMPLATES = {"beneficiaries": "allocations/beneficiary_list.html"}


@login_required
def entry_list(request, kind: str):
    spec = listexports.EXPORTS[kind]
    queryset, form = spec.filtered(request.user, request.GET)
    paginator = Paginator(queryset, 50)
    totals = spec.totals(queryset) if spec.totals else None
    if totals is not None:
        # The 合计's query counted the rows already; the pager need not count again.
        paginator.__dict__["count"] = totals["rows"]
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        LIST_TEMPLATES.get(kind, "allocations/list.html"),
        {
            "kind": kind,
            "title": spec.title(),
            "filter": {"form": form},
            "page": page,
            "totals": totals,
            "page_total": page_total(page, spec),
            "query": query.urlencode(),
            "sortable": True,
        },
    )


def page_total(page, spec) -> Decimal | None:
    """The approved amount of the rows on this page (本页小计), reversals subtracted."""
    if spec.approved_amount is None or page.paginator.num_pages < 2:
        return None
    return sum((amount for row in page if (amount := spec.approved_amount(row)) is not None), Decimal("0.00"))


@login_required
def list_export(request, kind: str, extension: str):
    """The list as the page filters it, every row. Long lists go to a worker,
    and the user watches the progress instead of a request that times out."""
    if extension not in ("xlsx", "csv") or kind not in listexports.EXPORTS:
        raise Http404
    spec = listexports.EXPORTS[kind]
    queryset, form = spec.filtered(request.user, request.GET)
    full_ids = request.GET.get("full_ids") == "1"
    filename, fallback = listexports.filenames(kind, request.user, form, extension)
    query = request.GET.copy()
    for key in ("page", "full_ids"):
        query.pop(key, None)
    rows = queryset.count()
    if rows > settings.UNIONFUNDS_EXPORT_INLINE_ROWS:
        job = Job.objects.create(
            kind=Job.Kind.EXPORT,
            title=f"{spec.title()} ({rows:,})",
            created_by=request.user,
            federation=exportlog.home_federation(request.user),
            params={
                "what": kind,
                "format": extension,
                "query": query.urlencode(),
                "full_ids": full_ids,
                "filename": filename,
                "fallback": fallback,
                "language": translation.get_language(),
            },
            progress_total=rows,
        )
        jobs.enqueue(tasks.export_list, job)
        return redirect("job", pk=job.pk)
    counter = listexports.Counter()
    sheet = listexports.build_sheet(
        kind, request.user, query, full_ids=full_ids, counter=counter, queryset=queryset, form=form
    )

    def finished():
        exportlog.record(
            user=request.user, what=kind, format=extension, query=query, rows=counter.rows, full_ids=full_ids
        )

    return downloads.sheet_response(sheet, extension, filename, fallback=fallback, finished=finished)
