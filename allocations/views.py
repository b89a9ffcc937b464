from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy as _

from allocations import charts, rollups
from allocations.forms import RollupFilterForm
from unionfunds.models import Federation
from unionfunds.permissions import scope_paths, sees_everything

FIGURE_TITLES = {
    "raised": _("Raised"),
    "allocated_out": _("Allocated out"),
    "disbursed": _("Disbursed"),
    "balance": _("Balance"),
}


def home_federation(user) -> Federation:
    """Where a user's roll-up starts: the top of the (first) subtree they see."""
    if sees_everything(user):
        federation = Federation.objects.filter(depth=1).first()
    else:
        federation = Federation.objects.filter(path__in=scope_paths(user)).first()
    if federation is None:
        raise Http404
    return federation


def visible_federation(user, federation_id: int | None) -> Federation:
    if federation_id is None:
        return home_federation(user)
    return get_object_or_404(Federation.objects.visible_to(user), pk=federation_id)


def breadcrumb(user, federation: Federation) -> list[Federation]:
    steps = [federation.path[:end] for end in range(Federation.steplen, len(federation.path) + 1, Federation.steplen)]
    return list(Federation.objects.visible_to(user).filter(path__in=steps).order_by("depth"))


@login_required
def rollup_page(request, federation_id: int | None = None):
    federation = visible_federation(request.user, federation_id)
    form = RollupFilterForm(request.GET or None)
    result = rollups.rollup(federation, form.filters())
    wan = form.in_wan()
    scale = 10000 if wan else 1
    chart = charts.grouped_bars(
        [charts.Bar(child.name, (f.disbursed / scale, f.balance / scale)) for child, f in result.children],
        series=(str(_("Disbursed")), str(_("Balance"))),
        colours=("#b42318", "#2f6f9f"),
    )
    return render(
        request,
        "allocations/rollup.html",
        {
            "federation": federation,
            "result": result,
            "form": form,
            "wan": wan,
            "query": form.query_string(),
            "breadcrumb": breadcrumb(request.user, federation),
            "chart": chart,
        },
    )


@login_required
def rows_behind_page(request, federation_id: int, figure: str):
    if figure not in FIGURE_TITLES:
        raise Http404
    federation = visible_federation(request.user, federation_id)
    own = request.GET.get("own") == "1"
    form = RollupFilterForm(request.GET or None)
    groups = rollups.rows_behind(figure, federation, own=own, filters=form.filters())
    sections = []
    for kind, queryset in groups.items():
        queryset = queryset.select_related(*RELATED[kind]).order_by(
            "-date" if kind != "funds" else "federation__path", "-pk"
        )
        page = Paginator(queryset, 100).get_page(request.GET.get(f"{kind}_page"))
        total = rollups.net_total(queryset) if kind != "funds" else None
        sections.append({"kind": kind, "title": SECTION_TITLES[kind], "page": page, "total": total})
    return render(
        request,
        "allocations/rows_behind.html",
        {
            "federation": federation,
            "own": own,
            "figure": FIGURE_TITLES[figure],
            "sections": sections,
            "form": form,
            "query": form.query_string(),
            "breadcrumb": breadcrumb(request.user, federation),
        },
    )


RELATED = {
    "contributions": ("fund__federation",),
    "allocations": ("from_fund__federation", "to_fund__federation"),
    "disbursements": ("fund__federation", "beneficiary", "unit"),
    "funds": ("federation",),
}
SECTION_TITLES = {
    "contributions": _("Contributions"),
    "allocations": _("Allocations"),
    "disbursements": _("Disbursements"),
    "funds": _("Funds"),
}
