"""Lists of funds and entries in the user's subtree, filtered and paged."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from allocations.filters import AllocationFilter, ContributionFilter, DisbursementFilter, FundFilter
from allocations.models import Allocation, Contribution, Disbursement, Fund

LISTS = {
    "funds": (Fund, FundFilter, ("federation",), _("Funds")),
    "contributions": (Contribution, ContributionFilter, ("fund__federation",), _("Contributions")),
    "allocations": (
        Allocation,
        AllocationFilter,
        ("from_fund__federation", "to_fund__federation"),
        _("Allocations"),
    ),
    "disbursements": (
        Disbursement,
        DisbursementFilter,
        ("fund__federation", "beneficiary", "unit"),
        _("Disbursements"),
    ),
}


@login_required
def entry_list(request, kind: str):
    model, filter_class, related, title = LISTS[kind]
    ordering = ("federation__path", "-fiscal_year", "pk") if model is Fund else ("-date", "-pk")
    queryset = model.objects.visible_to(request.user).select_related(*related).order_by(*ordering)
    found = filter_class(request.GET or None, queryset=queryset)
    page = Paginator(found.qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "allocations/list.html",
        {"kind": kind, "title": title, "filter": found, "page": page, "query": query.urlencode()},
    )
