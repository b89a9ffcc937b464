"""The archive and the rules a payment is held to, inside the money core.

`check` runs in `services._check_payments`, after the fund is locked: it finds
each person's open archive entry (依档帮扶, locking the entries as closing one
does), the rules binding the fund (`PolicyRule`), and the running totals per
person or household and year (`PolicyUsage`), locked by one upsert per batch
in key order, so that 20 clerks paying one household take turns and a
100,000-row list is checked in one pass without reading a single payment.

A payment counts towards its rules from the moment it is entered, as it
reserves money: the locking check adds what the list brings to each running
total in the same upsert that locks it (the totals before the list are what it
returned less that; a refusal rolls it all back), `charge` adds the payments
to people registered by the list, and `release` gives it back when it is
rejected, withdrawn or reversed. Each payment keeps the ids of the rules it was charged
to (`Disbursement.policy_rules`) and the household it helped, so that a release
gives back exactly what was taken whatever changed since.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from allocations.lists import Payment
from allocations.models import (
    AllocationTotal,
    AssistanceType,
    ContributionTotal,
    Disbursement,
    Fund,
    PolicyRule,
    PolicyUsage,
    RuleScope,
)
from beneficiaries import archive
from unionfunds import audit, bulkload, text
from unionfunds.errors import RowProblem, refuse
from unionfunds.models import Federation, Role
from unionfunds.money import fen_to_yuan, format_yuan, yuan_to_fen
from unionfunds.permissions import require_role

NOT_IN_ARCHIVE = _(
    "%(name)s is not in an open hardship archive entry on %(date)s: this fund pays archived households only (依档帮扶)."
)
ARCHIVE_NEEDS_PERSON = _("This fund pays archived households by real name only: a unit cannot be paid from it.")
NOT_ALLOWED = _("%(rule)s: %(assistance_type)s may not be paid from this fund.")
ONCE_PER_YEAR = _("%(rule)s: %(subject)s already received it in %(year)s (once a year, whoever pays).")
CAP_EXCEEDED = _(
    "%(rule)s: %(subject)s received %(used)s yuan in %(year)s; the cap is %(cap)s yuan, %(room)s yuan left."
)
NO_DIBAO_LINE = _(
    "%(rule)s: no minimum living standard is set for %(federation)s in %(year)s, so the cap cannot be worked out."
)
THIS_HOUSEHOLD = _("this household")

Key = tuple[int, str, int, int]  # rule, scope, subject, year


@dataclass
class Binding:
    """The rules that bind one fund, read once per list."""

    rules: list[PolicyRule]
    # The rules of each assistance type, worked out once: a list asks for every row.
    _by_type: dict[str, list[PolicyRule]] = field(default_factory=dict, repr=False, compare=False)

    def for_type(self, assistance_type: str) -> list[PolicyRule]:
        found = self._by_type.get(assistance_type)
        if found is None:
            found = self._by_type[assistance_type] = [
                rule for rule in self.rules if rule.assistance_type in ("", assistance_type)
            ]
        return found


def binding(fund: Fund) -> Binding:
    """The rules in force over the fund's federation, for its purpose and for the
    sources its money came from."""
    rules = list(PolicyRule.objects.over(fund.federation).filter(active=True, purpose__in=("", fund.purpose)))
    if any(rule.source for rule in rules):
        sources = _sources(fund)
        rules = [rule for rule in rules if rule.source in ("", *sources)]
    return Binding(rules)


def _sources(fund: Fund) -> set[str]:
    """The sources of the money a fund holds: raised into it, or into any fund
    that allocated to it, up the chain (read from the running totals)."""
    seen, frontier, sources = {fund.pk}, {fund.pk}, set()
    while frontier:
        sources |= set(
            ContributionTotal.objects.filter(fund_id__in=frontier, amount__gt=0).values_list("source", flat=True)
        )
        senders = set(
            AllocationTotal.objects.filter(to_fund_id__in=frontier, amount__gt=0).values_list("from_fund_id", flat=True)
        )
        frontier = senders - seen
        seen |= frontier
    return sources


def check(
    fund: Fund, payments: Sequence[Payment], *, lock: bool, home_federation: Federation, problems: list[RowProblem]
) -> None:
    """The archive and the rules, for payments whose other checks ran: each
    payment learns its household and its rules; each refusal is added to
    `problems`. With `lock`, what was relied on stays locked, and the payments
    of known people are counted towards their running totals already: the
    caller writes them in the same transaction, or raises and rolls it back."""
    rules = binding(fund)
    if not fund.requires_archive and not rules.rules:
        return
    people = [p for p in payments if p.beneficiary_id is not None]
    entries = archive.open_entries((p.beneficiary_id for p in people), lock=lock) if people else {}
    for payment in payments:
        entry = entries.get(payment.beneficiary_id) if payment.beneficiary_id is not None else None
        if entry is not None and payment.date is not None and entry.covers(payment.date):
            payment.household_id, payment.household_federation_id = entry.household_id, entry.federation_id
        elif fund.requires_archive:
            if payment.unit_id is not None:
                problems.append(RowProblem(payment.row, "unit", "archive_needs_person", str(ARCHIVE_NEEDS_PERSON)))
            elif payment.date is not None:
                message = NOT_IN_ARCHIVE % {"name": payment.name, "date": payment.date.isoformat()}
                problems.append(RowProblem(payment.row, payment.recipient_field, "not_in_archive", str(message)))
    if rules.rules:
        _check_rules(rules, payments, lock=lock, home_federation=home_federation, problems=problems)


def _subject(rule: PolicyRule, payment: Payment) -> tuple[str, object] | None:
    """Who a rule counts for a payment: the household helped, or the person (by
    id, or by ID number while new). Units are not counted."""
    if rule.scope == RuleScope.HOUSEHOLD and payment.household_id is not None:
        return RuleScope.HOUSEHOLD, payment.household_id
    if payment.beneficiary_id is not None:
        return RuleScope.PERSON, payment.beneficiary_id
    if payment.person is not None:
        return RuleScope.PERSON, payment.person.number
    return None


def _check_rules(
    rules: Binding, payments: Sequence[Payment], *, lock: bool, home_federation: Federation, problems: list[RowProblem]
) -> None:
    counting = {rule.pk for rule in rules.rules if _counts(rule)}
    # Each payment's rules, whom each counts and under which running total, worked
    # out once for both passes (a list of 100,000 rows asks this 100,000 times).
    plans: list[tuple[Payment, int, list[tuple[PolicyRule, tuple[str, object] | None, Key | None]]]] = []
    # What the list brings to each running total if every payment is charged, as
    # it is unless one is refused (then nothing is written at all).
    brought: dict[Key, tuple[Decimal, int]] = {}
    for payment in payments:
        if payment.date is None or payment.amount is None:
            continue
        year = payment.date.year
        applying = []
        for rule in rules.for_type(payment.assistance_type):
            subject = _subject(rule, payment) if rule.pk in counting else None
            key = (rule.pk, subject[0], subject[1], year) if subject is not None else None
            applying.append((rule, subject, key))
            if key is not None and type(key[2]) is int:
                amount, times = brought.get(key, _NOTHING)
                brought[key] = (amount + payment.amount, times + 1)
        plans.append((payment, year, applying))
        payment.policy_counted = lock and payment.beneficiary_id is not None
    used = _usage(brought, lock=lock)
    caps = _Caps(home_federation)
    running: dict[Key, tuple[Decimal, int]] = {}
    charged_as: dict[tuple[int, ...], str] = {}
    for payment, year, applying in plans:
        charged: list[int] = []
        refused: list[tuple[str, str]] = []
        for rule, subject, key in applying:
            if not rule.allowed:
                label = AssistanceType(payment.assistance_type).label
                refused.append(("not_allowed", str(NOT_ALLOWED % {"rule": rule.name, "assistance_type": label})))
                continue
            if key is None:
                continue
            before_amount, before_times = used.get(key, _NOTHING)
            list_amount, list_times = running.get(key, _NOTHING)
            so_far = before_amount + list_amount
            fault = None
            if rule.once_per_year and before_times + list_times > 0:
                fault = (
                    "once_per_year",
                    str(ONCE_PER_YEAR % {"rule": rule.name, "subject": _who(subject, payment), "year": year}),
                )
            cap = rule.cap_amount if rule.cap_dibao_months is None else caps.of(rule, payment, year)
            if fault is None and isinstance(cap, str):
                fault = ("no_dibao_line", cap)
            elif fault is None and cap is not None and so_far + payment.amount > cap:
                fault = ("cap_exceeded", _over_cap(rule, _who(subject, payment), year, so_far, cap))
            if fault is not None and not (rule.overridable and payment.override_reason):
                refused.append(fault)
                continue
            if fault is not None:
                payment.overridden = True
            charged.append(rule.pk)
            running[key] = (list_amount + payment.amount, list_times + 1)
        as_text = charged_as.get(tuple(charged))
        if as_text is None:
            as_text = charged_as[tuple(charged)] = ",".join(map(str, charged))
        payment.policy_rules = as_text
        for code, message in refused:
            problems.append(RowProblem(payment.row, "amount", code, message))


def _who(subject, payment: Payment):
    return THIS_HOUSEHOLD if subject[0] == RuleScope.HOUSEHOLD else payment.name


def _over_cap(rule: PolicyRule, who, year: int, so_far: Decimal, cap: Decimal) -> str:
    room = max(cap - so_far, _ZERO)
    return str(
        CAP_EXCEEDED
        % {
            "rule": rule.name,
            "subject": who,
            "year": year,
            "used": format_yuan(so_far),
            "cap": format_yuan(cap),
            "room": format_yuan(room),
        }
    )


_ZERO = Decimal("0.00")
_NOTHING = (_ZERO, 0)  # a running total never counted: nothing paid, no payment


def _counts(rule: PolicyRule) -> bool:
    return rule.once_per_year or rule.cap_amount is not None or rule.cap_dibao_months is not None


class _Caps:
    """Each rule's cap where a payment is counted, the 低保 lines read once per
    federation and year, and each cap worked out once per rule, federation and year."""

    def __init__(self, home_federation: Federation):
        self.home = home_federation
        self.lines: dict[tuple[int, int], Decimal | None] = {}
        self.federations: dict[int, Federation] = {home_federation.pk: home_federation}
        self.caps: dict[tuple[int, int, int], Decimal | str] = {}

    def of(self, rule: PolicyRule, payment: Payment, year: int) -> Decimal | str | None:
        if rule.cap_amount is not None:
            return rule.cap_amount
        if rule.cap_dibao_months is None:
            return None
        federation_id = payment.household_federation_id or self.home.pk
        known = self.caps.get((rule.pk, federation_id, year))
        if known is None:
            known = self.caps[(rule.pk, federation_id, year)] = self._tied(rule, federation_id, year)
        return known

    def _tied(self, rule: PolicyRule, federation_id: int, year: int) -> Decimal | str:
        if federation_id not in self.federations:
            self.federations[federation_id] = Federation.objects.get(pk=federation_id)
        federation = self.federations[federation_id]
        if (federation_id, year) not in self.lines:
            self.lines[(federation_id, year)] = archive.dibao_line(federation, year)
        line = self.lines[(federation_id, year)]
        if line is None:
            return str(NO_DIBAO_LINE % {"rule": rule.name, "federation": federation.name, "year": year})
        assert rule.cap_dibao_months is not None
        return (line * rule.cap_dibao_months).quantize(Decimal("0.01"))


# The running totals --------------------------------------------------------------

_TABLE = PolicyUsage._meta.db_table
_COLUMNS = "rule_id, scope, subject, year, amount, payments"
_CONFLICT = "ON CONFLICT (rule_id, scope, subject, year) DO UPDATE SET"
# Four keys and two figures a row: what one statement may carry on SQLite.
_ROWS_PER_STATEMENT = max(1, (connection.features.max_query_params or 60_000) // 6)


def _usage(brought: dict[Key, tuple[Decimal, int]], *, lock: bool) -> dict[Key, tuple[Decimal, int]]:
    """The running totals of these keys before the list. With `lock`, what the
    list brings is added at once, each row made if missing and locked (an upsert
    takes the row lock) in key order: one write per total, the charge included."""
    found: dict[Key, tuple[Decimal, int]] = {}
    if not brought:
        return found
    keys = sorted(brought)
    with connection.cursor() as cursor:
        for batch, params in _batches(keys):
            if connection.vendor == "postgresql":
                # The keys as arrays: one parameter each, however many keys, where a VALUES
                # list or an OR of 10,000 conditions costs the server its parsing and planning.
                if lock:
                    cursor.execute(
                        f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT {_KEY_COLUMNS}, k.amount, k.payments "
                        f"FROM {_KEYS_WITH_DELTAS} ORDER BY k.place {_CONFLICT} {_ADDED} "
                        "RETURNING rule_id, scope, subject, year, amount, payments",
                        _arrays(batch, *_figures(batch, brought)),
                    )
                else:
                    cursor.execute(
                        f"SELECT u.rule_id, u.scope, u.subject, u.year, u.amount, u.payments FROM {_TABLE} u "
                        f"JOIN {_KEYS} USING (rule_id, scope, subject, year)",
                        _arrays(batch),
                    )
            elif lock:
                values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(batch))
                cursor.execute(
                    f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES {values} {_CONFLICT} {_ADDED} "
                    "RETURNING rule_id, scope, subject, year, amount, payments",
                    [v for key in batch for v in (*key, yuan_to_fen(brought[key][0]), brought[key][1])],
                )
            else:
                where = " OR ".join(["(rule_id = %s AND scope = %s AND subject = %s AND year = %s)"] * len(batch))
                cursor.execute(
                    f"SELECT rule_id, scope, subject, year, amount, payments FROM {_TABLE} WHERE {where}", params
                )
            for rule_id, scope, subject, year, fen, times in cursor.fetchall():
                found[(rule_id, scope, subject, year)] = (fen_to_yuan(fen), times)
    if lock:
        for key, (amount, times) in brought.items():
            after_amount, after_times = found[key]
            found[key] = (after_amount - amount, after_times - times)
    return found


_ADDED = f"amount = {_TABLE}.amount + excluded.amount, payments = {_TABLE}.payments + excluded.payments"


def _figures(keys: list[Key], deltas: dict[Key, tuple[Decimal, int]]) -> tuple[list[int], list[int]]:
    return [yuan_to_fen(deltas[key][0]) for key in keys], [deltas[key][1] for key in keys]


# The keys given as arrays, in their order (PostgreSQL), as rows of the table's key columns.
_KEY_COLUMNS = "k.rule_id, k.scope, k.subject, k.year"
_KEYS = (
    "unnest(%s::bigint[], %s::varchar[], %s::bigint[], %s::integer[]) "
    "WITH ORDINALITY AS k(rule_id, scope, subject, year, place)"
)


_KEYS_WITH_DELTAS = (
    "unnest(%s::bigint[], %s::varchar[], %s::bigint[], %s::integer[], %s::bigint[], %s::integer[]) "
    "WITH ORDINALITY AS k(rule_id, scope, subject, year, amount, payments, place)"
)


def _batches(keys: list[Key]):
    """(keys, their values flat) in slices one statement may take: all at once on
    PostgreSQL, which takes them as arrays."""
    size = len(keys) if connection.vendor == "postgresql" else _ROWS_PER_STATEMENT
    for start in range(0, len(keys), size):
        batch = keys[start : start + size]
        yield batch, ([] if connection.vendor == "postgresql" else [value for key in batch for value in key])


def _arrays(keys: list[Key], *more: list) -> list[str | list]:
    return [bulkload.pg_array(column) for column in [*zip(*keys, strict=True), *more]]


def charge(payments: Iterable[Payment]) -> None:
    """Count written payments towards the rules they were checked against, those
    the locking check did not count already (people the list registered)."""
    _move(
        _deltas(
            (p.policy_rules, p.household_id, p.beneficiary_id, p.date, p.amount)
            for p in payments
            if not p.policy_counted
        ),
        sign=1,
    )


def release(disbursements: Iterable[Disbursement]) -> None:
    """Give back what these payments counted (rejected, withdrawn, or reversed)."""
    _move(_deltas((d.policy_rules, d.household_id, d.beneficiary_id, d.date, d.amount) for d in disbursements), sign=-1)


def _deltas(
    rows: Iterable[tuple[str, int | None, int | None, datetime.date | None, Decimal | None]],
) -> dict[Key, tuple[Decimal, int]]:
    scopes: dict[int, str] = {}
    deltas: defaultdict[Key, tuple[Decimal, int]] = defaultdict(lambda: (Decimal("0.00"), 0))
    pending = [row for row in rows if row[0]]
    wanted = {int(pk) for row in pending for pk in row[0].split(",")}
    if wanted:
        scopes = dict(PolicyRule.objects.filter(pk__in=wanted).values_list("pk", "scope"))
    for rules, household_id, beneficiary_id, day, amount in pending:
        if day is None or amount is None:
            continue
        for pk in map(int, rules.split(",")):
            if scopes[pk] == RuleScope.HOUSEHOLD and household_id is not None:
                key: Key = (pk, RuleScope.HOUSEHOLD, household_id, day.year)
            elif beneficiary_id is not None:
                key = (pk, RuleScope.PERSON, beneficiary_id, day.year)
            else:
                continue
            total, times = deltas[key]
            deltas[key] = (total + amount, times + 1)
    return dict(deltas)


def _move(deltas: dict[Key, tuple[Decimal, int]], *, sign: int) -> None:
    keys = sorted(deltas)
    if not keys:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            amounts, times = _figures(keys, deltas)
            if sign > 0:
                cursor.execute(
                    f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT {_KEY_COLUMNS}, k.amount, k.payments "
                    f"FROM {_KEYS_WITH_DELTAS} ORDER BY k.place "
                    f"{_CONFLICT} {_ADDED}",
                    _arrays(keys, amounts, times),
                )
            else:
                cursor.execute(
                    f"UPDATE {_TABLE} u SET amount = u.amount - k.amount, payments = u.payments - k.payments "
                    f"FROM {_KEYS_WITH_DELTAS} "
                    "WHERE (u.rule_id, u.scope, u.subject, u.year) = (k.rule_id, k.scope, k.subject, k.year)",
                    _arrays(keys, amounts, times),
                )
            return
        for start in range(0, len(keys), _ROWS_PER_STATEMENT):
            batch = keys[start : start + _ROWS_PER_STATEMENT]
            if sign > 0:
                values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(batch))
                cursor.execute(
                    f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES {values} {_CONFLICT} {_ADDED}",
                    [v for key in batch for v in (*key, yuan_to_fen(deltas[key][0]), deltas[key][1])],
                )
            else:
                cursor.executemany(
                    f"UPDATE {_TABLE} SET amount = amount - %s, payments = payments - %s "
                    "WHERE rule_id = %s AND scope = %s AND subject = %s AND year = %s",
                    [(yuan_to_fen(deltas[key][0]), deltas[key][1], *key) for key in batch],
                )


# Setting rules ----------------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "purpose",
    "assistance_type",
    "source",
    "allowed",
    "scope",
    "cap_amount",
    "cap_dibao_months",
    "once_per_year",
    "overridable",
    "active",
)
# What decides whom a rule counts and how much: fixed once payments were counted.
COUNTING_FIELDS = frozenset({"purpose", "assistance_type", "source", "cap_amount", "cap_dibao_months", "once_per_year"})
RULE_IN_USE = _(
    "Payments were already counted under this rule: take it out of force and set up a new one with the new terms."
)
SCOPE_FIXED = _("A rule keeps counting as it began (per person or per household): set up a new rule instead.")
ONE_CAP = _("Give the cap either in yuan or in months of the 低保 line, not both.")


@transaction.atomic
def rule_create(*, federation: Federation, by, **fields) -> PolicyRule:
    """A rule for the funds of `federation`'s subtree, set by its administrator."""
    require_role(by, Role.ADMIN, federation)
    unknown = sorted(set(fields) - set(RULE_FIELDS))
    if unknown:
        raise ValueError(f"Not a rule field: {', '.join(unknown)}")
    if fields.get("cap_amount") is not None and fields.get("cap_dibao_months") is not None:
        raise refuse(ONE_CAP, "one_cap", field="cap_amount")
    rule = PolicyRule(federation=federation, created_by=by, **fields)
    rule.name = text.clean_line(rule.name, "name", limit=100)
    rule.full_clean(exclude=["federation", "created_by"])
    rule.save()
    audit.log(rule, "policy_rule.created", user=by, federation=federation, changes=_rule_diff({}, rule))
    return rule


@transaction.atomic
def rule_update(*, rule: PolicyRule, by, **fields) -> PolicyRule:
    """Change a rule from now on. Who it counts (per person or per household) is
    what its running totals are kept by: a rule counted otherwise is a new rule."""
    rule = PolicyRule.objects.select_for_update().select_related("federation").get(pk=rule.pk)
    require_role(by, Role.ADMIN, rule.federation)
    unknown = sorted(set(fields) - set(RULE_FIELDS))
    if unknown:
        raise ValueError(f"Not editable: {', '.join(unknown)}")
    if fields.get("scope", rule.scope) != rule.scope:
        raise refuse(SCOPE_FIXED, "scope_fixed", field="scope")
    changed = {name for name, value in fields.items() if getattr(rule, name) != value}
    if changed & COUNTING_FIELDS and PolicyUsage.objects.filter(rule=rule, payments__gt=0).exists():
        raise refuse(RULE_IN_USE, "rule_in_use", field=sorted(changed & COUNTING_FIELDS)[0])
    before = audit.snapshot(rule, RULE_FIELDS)
    for name, value in fields.items():
        setattr(rule, name, value)
    if rule.cap_amount is not None and rule.cap_dibao_months is not None:
        raise refuse(ONE_CAP, "one_cap", field="cap_amount")
    rule.name = text.clean_line(rule.name, "name", limit=100)
    rule.full_clean(exclude=["federation", "created_by"])
    rule.save()
    audit.log(
        rule,
        "policy_rule.changed",
        user=by,
        federation=rule.federation,
        changes=audit.diff(before, audit.snapshot(rule, RULE_FIELDS)),
    )
    return rule


def _rule_diff(before: dict, rule: PolicyRule) -> dict:
    return audit.diff(before, audit.snapshot(rule, RULE_FIELDS))
