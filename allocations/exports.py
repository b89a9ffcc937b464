"""Auditors' spreadsheets of the lists: the same filters as the page, every row.

One definition per list (its columns and how a record becomes a row) serves
the list pages' export buttons, the API's `?format=csv|xlsx` and the
background export of big lists. Rows are read with a server-side cursor and
written as they come, so memory stays flat however many there are. Amounts
carry their sign: a reversal is negative, so that the approved total of an
export equals the roll-up's figure for the same filters.
"""

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.filterset import filterset_factory

from allocations.filters import AllocationFilter, ContributionFilter, DisbursementFilter, FundFilter
from allocations.models import Allocation, Contribution, Disbursement, Fund, Movement, Status
from beneficiaries.filters import BeneficiaryFilter
from beneficiaries.models import Beneficiary, Unit, mask_phone
from beneficiaries.services import may_see_id_number
from unionfunds import spreadsheets
from unionfunds.models import Federation
from unionfunds.spreadsheets import DATE, INTEGER, MONEY, TEXT, Column, Sheet

CHUNK = 2000
APPROVED_TOTAL = gettext_lazy("Total of approved entries (reversals subtracted)")


@dataclass(frozen=True)
class ListExport:
    what: str
    title: Callable[[], str]
    model: type
    filter_class: type
    related: tuple[str, ...]
    columns: Callable[[], list[Column]]
    row: Callable  # (record, show_full_ids: Callable) -> list
    ordering: tuple[str, ...] = ("-date", "-pk")
    prefetch: tuple[str, ...] = ()

    def queryset(self, user) -> QuerySet:
        queryset = self.model.objects.visible_to(user).select_related(*self.related).order_by(*self.ordering)
        return queryset.prefetch_related(*self.prefetch) if self.prefetch else queryset

    def filtered(self, user, query) -> tuple[QuerySet, object]:
        """The rows the list page shows for this query string, and its filter form."""
        found = self.filter_class(query or None, queryset=self.queryset(user))
        return found.qs, found.form


def signed(movement) -> Decimal:
    return -movement.amount if movement.reverses_id else movement.amount


def label(record, field_name: str) -> str:
    """What `get_<field>_display()` says, from a map made once per field and
    language: Django rebuilds and translates the choices on every call, half
    the time of a long export."""
    value = getattr(record, field_name)
    return _labels(type(record), field_name, translation.get_language()).get(value, value)


@functools.cache
def _labels(model: type, field_name: str, language: str) -> dict:
    choices = model._meta.get_field(field_name).flatchoices
    return {value: str(text) for value, text in choices}


def _user(user) -> str:
    return user.get_username() if user else ""


def _entry_columns() -> list[Column]:
    return [Column(_("No."), INTEGER, 9), Column(_("Date"), DATE, 12)]


def _decision_columns() -> list[Column]:
    """What every money entry ends with: where it stands and who did what."""
    return [
        Column(_("Status"), TEXT, 9),
        Column(_("Reverses No."), INTEGER, 9),
        Column(_("Entered by"), TEXT, 12),
        Column(_("Decided by"), TEXT, 12),
        Column(_("Note"), TEXT, 24),
    ]


def _decision_cells(entry) -> list:
    return [label(entry, "status"), entry.reverses_id, _user(entry.created_by), _user(entry.decided_by), entry.note]


def _disbursement_columns() -> list[Column]:
    return [
        *_entry_columns(),
        Column(_("Federation"), TEXT, 24),
        Column(_("Fund"), TEXT, 24),
        Column(_("Recipient"), TEXT, 14),
        Column(_("ID number"), TEXT, 21),
        Column(_("Assistance type"), TEXT, 14),
        Column(_("Amount (yuan)"), MONEY, 14),
        Column(_("Batch"), TEXT, 14),
        *_decision_columns(),
    ]


def _disbursement_row(d: Disbursement, full_ids: Callable) -> list:
    person = d.beneficiary
    id_number = (person.id_number if full_ids(person) else person.masked_id_number) if person else ""
    return [
        d.pk,
        d.date,
        d.fund.federation.name,
        d.fund.name,
        person.name if person else d.unit.name,
        id_number,
        label(d, "assistance_type"),
        signed(d),
        d.batch,
        *_decision_cells(d),
    ]


def _allocation_columns() -> list[Column]:
    return [
        *_entry_columns(),
        Column(_("From federation"), TEXT, 24),
        Column(_("From fund"), TEXT, 24),
        Column(_("To federation"), TEXT, 24),
        Column(_("To fund"), TEXT, 24),
        Column(_("Amount (yuan)"), MONEY, 14),
        Column(_("Batch"), TEXT, 14),
        *_decision_columns(),
    ]


def _allocation_row(a: Allocation, full_ids: Callable) -> list:
    return [
        a.pk,
        a.date,
        a.from_fund.federation.name,
        a.from_fund.name,
        a.to_federation.name,
        a.to_fund.name if a.to_fund_id else "",
        signed(a),
        a.batch,
        *_decision_cells(a),
    ]


def _contribution_columns() -> list[Column]:
    return [
        *_entry_columns(),
        Column(_("Federation"), TEXT, 24),
        Column(_("Fund"), TEXT, 24),
        Column(_("Source"), TEXT, 14),
        Column(_("Amount (yuan)"), MONEY, 14),
        Column(_("Reference"), TEXT, 16),
        *_decision_columns(),
    ]


def _contribution_row(c: Contribution, full_ids: Callable) -> list:
    return [
        c.pk,
        c.date,
        c.fund.federation.name,
        c.fund.name,
        label(c, "source"),
        signed(c),
        c.reference,
        *_decision_cells(c),
    ]


def _fund_columns() -> list[Column]:
    return [
        Column(_("Federation"), TEXT, 24),
        Column(_("Fund"), TEXT, 28),
        Column(_("Purpose"), TEXT, 14),
        Column(_("Fiscal year"), INTEGER, 9),
        Column(_("Balance (yuan)"), MONEY, 16),
        Column(_("Pending outflows (yuan)"), MONEY, 16),
        Column(_("Available (yuan)"), MONEY, 16),
    ]


def _fund_row(f: Fund, full_ids: Callable) -> list:
    return [f.federation.name, f.name, label(f, "purpose"), f.fiscal_year, f.balance, f.reserved, f.available]


def _beneficiary_columns() -> list[Column]:
    return [
        Column(_("No."), INTEGER, 9),
        Column(_("Name"), TEXT, 12),
        Column(_("ID number"), TEXT, 21),
        Column(_("Gender"), TEXT, 6),
        Column(_("Birth date"), DATE, 12),
        Column(_("Categories"), TEXT, 24),
        Column(_("Phone"), TEXT, 14),
        Column(_("Employer"), TEXT, 24),
        Column(_("Home federation"), TEXT, 24),
    ]


def _beneficiary_row(b: Beneficiary, full_ids: Callable) -> list:
    full = full_ids(b)
    return [
        b.pk,
        b.name,
        b.id_number if full else b.masked_id_number,
        label(b, "gender"),
        b.birth_date,
        "、".join(str(category) for category in b.categories.all()),
        b.phone if full else mask_phone(b.phone),
        b.employer,
        b.federation.name,
    ]


def _field_header(model: type, name: str) -> str:
    return str(capfirst(model._meta.get_field(name).verbose_name))


def _federation_columns() -> list[Column]:
    return [
        Column(_("No."), INTEGER, 9),
        Column(_field_header(Federation, "code"), TEXT, 14),
        Column(_field_header(Federation, "name"), TEXT, 28),
        Column(_field_header(Federation, "level"), TEXT, 10),
        Column(_field_header(Federation, "parent"), TEXT, 28),
    ]


def _federation_row(f: Federation, full_ids: Callable) -> list:
    return [f.pk, f.code, f.name, label(f, "level"), f.parent.name if f.parent_id else ""]


def _unit_columns() -> list[Column]:
    return [
        Column(_("No."), INTEGER, 9),
        Column(_field_header(Unit, "name"), TEXT, 28),
        Column(_field_header(Unit, "kind"), TEXT, 10),
        Column(_("Federation"), TEXT, 24),
    ]


def _unit_row(u: Unit, full_ids: Callable) -> list:
    return [u.pk, u.name, label(u, "kind"), u.federation.name]


EXPORTS = {
    "disbursements": ListExport(
        "disbursements",
        lambda: _("Disbursements"),
        Disbursement,
        DisbursementFilter,
        ("fund__federation", "beneficiary__federation", "unit", "created_by", "decided_by"),
        _disbursement_columns,
        _disbursement_row,
    ),
    "allocations": ListExport(
        "allocations",
        lambda: _("Allocations"),
        Allocation,
        AllocationFilter,
        ("from_fund__federation", "to_federation", "to_fund__federation", "created_by", "decided_by"),
        _allocation_columns,
        _allocation_row,
    ),
    "contributions": ListExport(
        "contributions",
        lambda: _("Contributions"),
        Contribution,
        ContributionFilter,
        ("fund__federation", "created_by", "decided_by"),
        _contribution_columns,
        _contribution_row,
    ),
    "funds": ListExport(
        "funds",
        lambda: _("Funds"),
        Fund,
        FundFilter,
        ("federation",),
        _fund_columns,
        _fund_row,
        ordering=("federation__path", "-fiscal_year", "pk"),
    ),
    "beneficiaries": ListExport(
        "beneficiaries",
        lambda: _("Beneficiaries"),
        Beneficiary,
        BeneficiaryFilter,
        ("federation",),
        _beneficiary_columns,
        _beneficiary_row,
        ordering=("pk",),
        prefetch=("categories",),
    ),
    # Only the API lists these two; the page-style filters serve a caller that
    # passes no queryset of its own.
    "federations": ListExport(
        "federations",
        lambda: _("Federations"),
        Federation,
        filterset_factory(Federation, fields=["code", "level"]),
        ("parent",),
        _federation_columns,
        _federation_row,
        ordering=("path",),
    ),
    "units": ListExport(
        "units",
        lambda: _("Units"),
        Unit,
        filterset_factory(Unit, fields=["kind"]),
        ("federation",),
        _unit_columns,
        _unit_row,
        ordering=("federation__path", "pk"),
    ),
}


class Counter:
    """Counts and sums the rows as they stream past, for the totals row and the log."""

    def __init__(self):
        self.rows = 0
        self.approved = Decimal("0.00")

    def count(self, records: Iterable, amount: Callable | None) -> Iterator:
        for record in records:
            self.rows += 1
            if amount is not None and getattr(record, "status", None) == Status.APPROVED:
                self.approved += amount(record)
            yield record


def build_sheet(
    what: str,
    user,
    query,
    *,
    full_ids: bool = False,
    counter: Counter | None = None,
    queryset: QuerySet | None = None,
    form=None,
) -> Sheet:
    """The sheet of list `what` for `user`, filtered by `query` like its page.

    With `full_ids`, ID numbers and phones are shown in full where the user's
    role allows it (and masked elsewhere); without, always masked.
    """
    spec = EXPORTS[what]
    if queryset is None:
        queryset, form = spec.filtered(user, query)
    counter = counter or Counter()
    columns = spec.columns()
    allowed = (lambda person: may_see_id_number(user, person)) if full_ids else (lambda person: False)
    chunk = CHUNK if not spec.prefetch else CHUNK // 4
    records = counter.count(queryset.iterator(chunk_size=chunk), signed if issubclass(spec.model, Movement) else None)
    rows = (spec.row(record, allowed) for record in records)

    def totals() -> list:
        cells: list = [""] * len(columns)
        cells[1 if columns[0].kind == INTEGER else 0] = f"{_('Rows')}: {counter.rows:,}"
        if issubclass(spec.model, Movement):
            amount_index = next(i for i, c in enumerate(columns) if c.kind == MONEY)
            cells[amount_index] = counter.approved
            cells[amount_index - 1] = str(APPROVED_TOTAL)
        return cells

    return Sheet(
        title=spec.title(),
        columns=columns,
        rows=rows,
        preamble=[
            (_("List"), spec.title()),
            (_("Filters"), spreadsheets.describe_filters(form) if form is not None else _("None")),
            (_("ID numbers"), _("In full where your role allows") if full_ids else _("Masked")),
            (_("Exported at"), f"{timezone.localtime():%Y-%m-%d %H:%M}"),
            (_("Exported by"), user.get_username()),
        ],
        totals=totals,
    )
