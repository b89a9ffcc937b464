"""One fund's page: what it holds, what can still be spent, and the latest
money in and out of it, newest first."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from allocations.models import Fund
from unionfunds import audit, listexports

LATEST = 50
# The entries table names the recipient's federation of every allocation.
MORE_RELATED = {"allocations": ("to_fund__federation",)}


@login_required
def fund_detail(request: HttpRequest, pk: int) -> HttpResponse:
    fund = get_object_or_404(
        Fund.objects.visible_to(request.user).select_related("federation", "opened_from__federation"), pk=pk
    )
    entries = {
        "contributions": Q(fund=fund),
        "allocations": Q(from_fund=fund) | Q(to_fund=fund),
        "disbursements": Q(fund=fund),
    }
    return render(
        request,
        "allocations/fund_detail.html",
        {
            "fund": fund,
            "sections": [section(request.user, kind, condition, fund) for kind, condition in entries.items()],
            "limit": LATEST,
            "history": audit.history(fund).select_related("user"),
        },
    )


def section(user, kind: str, condition: Q, fund: Fund) -> dict:
    spec = listexports.EXPORTS[kind]
    queryset = spec.queryset(user).filter(condition).select_related(*MORE_RELATED.get(kind, ()))
    return {
        "kind": kind,
        "title": spec.title(),
        "rows": queryset[:LATEST],
        "count": queryset.count(),
        "list_url": list_url(kind, fund),
    }


def list_url(kind: str, fund: Fund) -> str:
    """The list page narrowed to this fund as far as its filters go: the search
    matches the federation's name (as sender or recipient of an allocation),
    year and purpose are the fund's. The disbursements list cannot be narrowed
    to one federation, so it gets no link."""
    if kind == "disbursements":
        return ""
    query = {"q": fund.federation.name, "fiscal_year": fund.fiscal_year, "purpose": fund.purpose}
    return f"{reverse('list', args=[kind])}?{urlencode(query)}"
