"""What `verify_ledger --totals` proves of the archive and the rules: that no
fund requiring the archive paid anyone outside an open entry on the payment's
date (replaying each entry's approved history), that the rules' running
totals are what the payments charged to them add up to, and that no cap or
once-a-year rule was passed without an override's recorded reason."""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from allocations.models import CLOSED, Disbursement, PolicyRule, PolicyUsage, RuleScope, Status
from beneficiaries import archive
from beneficiaries.archive_models import ArchiveChange, ChangeKind, ChangeStatus, Household
from unionfunds.models import Federation
from unionfunds.money import format_yuan

OUTSIDE_ARCHIVE = _(
    "%(entry)s was paid from fund %(fund)s, which pays archived households only, to no household open on %(date)s."
)
USAGE = _(
    "Rule %(rule)s, %(scope)s #%(subject)s in %(year)s: %(actual)s, but the payments charged to it give %(expected)s."
)
CAP_PASSED = _(
    "Rule %(rule)s, %(scope)s #%(subject)s in %(year)s: %(amount)s yuan paid against a cap of %(cap)s yuan, "
    "and no payment records an override."
)
ONCE_PASSED = _(
    "Rule %(rule)s, %(scope)s #%(subject)s in %(year)s: paid %(times)s times under a once-a-year rule, "
    "and no payment records an override."
)


def check(report) -> None:
    _check_archive_payments(report)
    _check_usage(report)


def _open_days(household_ids: set[int]) -> dict[int, list[tuple[datetime.date, datetime.date | None]]]:
    """Each household's periods in the archive, from its entries' approved history."""
    periods: defaultdict[int, list[tuple[datetime.date, datetime.date | None]]] = defaultdict(list)
    changes = (
        ArchiveChange.objects.filter(
            entry__household_id__in=household_ids,
            status=ChangeStatus.APPROVED,
            kind__in=(ChangeKind.OPEN, ChangeKind.REOPEN, ChangeKind.CLOSE),
        )
        .order_by("entry_id", "effective_on", "pk")
        .values_list("entry__household_id", "entry_id", "kind", "effective_on")
    )
    opened: dict[int, datetime.date] = {}
    households: dict[int, int] = {}
    for household_id, entry_id, kind, day in changes:
        households[entry_id] = household_id
        if kind == ChangeKind.CLOSE:
            if entry_id in opened:
                periods[household_id].append((opened.pop(entry_id), day))
        elif entry_id not in opened:
            opened[entry_id] = day
    for entry_id, day in opened.items():
        periods[households[entry_id]].append((day, None))
    return periods


def _check_archive_payments(report) -> None:
    payments = list(
        Disbursement.objects.filter(fund__requires_archive=True, reverses__isnull=True)
        .exclude(status__in=CLOSED)
        .order_by("pk")
        .values_list("pk", "fund_id", "household_id", "date")
    )
    periods = _open_days({household for _, _, household, _ in payments if household is not None})
    for pk, fund_id, household_id, day in payments:
        covered = household_id is not None and any(
            start <= day and (end is None or day <= end) for start, end in periods.get(household_id, ())
        )
        if not covered:
            report.add(OUTSIDE_ARCHIVE, fund_id=fund_id, entry=(3, pk), date=day.isoformat())


def _check_usage(report) -> None:
    rules = {rule.pk: rule for rule in PolicyRule.objects.all()}
    if not rules:
        return
    live = (
        Disbursement.objects.exclude(policy_rules="")
        .filter(reverses__isnull=True)
        .exclude(status__in=CLOSED)
        .exclude(reversals__status=Status.APPROVED)
        .values_list(
            "policy_rules", "household_id", "beneficiary_id", "date", "amount", "policy_override", "fund__federation_id"
        )
    )
    expected: defaultdict[tuple, list] = defaultdict(lambda: [Decimal("0.00"), 0, False, None])
    for charged, household_id, beneficiary_id, day, amount, override, federation_id in live.iterator():
        for pk in map(int, charged.split(",")):
            rule = rules[pk]
            if rule.scope == RuleScope.HOUSEHOLD and household_id is not None:
                key = (pk, RuleScope.HOUSEHOLD.value, household_id, day.year)
            else:
                key = (pk, RuleScope.PERSON.value, beneficiary_id, day.year)
            figures = expected[key]
            figures[0] += amount
            figures[1] += 1
            figures[2] = figures[2] or bool(override)
            figures[3] = figures[3] or federation_id
    have = {
        (u.rule_id, u.scope, u.subject, u.year): (u.amount, u.payments)
        for u in PolicyUsage.objects.filter(Q(amount__gt=0) | Q(payments__gt=0))
    }
    for key in sorted(set(have) | set(expected), key=str):
        got = have.get(key, (Decimal("0.00"), 0))
        want = tuple(expected[key][:2]) if key in expected else (Decimal("0.00"), 0)
        rule = rules[key[0]]
        params = {"rule": rule.name, "scope": key[1], "subject": key[2], "year": key[3]}
        if got != want:
            report.add(USAGE, **params, actual=_text(got), expected=_text(want))
    households = Household.objects.in_bulk({k[2] for k in expected if k[1] == RuleScope.HOUSEHOLD})
    federations: dict[int, Federation] = {}
    for key, (amount, times, overridden, federation_id) in expected.items():
        rule = rules[key[0]]
        params = {"rule": rule.name, "scope": key[1], "subject": key[2], "year": key[3]}
        if overridden:
            continue
        if rule.once_per_year and times > 1:
            report.add(ONCE_PASSED, **params, times=times)
        cap = rule.cap_amount
        if rule.cap_dibao_months is not None:
            where_id = households[key[2]].federation_id if key[1] == RuleScope.HOUSEHOLD else federation_id
            if where_id not in federations:
                federations[where_id] = Federation.objects.get(pk=where_id)
            line = archive.dibao_line(federations[where_id], key[3])
            cap = (line * rule.cap_dibao_months).quantize(Decimal("0.01")) if line is not None else None
        if cap is not None and amount > cap:
            report.add(CAP_PASSED, **params, amount=format_yuan(amount), cap=format_yuan(cap))


def _text(figures: tuple) -> str:
    return f"{format_yuan(figures[0])} / {figures[1]}"
