"""Roll-ups (汇总): what a federation's subtree raised, sent away, paid out and holds.

Semantics (docs/DOMAIN.md, Roll-ups), for a federation F and its subtree S(F):

- raised: money that entered funds in S(F) from outside S(F): every
  contribution, and allocations whose sending fund lies outside S(F); split by
  source and by the level of the federation whose money it was (the sender of
  an allocation, the receiving federation of a contribution);
- allocated out: allocations from funds in S(F) to funds outside it;
- disbursed, person-times, persons: payments from funds in S(F);
- balance: what the matching funds in S(F) hold now.

One row per child subtree and one for F's own funds (本级) come with the total;
disbursed, person-times and balance of those rows add up to the total, the
others do not (a transfer from F to a child is outside the child, inside F).

Only approved entries count. An approved reversal cancels its entry, on the
entry's own date, so a filtered period nets to zero. Every figure is computed
in the database with a fixed number of GROUP BY queries, whatever the number of
children; the subtree is a prefix of the materialised path, so a moved subtree
is counted under its new parent at once.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from django.db.models import Case, Count, F, IntegerField, Model, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, Substr, TruncMonth

from allocations.models import (
    Allocation,
    AllocationTotal,
    Contribution,
    ContributionTotal,
    Disbursement,
    DisbursementTotal,
    Fund,
    Movement,
    PersonCount,
    Status,
)
from allocations.totals import ALL_TYPES, ALL_YEARS
from unionfunds.models import Federation
from unionfunds.money import ZERO, MoneyField, money_sum

OWN = "own"

M = TypeVar("M", Contribution, Allocation, Disbursement)
E = TypeVar("E", bound=Movement)
T = TypeVar("T", bound=Model)


@dataclass(frozen=True)
class Filters:
    fiscal_year: int | None = None
    purpose: str | None = None
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    assistance_type: str | None = None


@dataclass
class Figures:
    raised: Decimal = ZERO
    raised_by_source: dict[str, Decimal] = field(default_factory=dict)
    raised_by_level: dict[str, Decimal] = field(default_factory=dict)
    allocated_out: Decimal = ZERO
    disbursed: Decimal = ZERO
    person_times: int = 0
    persons: int = 0
    balance: Decimal = ZERO

    def is_zero(self) -> bool:
        """Nothing raised, sent away, paid out or held: a row a clerk need not read."""
        amounts = (self.raised, self.allocated_out, self.disbursed, self.balance)
        return all(amount == 0 for amount in amounts) and self.person_times == 0 and self.persons == 0

    def add_raised(self, *, source: str, level: str, amount: Decimal) -> None:
        self.raised += amount
        self.raised_by_source[source] = self.raised_by_source.get(source, ZERO) + amount
        self.raised_by_level[level] = self.raised_by_level.get(level, ZERO) + amount


@dataclass
class Rollup:
    federation: Federation
    filters: Filters
    total: Figures
    own: Figures
    children: list[tuple[Federation, Figures]]


@dataclass
class _Sources:
    """Where the amounts come from: running totals (one row per fund and kind)
    or, when a date range asks for part of them, the approved entries."""

    contributions: QuerySet[Contribution | ContributionTotal]
    allocations_in: QuerySet[Allocation | AllocationTotal]  # filtered on the receiving fund
    allocations_out: QuerySet[Allocation | AllocationTotal]  # filtered on the sending fund
    disbursements: QuerySet[Disbursement | DisbursementTotal]
    amount: str
    person_times: str


def _sources(filters: Filters, from_entries: bool) -> _Sources:
    if from_entries or filters.date_from or filters.date_to:
        return _Sources(
            contributions=_net(_approved(Contribution, filters, "fund")),
            allocations_in=_net(_approved(Allocation, filters, "to_fund")),
            allocations_out=_net(_approved(Allocation, filters, "from_fund")),
            disbursements=_person_times(_net(_disbursed(filters))),
            amount="net",
            person_times="times",
        )
    disbursements = _fund_filtered(DisbursementTotal.objects.all(), filters, "fund").filter(
        assistance_type=filters.assistance_type or ALL_TYPES
    )
    return _Sources(
        contributions=_fund_filtered(ContributionTotal.objects.all(), filters, "fund"),
        allocations_in=_fund_filtered(AllocationTotal.objects.all(), filters, "to_fund"),
        allocations_out=_fund_filtered(AllocationTotal.objects.all(), filters, "from_fund"),
        disbursements=disbursements,
        amount="amount",
        person_times="person_times",
    )


def rollup(federation: Federation, filters: Filters = Filters(), *, from_entries: bool = False) -> Rollup:
    """The roll-up of `federation`'s subtree; the caller checks that the user may see it.

    Reads the running totals unless a date range is asked for; `from_entries`
    sums the entries themselves, which checks the totals."""
    path = federation.path
    child_length = len(path) + Federation.steplen
    children = list(Federation.objects.filter(parent=federation).order_by("path"))
    scopes: dict[str, Figures] = defaultdict(Figures)  # child path prefix or OWN
    total = Figures()
    sources = _sources(filters, from_entries)
    amount = money_sum(sources.amount)

    # Contributions: always from outside, so the same rows serve every scope.
    contributions = sources.contributions.filter(fund__federation__path__startswith=path)
    for row in (
        _by_scope(contributions, "fund__federation__path", path, child_length)
        .values("scope", "source", "fund__federation__level")
        .annotate(amount=amount)
    ):
        for figures in (scopes[row["scope"]], total):
            figures.add_raised(source=row["source"], level=row["fund__federation__level"], amount=row["amount"])

    # Allocations: inside S(F) they move money between F's scopes, so each side
    # is counted against the scope it leaves or enters.
    arriving = _by_scope(
        sources.allocations_in.filter(to_fund__federation__path__startswith=path),
        "to_fund__federation__path",
        path,
        child_length,
    ).annotate(sender_scope=_scope_of("from_fund__federation__path", path, child_length))
    for row in (
        arriving.exclude(sender_scope=F("scope"))
        .values("scope", "from_fund__federation__level")
        .annotate(amount=amount)
    ):
        scopes[row["scope"]].add_raised(
            source="allocation", level=row["from_fund__federation__level"], amount=row["amount"]
        )
    for row in (
        arriving.exclude(from_fund__federation__path__startswith=path)
        .values("from_fund__federation__level")
        .annotate(amount=amount)
    ):
        total.add_raised(source="allocation", level=row["from_fund__federation__level"], amount=row["amount"])

    leaving = _by_scope(
        sources.allocations_out.filter(from_fund__federation__path__startswith=path),
        "from_fund__federation__path",
        path,
        child_length,
    ).annotate(receiver_scope=_scope_of("to_fund__federation__path", path, child_length))
    for row in leaving.exclude(receiver_scope=F("scope")).values("scope").annotate(amount=amount):
        scopes[row["scope"]].allocated_out += row["amount"]
    total.allocated_out = leaving.exclude(to_fund__federation__path__startswith=path).aggregate(amount=amount)["amount"]

    # Disbursements: additive, except persons (one worker paid by two counties is
    # one person in the city), which each scope counts for itself.
    for row in (
        _by_scope(
            sources.disbursements.filter(fund__federation__path__startswith=path),
            "fund__federation__path",
            path,
            child_length,
        )
        .values("scope")
        .annotate(amount=amount, times=_sum_int(sources.person_times))
    ):
        scopes[row["scope"]].disbursed += row["amount"]
        scopes[row["scope"]].person_times += row["times"]
    if not from_entries and _counted_persons(filters):
        counts = {
            (pk, own): persons
            for pk, own, persons in PersonCount.objects.filter(
                federation_id__in=[federation.pk, *(child.pk for child in children)],
                fiscal_year=filters.fiscal_year or ALL_YEARS,
            ).values_list("federation_id", "own", "persons")
            if pk == federation.pk or not own
        }
        total.persons = counts.get((federation.pk, False), 0)
        scopes[OWN].persons = counts.get((federation.pk, True), 0)
        for child in children:
            scopes[child.path].persons = counts.get((child.pk, False), 0)
    else:
        standing = (
            _disbursed(filters)
            .filter(fund__federation__path__startswith=path, reverses__isnull=True, beneficiary__isnull=False)
            .exclude(reversals__status=Status.APPROVED)
        )
        for row in (
            _by_scope(standing, "fund__federation__path", path, child_length)
            .values("scope")  # type: ignore[misc]  # `scope` is lost in _by_scope's TypeVar (django-stubs#1046)
            .annotate(persons=Count("beneficiary", distinct=True))
        ):
            scopes[row["scope"]].persons = row["persons"]
        total.persons = standing.aggregate(persons=Count("beneficiary", distinct=True))["persons"]

    funds = _fund_filtered(Fund.objects.filter(federation__path__startswith=path), filters, None)
    for row in (
        _by_scope(funds, "federation__path", path, child_length).values("scope").annotate(amount=money_sum("balance"))
    ):
        scopes[row["scope"]].balance = row["amount"]

    for figures in scopes.values():
        total.disbursed += figures.disbursed
        total.person_times += figures.person_times
        total.balance += figures.balance
    return Rollup(
        federation=federation,
        filters=filters,
        total=total,
        own=scopes[OWN],
        children=[(child, scopes[child.path]) for child in children],
    )


def _counted_persons(filters: Filters) -> bool:
    """Persons are counted ahead for every fiscal year and for all years together;
    narrower filters count them from the entries."""
    return not (filters.purpose or filters.assistance_type or filters.date_from or filters.date_to)


def _fund_filtered(queryset: QuerySet[T], filters: Filters, fund_lookup: str | None) -> QuerySet[T]:
    prefix = f"{fund_lookup}__" if fund_lookup else ""
    if filters.fiscal_year:
        queryset = queryset.filter(**{f"{prefix}fiscal_year": filters.fiscal_year})
    if filters.purpose:
        queryset = queryset.filter(**{f"{prefix}purpose": filters.purpose})
    return queryset


def _disbursed(filters: Filters) -> QuerySet[Disbursement]:
    disbursements = _approved(Disbursement, filters, "fund")
    if filters.assistance_type:
        disbursements = disbursements.filter(assistance_type=filters.assistance_type)
    return disbursements


def _approved(model: type[M], filters: Filters, fund_lookup: str) -> QuerySet[M]:
    """Approved entries of `model` matching the filters; `fund_lookup` names the
    fund whose purpose and year the filters apply to."""
    queryset = _fund_filtered(model.objects.filter(status=Status.APPROVED), filters, fund_lookup)
    if filters.date_from or filters.date_to:
        # A reversal counts on the date of what it reverses.
        queryset = queryset.annotate(effective_date=Coalesce("reverses__date", "date"))
        if filters.date_from:
            queryset = queryset.filter(effective_date__gte=filters.date_from)
        if filters.date_to:
            queryset = queryset.filter(effective_date__lte=filters.date_to)
    return queryset


def _net(queryset: QuerySet[E]) -> QuerySet[E]:
    """Amounts signed: + for an entry, − for the reversal that cancels it."""
    # Named with its type: django-stubs types annotate() on a TypeVar's queryset
    # as Any (typeddjango/django-stubs#1046).
    netted: QuerySet[E] = queryset.annotate(
        net=Case(
            When(reverses__isnull=True, then=F("amount")),
            default=Value(0, output_field=MoneyField()) - F("amount"),
            output_field=MoneyField(),
        )
    )
    return netted


def _person_times(queryset: QuerySet[Disbursement]) -> QuerySet[Disbursement]:
    """+1 per payment to a person, −1 per reversal of one; payments to units are no person-times."""
    return queryset.annotate(
        times=Case(
            When(beneficiary__isnull=True, then=Value(0)),
            When(reverses__isnull=True, then=Value(1)),
            default=Value(-1),
            output_field=IntegerField(),
        )
    )


def _scope_of(path_lookup: str, path: str, child_length: int) -> Case:
    """The child path prefix a row falls under, or OWN for F's own funds."""
    return Case(
        When(**{path_lookup: path}, then=Value(OWN)),
        When(**{f"{path_lookup}__startswith": path}, then=Substr(path_lookup, 1, child_length)),
        default=Value(""),
    )


def _by_scope(queryset: QuerySet[T], path_lookup: str, path: str, child_length: int) -> QuerySet[T]:
    # Named with its type, as in `_net`: annotate() on a TypeVar's queryset is Any.
    scoped: QuerySet[T] = queryset.annotate(scope=_scope_of(path_lookup, path, child_length))
    return scoped


def _sum_int(name: str) -> Coalesce:
    return Coalesce(Sum(name), Value(0))


def fiscal_years(federation: Federation) -> list[int]:
    """The fiscal years of the funds in `federation`'s subtree, latest first."""
    years = (
        Fund.objects.filter(federation__path__startswith=federation.path)
        .order_by("-fiscal_year")
        .values_list("fiscal_year", flat=True)
        .distinct()
    )
    return list(years)


# Spending by assistance type and month ------------------------------------------


@dataclass
class Spending:
    """Disbursed (net of reversals) from funds in a subtree, by month and assistance type."""

    cells: dict[tuple[datetime.date, str], Decimal]
    by_month: dict[datetime.date, Decimal]  # oldest first
    by_type: dict[str, Decimal]  # largest first
    total: Decimal


def spending(federation: Federation, filters: Filters = Filters()) -> Spending:
    """What `rollup` counts as disbursed, split by the month of each payment (a
    reversal counts in the month of what it reverses, as in the roll-up) and by
    assistance type: one GROUP BY query over the subtree's entries."""
    rows = (
        _net(_disbursed(filters).filter(fund__federation__path__startswith=federation.path))
        .annotate(month=TruncMonth(Coalesce("reverses__date", "date")))
        .values("month", "assistance_type")
        .annotate(amount=money_sum("net"))
        .order_by("month", "assistance_type")
    )
    cells: dict[tuple[datetime.date, str], Decimal] = {}
    by_month: dict[datetime.date, Decimal] = {}
    by_type: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        if row["amount"] == 0:
            continue  # a payment and its reversal in the same month
        month = row["month"]
        month = month.date() if isinstance(month, datetime.datetime) else month
        cells[month, row["assistance_type"]] = row["amount"]
        by_month[month] = by_month.get(month, ZERO) + row["amount"]
        by_type[row["assistance_type"]] += row["amount"]
    ordered_types = dict(sorted(by_type.items(), key=lambda item: (-item[1], item[0])))
    return Spending(cells=cells, by_month=by_month, by_type=ordered_types, total=sum(by_month.values(), ZERO))


# The rows behind a figure ------------------------------------------------------

FIGURES_WITH_ROWS = ("raised", "allocated_out", "disbursed", "balance")


def _in(lookup: str, federation: Federation, *, own: bool) -> dict[str, str]:
    """Filter kwargs for "the federation at `lookup` lies in the scope": F's own
    funds only (本级), or F's whole subtree."""
    return {lookup: federation.path} if own else {f"{lookup}__startswith": federation.path}


def rows_behind(
    figure: str, federation: Federation, *, own: bool = False, filters: Filters = Filters()
) -> dict[str, QuerySet[Movement] | QuerySet[Fund]]:
    """The entries a figure of `rollup` sums, as querysets by kind, for the scope
    "federation's subtree" (or its own funds with `own`). Reversals are included
    and subtract, as in the figure."""
    path_in = {
        "fund": "fund__federation__path",
        "to": "to_fund__federation__path",
        "from": "from_fund__federation__path",
    }
    if figure == "raised":
        return {
            "contributions": _approved(Contribution, filters, "fund").filter(
                **_in(path_in["fund"], federation, own=own)
            ),
            "allocations": _approved(Allocation, filters, "to_fund")
            .filter(**_in(path_in["to"], federation, own=own))
            .exclude(**_in(path_in["from"], federation, own=own)),
        }
    if figure == "allocated_out":
        return {
            "allocations": _approved(Allocation, filters, "from_fund")
            .filter(**_in(path_in["from"], federation, own=own))
            .exclude(**_in(path_in["to"], federation, own=own))
        }
    if figure == "disbursed":
        return {"disbursements": _disbursed(filters).filter(**_in(path_in["fund"], federation, own=own))}
    if figure == "balance":
        return {
            "funds": _fund_filtered(Fund.objects.filter(**_in("federation__path", federation, own=own)), filters, None)
        }
    raise ValueError(f"No rows behind {figure!r}")


def net_total(queryset: QuerySet[Movement]) -> Decimal:
    total: Decimal = _net(queryset).aggregate(total=money_sum("net"))["total"]
    return total
