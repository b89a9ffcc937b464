from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allocations import archive_rollups, charts, rollups
from allocations.archive_rollups import ArchiveFigures
from allocations.forms import RollupFilterForm, RollupPageFilterForm
from allocations.models import AssistanceType, Source
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


def default_year(years: list[int]) -> int:
    """The year a roll-up page opens on, given the subtree's fund years (latest
    first): this one, or, while the subtree has no fund of this year yet, the
    latest that has one (a page of zeros in January would answer nothing)."""
    this_year = timezone.localdate().year
    return this_year if this_year in years or not years else years[0]


def page_filters(request, federation: Federation, *, opens_on_a_year: bool = False) -> RollupPageFilterForm:
    years = rollups.fiscal_years(federation)
    return RollupPageFilterForm(
        request.GET or None, years=years, default_year=default_year(years) if opens_on_a_year else None
    )


@login_required
def rollup_page(request, federation_id: int | None = None):
    federation = visible_federation(request.user, federation_id)
    # Unless the clerk picks another year (or all years), the page shows this one:
    # money of different years summed together answers no question anyone asks.
    form = page_filters(request, federation, opens_on_a_year=True)
    filters = form.filters()
    result = rollups.rollup(federation, filters)
    wan = form.in_wan()
    show_all = request.GET.get("show") == "all"
    zero_count = sum(1 for _child, figures in result.children if figures.is_zero())
    shown = [(child, figures) for child, figures in result.children if show_all or not figures.is_zero()]
    spent = rollups.spending(federation, filters)
    archive = archive_rollups.archive_rollup(federation, filters.fiscal_year)
    return render(
        request,
        "allocations/rollup.html",
        {
            "federation": federation,
            "result": result,
            "children": shown,
            "zero_count": zero_count,
            "show_all": show_all,
            "year_label": year_label(filters),
            "form": form,
            "wan": wan,
            "query": form.query_string(),
            "breadcrumb": breadcrumb(request.user, federation),
            "chart": holdings_chart(result, shown, wan),
            "spending": spent,
            "spending_chart": spending_chart(spent, wan),
            "note": ROLLUP_NOTE,
            "archive": archive,
            "archive_children": [
                (child, figures) for child, figures in archive.children if show_all or figures != ArchiveFigures()
            ],
        },
    )


def year_label(filters: rollups.Filters) -> str:
    if filters.fiscal_year is None:
        return str(_("All years"))
    return str(_("Fiscal year %(year)s") % {"year": filters.fiscal_year})


def holdings_chart(result: rollups.Rollup, shown: list, wan: bool) -> str:
    """Disbursed and balance of 本级 and of each child shown; rows with neither are left out."""
    scale = 10000 if wan else 1
    rows = [(str(_("Own funds (本级)")), result.own), *((child.name, figures) for child, figures in shown)]
    return charts.for_desk_and_phone(
        charts.grouped_bars,
        [
            charts.Bar(label, (figures.disbursed / scale, figures.balance / scale))
            for label, figures in rows
            if figures.disbursed or figures.balance
        ],
        series=(str(_("Disbursed")), str(_("Balance"))),
        colours=("#b42318", "#2f6f9f"),
        title=str(_("Disbursed and balance by member federation")),
    )


SPENDING_COLOURS = ("#b42318", "#2f6f9f", "#3f7d3a", "#b7791f", "#6b4c9a", "#0f766e", "#9d174d", "#4b5563")


def spending_chart(spending: rollups.Spending, wan: bool) -> str:
    """One bar per month, its parts the assistance types, largest type first."""
    scale = 10000 if wan else 1
    types = list(spending.by_type)
    stacks = [
        charts.Stack(f"{month:%Y-%m}", tuple(spending.cells.get((month, kind), ZERO) / scale for kind in types))
        for month in spending.by_month
    ]
    return charts.for_desk_and_phone(
        charts.stacked_bars,
        stacks,
        series=tuple(str(AssistanceType(kind).label) for kind in types),
        colours=SPENDING_COLOURS[: len(types)],
        title=str(_("Disbursed by month and assistance type")),
    )


@login_required
def rows_behind_page(request, federation_id: int, figure: str):
    if figure not in FIGURE_TITLES:
        raise Http404
    federation = visible_federation(request.user, federation_id)
    own = request.GET.get("own") == "1"
    form = page_filters(request, federation)
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
    form = page_filters(request, federation)  # the page's links say fiscal_year=all for all years
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
    form = RollupPageFilterForm(request.GET or None, years=())  # the page's links name the year
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
