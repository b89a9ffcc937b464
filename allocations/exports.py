"""The spreadsheets of the money lists (`unionfunds.listexports`): funds,
contributions, allocations, disbursements. Amounts carry their sign: a reversal
is negative, so that the approved total of an export equals the roll-up's
figure for the same filters.
"""

from collections.abc import Callable
from decimal import Decimal

from django.db.models import Case, Count, F, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from allocations.filters import AllocationFilter, ContributionFilter, DisbursementFilter, FundFilter
from allocations.models import Allocation, Contribution, Disbursement, Fund, Movement, Status
from beneficiaries.services import may_see_id_number, may_see_id_numbers_somewhere
from unionfunds.listexports import ListExport, label, register
from unionfunds.money import MoneyField
from unionfunds.spreadsheets import DATE, IDENTIFIER, INTEGER, MONEY, TEXT, Column


def signed(movement) -> Decimal:
    return -movement.amount if movement.reverses_id else movement.amount


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
        Column(_("ID number"), IDENTIFIER, 21),
        Column(_("Assistance type"), TEXT, 14),
        Column(_("Amount (yuan)"), MONEY, 14),
        Column(_("Batch"), IDENTIFIER, 14),
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
        d.payee_name or (person.name if person else d.unit.name),
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
        Column(_("Batch"), IDENTIFIER, 14),
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
        Column(_("Reference"), IDENTIFIER, 16),
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


def approved_amount(movement: Movement) -> Decimal | None:
    """What an entry adds to the approved total: its signed amount once approved."""
    return signed(movement) if movement.status == Status.APPROVED else None


def _signed_sum(status: str) -> Coalesce:
    zero = Value(0, output_field=MoneyField())
    return Coalesce(
        Sum(
            Case(
                When(status=status, reverses__isnull=True, then=F("amount")),
                When(status=status, then=zero - F("amount")),
                default=zero,
                output_field=MoneyField(),
            )
        ),
        zero,
    )


def movement_totals(queryset: QuerySet) -> dict:
    """The 合计 under a list of entries, over every row the filters match (not
    only the page): how many, what the approved ones add up to (reversals
    subtracted, as in the roll-up) and what still waits for a decision."""
    return queryset.order_by().aggregate(
        rows=Count("pk"), approved=_signed_sum(Status.APPROVED), pending=_signed_sum(Status.PENDING)
    )


def fund_totals(queryset: QuerySet) -> dict:
    zero = Value(0, output_field=MoneyField())
    return queryset.order_by().aggregate(
        rows=Count("pk"),
        total_balance=Coalesce(Sum("balance"), zero),
        total_available=Coalesce(Sum(F("balance") - F("reserved"), output_field=MoneyField()), zero),
    )


register(
    ListExport(
        "disbursements",
        lambda: _("Disbursements"),
        Disbursement,
        DisbursementFilter,
        ("fund__federation", "beneficiary__federation", "unit", "created_by", "decided_by"),
        _disbursement_columns,
        _disbursement_row,
        approved_amount=approved_amount,
        totals=movement_totals,
        reveals=may_see_id_number,
        reveals_to=may_see_id_numbers_somewhere,
    ),
    ListExport(
        "allocations",
        lambda: _("Allocations"),
        Allocation,
        AllocationFilter,
        ("from_fund__federation", "to_federation", "to_fund__federation", "created_by", "decided_by"),
        _allocation_columns,
        _allocation_row,
        approved_amount=approved_amount,
        totals=movement_totals,
    ),
    ListExport(
        "contributions",
        lambda: _("Contributions"),
        Contribution,
        ContributionFilter,
        ("fund__federation", "created_by", "decided_by"),
        _contribution_columns,
        _contribution_row,
        approved_amount=approved_amount,
        totals=movement_totals,
    ),
    ListExport(
        "funds",
        lambda: _("Funds"),
        Fund,
        FundFilter,
        ("federation",),
        _fund_columns,
        _fund_row,
        ordering=("federation__path", "-fiscal_year", "pk"),
        totals=fund_totals,
    ),
)
