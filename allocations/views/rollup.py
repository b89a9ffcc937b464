from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allocations import charts, rollups
from allocations.forms import RollupFilterForm
from allocations.models import Source
from unionfunds import downloads, exportlog, listexports, spreadsheets
from unionfunds.models import Federation
from unionfunds.money import ZERO
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
            "note": ROLLUP_NOTE,
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
            "figure_code": figure,
            # The rows' exports: the same filters and scope as this page.
            "export_query": "&".join(part for part in (form.query_string(), "own=1" if own else "") if part),
            "sections": sections,
            "form": form,
            "query": form.query_string(),
            "breadcrumb": breadcrumb(request.user, federation),
        },
    )


@login_required
def rows_behind_export(request, federation_id: int, figure: str, kind: str, extension: str):
    """One section of the rows behind a figure, every row, as the list exports
    write it: the page's scope and filters, ID numbers masked unless asked for
    and allowed, and a line in the export log."""
    if figure not in FIGURE_TITLES or extension not in ("xlsx", "csv"):
        raise Http404
    federation = visible_federation(request.user, federation_id)
    own = request.GET.get("own") == "1"
    form = RollupFilterForm(request.GET or None)
    groups = rollups.rows_behind(figure, federation, own=own, filters=form.filters())
    if kind not in groups:
        raise Http404
    spec = listexports.EXPORTS[kind]
    queryset = groups[kind].select_related(*spec.related).order_by(*spec.ordering)
    full_ids = request.GET.get("full_ids") == "1"
    scope = f"{federation.name} · {_('Own funds (本级)')}" if own else federation.name
    counter = listexports.Counter()
    sheet = listexports.build_sheet(
        kind,
        request.user,
        request.GET,
        full_ids=full_ids,
        counter=counter,
        queryset=queryset,
        form=form,
        federation=scope,
        about=[(str(_("Federation")), scope), (str(_("Figure")), str(FIGURE_TITLES[figure]))],
        skip=("unit",),  # the rows are in yuan whatever the roll-up showed
    )
    query = request.GET.copy()
    for key in ("full_ids", *(f"{name}_page" for name in RELATED)):
        query.pop(key, None)
    query.setlist("figure", [figure])

    def finished():
        exportlog.record(
            user=request.user,
            what=f"rollup.{kind}",
            format=extension,
            query=query,
            rows=counter.rows,
            full_ids=full_ids,
            federation=federation,
        )

    filename = downloads.export_filename(
        scope,
        str(FIGURE_TITLES[figure]),
        str(spec.title()),
        downloads.period(downloads.cleaned(form)),
        extension=extension,
    )
    fallback = f"rollup-{federation.code}-{figure}-{kind}-{timezone.localtime():%Y%m%d-%H%M}.{extension}"
    return downloads.sheet_response(sheet, extension, filename, fallback=fallback, finished=finished)


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


@login_required
def rollup_export(request, federation_id: int, extension: str):
    if extension not in ("xlsx", "csv"):
        raise Http404
    federation = visible_federation(request.user, federation_id)
    form = RollupFilterForm(request.GET or None)
    result = rollups.rollup(federation, form.filters())
    sheet = rollup_sheet(result, form, request.user)
    exportlog.record(
        user=request.user,
        what="rollup",
        format=extension,
        query=request.GET,
        rows=len(result.children) + 1,
        full_ids=False,
        federation=federation,
    )
    filename, fallback = rollup_filenames(federation, form, extension)
    return downloads.sheet_response(sheet, extension, filename, fallback=fallback)


def rollup_filenames(federation: Federation, form: RollupFilterForm, extension: str) -> tuple[str, str]:
    """The file's name (the federation's, the period's) and an ASCII one for clients that need it."""
    name = downloads.export_filename(
        federation.name, str(_("Roll-up")), downloads.period(downloads.cleaned(form)), extension=extension
    )
    return name, f"rollup-{federation.code}-{timezone.localtime():%Y%m%d-%H%M}.{extension}"


def rollup_sheet(result: rollups.Rollup, form: RollupFilterForm, user) -> spreadsheets.Sheet:
    """The roll-up as a table, in yuan or, with `unit=wan`, in 万元: divided
    exactly (Decimal), to six places so that every fen is still there."""
    wan = form.in_wan()
    sources = [("allocation", _("Allocation from outside")), *Source.choices]

    def money(header: str, width: int) -> spreadsheets.Column:
        words = _("%(column)s (10,000 yuan)") if wan else _("%(column)s (yuan)")
        return spreadsheets.Column(str(words) % {"column": header}, spreadsheets.MONEY, width, 6 if wan else 2)

    def amount(value: Decimal) -> Decimal:
        return value / WAN if wan else value

    columns = [
        spreadsheets.Column(str(_("Federation")), width=28),
        money(str(_("Raised")), 16),
        *[money(f"{_('Raised')}: {label}", 14) for _code, label in sources],
        money(str(_("Allocated out")), 16),
        money(str(_("Disbursed")), 16),
        spreadsheets.Column(str(_("Person-times")), spreadsheets.INTEGER, 10),
        spreadsheets.Column(str(_("Persons")), spreadsheets.INTEGER, 10),
        money(str(_("Balance")), 16),
    ]

    def row(label: str, figures: rollups.Figures) -> list:
        by_source = [amount(figures.raised_by_source.get(code, ZERO)) for code, _label in sources]
        return [
            label,
            amount(figures.raised),
            *by_source,
            amount(figures.allocated_out),
            amount(figures.disbursed),
            figures.person_times,
            figures.persons,
            amount(figures.balance),
        ]

    filters = spreadsheets.describe_filters(form, skip=("unit",))  # the amount unit is not a filter
    unit = spreadsheets.WAN if wan else spreadsheets.YUAN
    return spreadsheets.Sheet(
        title=str(_("Roll-up")),
        columns=columns,
        federation=result.federation.name,
        filters=filters,
        unit=unit,
        preamble=[
            (str(_("Federation")), result.federation.name),
            (str(_("Filters")), filters),
            (str(_("Amounts in")), str(_("10,000 yuan") if wan else _("yuan"))),
            (str(_("Exported at")), f"{timezone.localtime():%Y-%m-%d %H:%M}"),
            (str(_("Exported by")), user.get_username()),
            (str(_("Explanation")), str(ROLLUP_NOTE)),
        ],
        rows=[row(str(_("Own funds (本级)")), result.own)] + [row(child.name, f) for child, f in result.children],
        totals=row(str(_("Total")), result.total),
    )


WAN = Decimal(10000)


ROLLUP_NOTE = _(
    "Disbursed, person-times and balance of the rows add up to the total. Raised and allocated out count only "
    "money crossing each row's boundary, so a transfer inside the subtree appears in a row but not in the total. "
    "Balance is what the funds hold now."
)
