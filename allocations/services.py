"""The only way money moves.

Every write that changes a fund's balance or reservation is here, whatever the
door (admin, pages, API single or bulk, imports), and no other module assigns
either. The functions are set-based: a real-name list of 100,000 payments and a
single payment run the same checks in the same code (a single entry is the
one-row case of a list), and a list is written in bulk (COPY on PostgreSQL).

Each call runs in one transaction and goes check → lock the funds (in id order,
so that two requests never wait on each other in a circle) → move the
reservation or the balance → on approval, the hash chain and the running totals
→ the audit trail, one record per entry with the same fields and labels whatever
the door. Every problem is found before anything is written. On SQLite the same
code is serialised by IMMEDIATE transactions instead of row locks.
"""

import copy
import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar, overload

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F, QuerySet, TextChoices
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from allocations import ledger, lists, notify, policy, totals
from allocations.holdings import holdings_sql
from allocations.lists import ListRow, Payment
from allocations.models import (
    CLOSED,
    Allocation,
    AssistanceType,
    Contribution,
    Disbursement,
    Fund,
    ListOrigin,
    Movement,
    PaymentList,
    Purpose,
    Source,
    Status,
)
from beneficiaries.models import Beneficiary, Unit, person_label
from beneficiaries.services import PersonLine, cards_for, name_problems, people_known, people_register
from unionfunds import audit, bulkload, text, trail
from unionfunds.actors import Actor
from unionfunds.bulkload import AnyOf
from unionfunds.errors import INVALID_CHOICE, ListRefused, RowProblem, one_row, refuse
from unionfunds.models import Federation, Role
from unionfunds.money import INVALID_AMOUNT, valid_amount
from unionfunds.permissions import has_role, require_role

INSUFFICIENT_FUNDS = _("Insufficient funds: %(fund)s has %(available)s yuan available, and %(amount)s yuan are needed.")
MAKER_CANNOT_APPROVE = _("You entered this yourself: another approver has to decide on it.")
NOT_PENDING = _("This entry is already %(status)s; only a pending entry can be changed.")
RETURNED_FOR_CORRECTION = _(
    "This entry was returned to its clerk for correction; it comes back to the approvers when they resubmit it."
)
NOT_RETURNED = _("This entry was not returned for correction: there is nothing to resubmit.")
ONLY_THE_MAKER = _("Only the clerk who entered it can take it back or resubmit it.")
NOT_REVERSIBLE = _("Only an approved entry that is not itself a reversal can be reversed.")
ALREADY_REVERSED = _("This entry already has a reversal, pending or approved.")
DUPLICATE_PAYMENT = _(
    "%(name)s has already been paid %(assistance_type)s from this fund in %(month)s (%(earlier)s). "
    "Confirm the duplicate to pay again."
)
EARLIER_ENTRY = _("entry #%(id)s")
EARLIER_ROW = _("row %(row)s of this list")
REASON_REQUIRED = _("Give a reason.")
BATCH_LIMIT = Disbursement._meta.get_field("batch").max_length or 50
REFERENCE_LIMIT = Contribution._meta.get_field("reference").max_length or 100
FUND_NAME_LIMIT = Fund._meta.get_field("name").max_length or 100
REVERSAL_NOT_EDITABLE = _("A reversal cannot be edited; reject it and ask for a new one if it is wrong.")
ONE_RECIPIENT = _("Choose either a beneficiary or a unit as the recipient.")
WRONG_RECIPIENT_FUND = _("The recipient fund does not belong to the recipient federation.")
SAME_FUND = _("An allocation must go to another fund.")
NOTHING_TO_DECIDE = _("Choose at least one entry.")
LIST_DECIDED = _("Nothing of this list is waiting any more.")
LIST_CHANGED = _(
    "The list has changed since it was shown to you: %(rows)s rows (¥%(total)s) are waiting now. "
    "Look at it again before you decide."
)
LIST_AUDITED_FIELDS = ("fund", "batch", "origin", "rows", "total")
FUND_AUDITED = ("federation", "name", "purpose", "fiscal_year", "requires_archive", "opened_from")

__all__ = ["INVALID_AMOUNT", "INVALID_CHOICE", "ListRefused", "ListRow"]

M = TypeVar("M", Contribution, Allocation, Disbursement)
# Where bulkload writes each of a listed payment's fields.
ATTNAMES = {field.name: field.attname for field in Disbursement._meta.concrete_fields}

EDITABLE_FIELDS = {
    Contribution: ("amount", "date", "note", "reference"),
    Allocation: ("amount", "date", "note", "batch"),
    Disbursement: ("amount", "date", "note", "batch", "assistance_type"),
}
COPIED_ON_REVERSAL = {
    Contribution: ("fund_id", "source", "reference", "amount"),
    Allocation: ("from_fund_id", "to_federation_id", "to_fund_id", "batch", "amount"),
    Disbursement: (
        "fund_id",
        "beneficiary_id",
        "unit_id",
        "assistance_type",
        "batch",
        "amount",
        "payee_name",
        "payee_id_number",
    ),
}
AUDITED_FIELDS = {
    Contribution: ("fund", "source", "amount", "date", "reference", "note", "status", "reverses"),
    Allocation: ("from_fund", "to_federation", "to_fund", "amount", "date", "batch", "note", "status", "reverses"),
    Disbursement: (
        "fund",
        "beneficiary",
        "unit",
        "assistance_type",
        "amount",
        "date",
        "batch",
        "note",
        "status",
        "reverses",
        "duplicate_confirmed",
    ),
}


# Creating entries -----------------------------------------------------------


@transaction.atomic
def fund_create(
    *,
    federation: Federation,
    name: str,
    purpose: str,
    fiscal_year: int,
    requires_archive: bool | None = None,
    by: Actor,
) -> Fund:
    """A new fund; hardship funds pay archived households only (依档帮扶) unless
    told otherwise."""
    if not has_role(by, Role.ADMIN, federation):
        require_role(by, Role.CLERK, federation)
    return _fund_create(
        federation=federation,
        name=name,
        purpose=purpose,
        fiscal_year=fiscal_year,
        requires_archive=purpose == Purpose.HARDSHIP if requires_archive is None else requires_archive,
        by=by,
    )


@transaction.atomic
def contribution_create(
    *,
    fund: Fund,
    source: str,
    amount: Decimal | str,
    date: datetime.date | None = None,
    reference: str = "",
    note: str = "",
    by: Actor,
) -> Contribution:
    require_role(by, Role.CLERK, fund.federation)
    _require_choice("source", source, Source)
    contribution = Contribution(
        fund=fund,
        source=source,
        amount=valid_amount(amount),
        date=text.valid_entry_date(date or timezone.localdate()),
        reference=text.clean_line(reference, "reference", limit=REFERENCE_LIMIT),
        note=text.clean_note(note),
        created_by=by,
    )
    contribution.save()
    _log_created(contribution, by=by)
    return contribution


@transaction.atomic
def allocation_create(
    *,
    from_fund: Fund,
    to_federation: Federation,
    amount: Decimal | str,
    to_fund: Fund | None = None,
    date: datetime.date | None = None,
    batch: str = "",
    note: str = "",
    by: Actor,
) -> Allocation:
    require_role(by, Role.CLERK, from_fund.federation)
    amount = valid_amount(amount)
    date = text.valid_entry_date(date or timezone.localdate())
    batch, note = text.clean_line(batch, "batch", limit=BATCH_LIMIT), text.clean_note(note)
    if to_fund is None:
        to_fund = _recipient_fund(to_federation=to_federation, like=from_fund, by=by)
    elif to_fund.federation_id != to_federation.pk:
        raise refuse(WRONG_RECIPIENT_FUND, "wrong_recipient_fund", field="to_fund")
    if to_fund.pk == from_fund.pk:
        raise refuse(SAME_FUND, "same_fund", field="to_federation")
    _reserve(_lock_funds([from_fund.pk], by)[from_fund.pk], amount)
    allocation = Allocation(
        from_fund=from_fund,
        to_federation=to_federation,
        to_fund=to_fund,
        amount=amount,
        date=date or timezone.localdate(),
        batch=batch,
        note=note,
        created_by=by,
    )
    allocation.save()
    _log_created(allocation, by=by)
    return allocation


@transaction.atomic
def disbursement_create(
    *,
    fund: Fund,
    assistance_type: str,
    amount: Decimal | str,
    beneficiary: Beneficiary | None = None,
    unit: Unit | None = None,
    person: PersonLine | None = None,
    date: datetime.date | None = None,
    batch: str = "",
    note: str = "",
    confirm_duplicate: bool = False,
    override_reason: str = "",
    by: Actor,
) -> Disbursement:
    """One payment, to a registered person, a unit, or a person named by ID
    number (registered under the fund's federation if new): the one-row case of
    `disbursements_create`, refused field by field."""
    require_role(by, Role.CLERK, fund.federation)
    _require_choice("assistance_type", assistance_type, AssistanceType)
    if sum(recipient is not None for recipient in (beneficiary, unit, person)) != 1:
        raise refuse(ONE_RECIPIENT, "one_recipient", field="beneficiary")
    payment = Payment(
        row=1,
        amount=valid_amount(amount),
        assistance_type=assistance_type,
        date=date or timezone.localdate(),
        person=person,
        beneficiary_id=beneficiary.pk if beneficiary else None,
        unit_id=unit.pk if unit else None,
        note=note,
        confirm_duplicate=confirm_duplicate,
        override_reason=(override_reason or "").strip(),
        name=beneficiary.name if beneficiary else "",
        label=str(beneficiary or unit or ""),
        payee=(beneficiary.name, beneficiary.id_number) if beneficiary else (unit.name, "") if unit else ("", ""),
    )
    try:
        created = _pay(fund, [payment], by=by, batch=batch, home_federation=fund.federation)
    except ListRefused as refused:
        raise one_row(refused) from None
    created_one: Disbursement = Disbursement.objects.select_related("fund__federation", "beneficiary", "unit").get(
        pk=created.ids[0]
    )
    return created_one


@dataclass
class CheckedList:
    """A list that passed every check: what committing it would write."""

    fund: Fund
    payments: list[Payment]
    total: Decimal

    @property
    def new_people(self) -> int:
        return len({p.person.number for p in self.payments if p.person and p.beneficiary_id is None})

    @property
    def confirmed_duplicates(self) -> int:
        return sum(1 for p in self.payments if p.duplicate)


class CreatedList(Sequence[Disbursement]):
    """What a list wrote: the new disbursements' ids in row order and their total.
    The disbursements themselves are read from the database only if asked for."""

    def __init__(self, fund: Fund, ids: list[int], total: Decimal, payment_list_id: int | None = None):
        self.fund, self.ids, self.total, self.payment_list_id = fund, ids, total, payment_list_id
        self._loaded: list[Disbursement] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Disbursement: ...
    @overload
    def __getitem__(self, index: slice) -> list[Disbursement]: ...

    def __getitem__(self, index: int | slice) -> Disbursement | list[Disbursement]:
        if self._loaded is None:
            found = Disbursement.objects.in_bulk(self.ids)
            self._loaded = [found[pk] for pk in self.ids]
        return self._loaded[index]


@bulkload.gc_paused()
@transaction.atomic
def disbursements_check(
    *,
    fund: Fund,
    rows: Sequence[ListRow],
    by: Actor,
    assistance_type: str | None = None,
    date: datetime.date | None = None,
    home_federation: Federation | None = None,
) -> CheckedList:
    """Every check of `disbursements_create`, writing nothing: a preview.
    Raises `ListRefused` with every problem found."""
    home_federation = home_federation or fund.federation
    require_role(by, Role.CLERK, fund.federation)
    require_role(by, Role.CLERK, home_federation)
    payments, problems = lists.read_rows(list(rows), assistance_type=assistance_type, date=date)
    current, total = _check_payments(
        Fund.objects.select_related("federation").order_by().get(pk=fund.pk),
        payments,
        by,
        problems,
        lock=False,
        home_federation=home_federation,
    )
    if problems:
        raise ListRefused(problems)
    return CheckedList(fund=current, payments=payments, total=total)


@bulkload.gc_paused()
@transaction.atomic
def disbursements_create(
    *,
    fund: Fund,
    rows: Sequence[ListRow],
    by: Actor,
    assistance_type: str | None = None,
    date: datetime.date | None = None,
    batch: str = "",
    home_federation: Federation | None = None,
    origin: str = ListOrigin.API,
) -> CreatedList:
    """Create one pending disbursement per row, all or none, as one list
    (`PaymentList`) that is decided as one; people unknown by ID number are
    registered under `home_federation` (the fund's federation by default).
    Raises `ListRefused` with every problem found, having written nothing."""
    home_federation = home_federation or fund.federation
    require_role(by, Role.CLERK, fund.federation)
    require_role(by, Role.CLERK, home_federation)
    _require_choice("origin", origin, ListOrigin)
    payments, problems = lists.read_rows(list(rows), assistance_type=assistance_type, date=date)
    return _pay(fund, payments, by=by, batch=batch, home_federation=home_federation, problems=problems, origin=origin)


@transaction.atomic  # the locking check counts the payments: a refusal must take that back
def _pay(
    fund: Fund,
    payments: list[Payment],
    *,
    by: Actor,
    batch: str,
    home_federation: Federation,
    problems: list[RowProblem] | None = None,
    origin: str | None = None,
) -> CreatedList:
    """The core of every payment: check under the fund's lock, register the new
    people, reserve the total, write the entries and their audit records; with
    an `origin`, as one list. `problems` already found in the cells are reported
    with the rest."""
    batch = text.clean_line(batch, "batch", limit=BATCH_LIMIT)
    problems = list(problems or ())
    locked, total = _check_payments(
        _lock_funds([fund.pk], by)[fund.pk], payments, by, problems, lock=True, home_federation=home_federation
    )
    if problems:
        raise ListRefused(problems)
    new_people = [p.person for p in payments if p.person is not None and p.beneficiary_id is None]
    registered = people_register(new_people, federation=home_federation, by=by) if new_people else {}
    matched = [(p.beneficiary_id, p.person) for p in payments if p.person is not None and p.beneficiary_id is not None]
    cards_for(matched, federation=home_federation, by=by)  # for those registered outside the payer's subtree
    for payment in payments:
        if payment.beneficiary_id is None and payment.person is not None:
            known = registered[payment.person.number]
            payment.beneficiary_id = known.pk
    _reserve(locked, total)
    now = timezone.now()
    payment_list = None
    if origin is not None:
        payment_list = PaymentList.objects.create(
            fund=locked, batch=batch, origin=origin, rows=len(payments), total=total, created_by=by, created_at=now
        )
        audit.log(
            payment_list,
            "payment_list.created",
            user=by,
            federation=locked.federation,
            changes=audit.diff({}, audit.snapshot(payment_list, LIST_AUDITED_FIELDS)),
            reason=batch,
        )
    columns = (
        "beneficiary",
        "unit",
        "assistance_type",
        "amount",
        "date",
        "note",
        "duplicate_confirmed",
        "household",
        "policy_rules",
        "policy_override",
    )
    entries = [
        (
            p.beneficiary_id,
            p.unit_id,
            p.assistance_type,
            _read_amount(p),
            p.date,
            p.note,
            p.duplicate,
            p.household_id,
            p.policy_rules,
            p.override_reason if p.overridden else "",
        )
        for p in payments
    ]
    ids = bulkload.insert(
        Disbursement,
        [*(ATTNAMES[name] for name in columns), "payee_name", "payee_id_number"],
        [(*entry, *_payee(p)) for entry, p in zip(entries, payments, strict=True)],
        same={
            "fund_id": locked.pk,
            "batch": batch,
            "payment_list_id": payment_list.pk if payment_list else None,
            "created_by_id": by.pk,
            "created_at": now,
        },
    )
    policy.charge(payments)
    changes = audit.CreatedJson(
        columns,
        fund=locked.pk,
        batch=batch,
        payment_list=payment_list.pk if payment_list else None,
        status=Status.PENDING.value,
    )
    audit.log_many(
        Disbursement,
        "disbursement.created",
        [
            (
                pk,
                locked.federation_id,
                Disbursement.describe(locked.name, _recipient_label(p), entry[3]),
                changes(entry),
            )
            for pk, p, entry in zip(ids, payments, entries, strict=True)
        ],
        user=by,
        reason=batch,
    )
    if payment_list is not None:
        about = notify.About("paymentlist", str(payment_list), rows=len(ids))
        path = notify.list_path(payment_list.pk)
    else:
        about = notify.About(
            "disbursement", Disbursement.describe(locked.name, _recipient_label(payments[0]), entries[0][3])
        )
        path = notify.entry_path("disbursement", ids[0])
    notify.waiting(federation=locked.federation, maker=by, about=about, path=path)
    return CreatedList(locked, ids, total, payment_list.pk if payment_list else None)


def _check_payments(
    fund: Fund,
    payments: list[Payment],
    by: Actor,
    problems: list[RowProblem],
    *,
    lock: bool,
    home_federation: Federation,
) -> tuple[Fund, Decimal]:
    """Match people by ID number, then the rules every payment is checked by:
    the name matches the registered one, no payment repeats another, the
    archive and the policy rules hold (`policy`), the fund affords the total.
    Adds each problem found to `problems`; with `lock`, what the checks relied
    on stays locked until the transaction ends."""
    today = timezone.localdate()
    for payment in payments:
        # Every door's payment, a list row or a single entry, keeps the same bounds.
        for field, fault in (
            ("date", text.date_fault(payment.date, today=today) if payment.date else None),
            ("note", text.note_fault(payment.note.strip()) if payment.note else None),
            ("override_reason", text.note_fault(payment.override_reason) if payment.override_reason else None),
        ):
            if fault is not None:
                problems.append(RowProblem(payment.row, field, *fault))
    lines = [(p.row, p.person) for p in payments if p.person is not None]
    known = people_known(line.number for _, line in lines)
    problems += name_problems(lines, known, by)
    for payment in payments:
        if payment.person is None:
            continue
        match = known.get(payment.person.number)
        payment.name = payment.person.name
        if match is not None:
            payment.beneficiary_id = match.pk
    problems += _duplicates(fund.pk, payments)
    policy.check(fund, payments, lock=lock, home_federation=home_federation, problems=problems)
    total = sum((p.amount for p in payments if p.amount is not None), Decimal("0.00"))
    if not problems and total > fund.available:
        problems.append(RowProblem(None, "amount", "insufficient_funds", str(_insufficient(fund, total))))
    return fund, total


def _recipient_label(payment: Payment) -> str:
    """The payee as the trail names them; for a person by ID number, named only
    when the entry is written (a preview does not need it)."""
    if payment.label or payment.person is None:
        return payment.label
    return person_label(payment.person.name, payment.person.number)


def _payee(payment: Payment) -> tuple[str, str]:
    if payment.person is not None:
        return payment.person.name, payment.person.number
    return payment.payee


def _read_amount(payment: Payment) -> Decimal:
    if payment.amount is None:  # an unreadable amount is refused before anything is written
        raise AssertionError(f"row {payment.row}: no amount")
    return payment.amount


def _duplicates(fund_id: int, payments: list[Payment], *, exclude: int | None = None) -> list[RowProblem]:
    """A payment that repeats another to the same person from the same fund, for
    the same assistance type, in the same month (earlier in the ledger or
    earlier in the list) is refused unless confirmed; a confirmed one is marked
    `duplicate`. Checked under the fund's lock when writing, so two clerks paying
    the same person at once cannot both pass."""
    ids = sorted({p.beneficiary_id for p in payments if p.beneficiary_id is not None})
    earlier_entry: dict[tuple[object, ...], int] = {}
    for batch in bulkload.batches(ids):
        found = (
            Disbursement.objects.live()
            .filter(AnyOf(F("beneficiary_id"), batch), fund_id=fund_id)
            .exclude(pk=exclude)
            .values_list("pk", "beneficiary_id", "assistance_type", "date")
        )
        for pk, beneficiary_id, kind, day in found:
            key = (beneficiary_id, kind, day.year, day.month)
            earlier_entry[key] = min(pk, earlier_entry.get(key, pk))
    first_row: dict[tuple[object, ...], Payment] = {}
    problems = []
    for p in payments:
        who = p.beneficiary_id if p.beneficiary_id is not None else (p.person.number if p.person else None)
        if who is None or p.date is None:
            continue
        key = (who, p.assistance_type, p.date.year, p.date.month)
        first = first_row.setdefault(key, p)
        if key in earlier_entry:
            earlier = EARLIER_ENTRY % {"id": earlier_entry[key]}
        elif first is not p:
            # Named as the clerk sees it: an imported sheet's line, not the list's position.
            earlier = EARLIER_ROW % {"row": first.line or first.row}
        else:
            continue
        if p.confirm_duplicate:
            p.duplicate = True
            continue
        message = DUPLICATE_PAYMENT % {
            "name": p.name,
            "assistance_type": AssistanceType(p.assistance_type).label,
            "month": f"{p.date:%Y-%m}",
            "earlier": earlier,
        }
        problems.append(RowProblem(p.row, p.recipient_field, "duplicate_payment", str(message)))
    return problems


# Changing a pending entry ----------------------------------------------------


@transaction.atomic
def movement_update(*, movement: Movement, by: Actor, confirm_duplicate: bool = False, **changes: object) -> Movement:
    """Edit a pending entry; the reservation follows a changed amount."""
    movement = _lock_movement(movement, by)
    _require_pending(movement)
    require_role(by, Role.CLERK, movement.owner())
    if movement.is_reversal:
        # A reversal mirrors its entry; a wrong one is rejected, not edited.
        raise refuse(REVERSAL_NOT_EDITABLE, "reversal_not_editable")
    editable = EDITABLE_FIELDS[type(movement)]
    unknown = sorted(set(changes) - set(editable))
    if unknown:
        raise ValueError(f"Not editable: {', '.join(unknown)}")
    fields = AUDITED_FIELDS[type(movement)]
    before = audit.snapshot(movement, fields)
    old_amount = movement.amount
    as_entered = copy.copy(movement)  # what the entry counted towards the policy rules
    for name, value in changes.items():
        setattr(movement, name, _edited(name, value))
    if "assistance_type" in changes:
        _require_choice("assistance_type", str(changes["assistance_type"]), AssistanceType)
    funds = _lock_funds(movement.debited_funds(), by)
    if isinstance(movement, Disbursement):
        payment = Payment(
            row=1,
            amount=movement.amount,
            assistance_type=movement.assistance_type,
            date=movement.date,
            beneficiary_id=movement.beneficiary_id,
            unit_id=movement.unit_id,
            confirm_duplicate=confirm_duplicate,
            override_reason=movement.policy_override,
            name=movement.payee_name or (movement.beneficiary.name if movement.beneficiary else ""),
        )
        problems = _duplicates(movement.fund_id, [payment], exclude=movement.pk) if movement.beneficiary_id else []
        # Checked again as if entered now, without what the entry counted so far.
        policy.release([as_entered] if isinstance(as_entered, Disbursement) else [])
        fund = funds[movement.fund_id]
        policy.check(fund, [payment], lock=True, home_federation=fund.federation, problems=problems)
        if problems:
            raise one_row(ListRefused(problems))
        movement.duplicate_confirmed = payment.duplicate
        movement.household_id, movement.policy_rules = payment.household_id, payment.policy_rules
        policy.charge([payment])
    for fund in funds.values():
        fund.reserved -= old_amount
        _reserve(fund, movement.amount)
    movement.save()
    audit.log(
        movement,
        f"{_kind(type(movement))}.edited",
        user=by,
        federation=movement.owner(),
        changes=audit.diff(before, audit.snapshot(movement, fields)),
    )
    return movement


# Deciding --------------------------------------------------------------------


@transaction.atomic
def movements_approve(*, movements: Sequence[Movement], by: Actor) -> int:
    """Approve pending entries of one kind: all of them or, on the first refusal,
    none. The funds' balances move, the entries join the funds' hash chains and
    the running totals, each in the same transaction."""
    locked, owners = _lock_for_decision(movements, by)
    model = type(locked[0])
    debits: defaultdict[int, Decimal] = defaultdict(Decimal)
    credits: defaultdict[int, Decimal] = defaultdict(Decimal)
    for movement in locked:
        for pk in movement.debited_funds():
            debits[pk] += movement.amount
        for pk in movement.credited_funds():
            credits[pk] += movement.amount
    funds = _lock_funds(list(set(debits) | set(credits)), by)
    for pk, fund in funds.items():
        fund.balance += credits[pk] - debits[pk]
        fund.reserved -= debits[pk]
        fund.save(update_fields=["balance", "reserved"])
    _decide(model, locked, owners, Status.APPROVED, by=by)
    reversed_ids = [m.reverses_id for m in locked if isinstance(m, Disbursement) and m.reverses_id is not None]
    if reversed_ids:
        # Money back in the fund: the payment no longer counts towards its rules.
        policy.release(Disbursement.objects.filter(pk__in=reversed_ids).order_by())
    ledger.record(locked, funds)
    totals.record(locked)
    return len(locked)


@transaction.atomic
def movements_reject(*, movements: Sequence[Movement], by: Actor, reason: str) -> int:
    """Reject pending entries of one kind, all or none, releasing what they reserved."""
    reason = _required_reason(reason)
    locked, owners = _lock_for_decision(movements, by)
    _release(locked, by)
    _decide(type(locked[0]), locked, owners, Status.REJECTED, by=by, reason=reason)
    return len(locked)


@transaction.atomic
def movements_return(*, movements: Sequence[Movement], by: Actor, reason: str) -> int:
    """Send pending entries back to their clerk for correction (退回修改), all or
    none: they stay pending and keep what they reserve, out of the approvers'
    queue until the clerk resubmits or withdraws them."""
    reason = _required_reason(reason)
    locked, owners = _lock_for_decision(movements, by)
    model = type(locked[0])
    returned_at = timezone.now()
    model._default_manager.filter(pk__in=[m.pk for m in locked]).update(
        returned_by=by, returned_at=returned_at, return_reason=reason
    )
    for movement in locked:
        movement.returned_by_id, movement.returned_at, movement.return_reason = by.pk, returned_at, reason
    _log_each(model, locked, owners, "returned", by=by, reason=reason)
    _tell_makers(model, locked, _labels(model, [m.pk for m in locked]), "returned", by=by, reason=reason)
    return len(locked)


@transaction.atomic
def movements_resubmit(*, movements: Sequence[Movement], by: Actor) -> int:
    """The clerk sends corrected entries back to the approvers, all or none."""
    locked, owners = _lock_own(movements, by)
    if any(movement.returned_at is None for movement in locked):
        raise refuse(NOT_RETURNED, "not_returned")
    model = type(locked[0])
    model._default_manager.filter(pk__in=[m.pk for m in locked]).update(
        returned_by=None, returned_at=None, return_reason=""
    )
    for movement in locked:
        movement.returned_by_id, movement.returned_at, movement.return_reason = None, None, ""
    _log_each(model, locked, owners, "resubmitted", by=by)
    _tell_approvers(model, locked, owners, by=by)
    return len(locked)


def _tell_approvers(model: type[Movement], locked: list[Movement], owners: dict[int, int], *, by: Actor) -> None:
    """Resubmitted entries wait again: one notice to the approvers of each federation
    they belong to, naming the entry, the list they came in, or their count."""
    federations = Federation.objects.in_bulk(set(owners.values()))
    for federation_id, federation in federations.items():
        mine = [m for m in locked if owners[m.pk] == federation_id]
        lists: set[int | None] = {getattr(m, "payment_list_id", None) for m in mine}
        (only,) = lists if len(lists) == 1 else (None,)
        if len(mine) == 1:
            label = _labels(model, [mine[0].pk])[mine[0].pk]
            about, path = notify.About(_kind(model), label), notify.entry_path(_kind(model), mine[0].pk)
        elif only is not None:
            payment_list = PaymentList.objects.get(pk=only)
            about = notify.About("paymentlist", str(payment_list), rows=len(mine))
            path = notify.list_path(payment_list.pk)
        else:
            about, path = notify.About(_kind(model), rows=len(mine)), reverse("approvals")
        notify.waiting(federation=federation, maker=by, about=about, path=path)


@transaction.atomic
def movements_withdraw(*, movements: Sequence[Movement], by: Actor, reason: str = "") -> int:
    """The clerk takes back entries of theirs still pending (撤回), returned for
    correction or not, all or none: they are closed as withdrawn and release what
    they reserved. Nothing is deleted."""
    reason = text.clean_note(reason, "reason") if reason else ""
    locked, owners = _lock_own(movements, by)
    _release(locked, by)
    _decide(type(locked[0]), locked, owners, Status.WITHDRAWN, by=by, reason=reason)
    return len(locked)


@transaction.atomic
def payment_list_approve(
    *, payment_list: PaymentList, by: Actor, expect_rows: int | None = None, expect_total: Decimal | None = None
) -> int:
    """Approve what of a list still waits, all of it or none, by the one decision
    of `movements_approve`. `expect_rows` and `expect_total` are what the approver
    was shown: if the list waiting is no longer that, nothing is decided."""
    return _decide_list(
        payment_list, "approved", lambda rows: movements_approve(movements=rows, by=by), by, expect_rows, expect_total
    )


@transaction.atomic
def payment_list_reject(
    *,
    payment_list: PaymentList,
    by: Actor,
    reason: str,
    expect_rows: int | None = None,
    expect_total: Decimal | None = None,
) -> int:
    """Reject what of a list still waits, all of it or none, releasing what it reserved."""
    reason = _required_reason(reason)
    reject = lambda rows: movements_reject(movements=rows, by=by, reason=reason)  # noqa: E731
    return _decide_list(payment_list, "rejected", reject, by, expect_rows, expect_total, reason=reason)


def _decide_list(
    payment_list: PaymentList,
    verb: str,
    decide: Callable[[list[Movement]], int],
    by: Actor,
    expect_rows: int | None,
    expect_total: Decimal | None,
    *,
    reason: str = "",
) -> int:
    """`decide` what of the list waits for the approvers, as it was shown, and
    record the decision on the list itself."""
    waiting = _list_waiting(payment_list, expect_rows, expect_total)
    count = decide(waiting)
    _log_list_decision(payment_list, f"payment_list.{verb}", waiting, by=by, reason=reason)
    return count


def _list_waiting(
    payment_list: PaymentList,
    expect_rows: int | None,
    expect_total: Decimal | None,
    *,
    returned: bool | None = False,
) -> list[Movement]:
    """The list's pending rows: those waiting for the approvers (`returned` False),
    those returned to the clerk (True), or both (None)."""
    rows = payment_list.disbursements.filter(status=Status.PENDING)
    if returned is not None:
        rows = rows.filter(returned_at__isnull=not returned)
    waiting: list[Movement] = list(rows.order_by("pk"))
    if not waiting:
        raise refuse(LIST_DECIDED, "list_decided")
    rows_now, total = len(waiting), sum((entry.amount for entry in waiting), Decimal("0.00"))
    if (expect_rows is not None and expect_rows != rows_now) or (expect_total is not None and expect_total != total):
        raise refuse(LIST_CHANGED, "list_changed", rows=f"{rows_now:,}", total=f"{total:,.2f}")
    return waiting


@transaction.atomic
def payment_list_return(
    *,
    payment_list: PaymentList,
    by: Actor,
    reason: str,
    expect_rows: int | None = None,
    expect_total: Decimal | None = None,
) -> int:
    """Return what of a list waits to its clerk for correction (退回修改), all or none."""
    reason = _required_reason(reason)
    send_back = lambda rows: movements_return(movements=rows, by=by, reason=reason)  # noqa: E731
    return _decide_list(payment_list, "returned", send_back, by, expect_rows, expect_total, reason=reason)


@transaction.atomic
def payment_list_resubmit(*, payment_list: PaymentList, by: Actor) -> int:
    """The clerk sends the corrected list back to the approvers: every row returned."""
    returned = _list_waiting(payment_list, None, None, returned=True)
    count = movements_resubmit(movements=returned, by=by)
    _log_list_decision(payment_list, "payment_list.resubmitted", returned, by=by)
    return count


@transaction.atomic
def payment_list_withdraw(*, payment_list: PaymentList, by: Actor, reason: str = "") -> int:
    """The clerk takes back all of a list still pending (撤回), returned or not."""
    pending = _list_waiting(payment_list, None, None, returned=None)
    count = movements_withdraw(movements=pending, by=by, reason=reason)
    _log_list_decision(payment_list, "payment_list.withdrawn", pending, by=by, reason=reason)
    return count


def _log_list_decision(
    payment_list: PaymentList, action: str, decided: list[Movement], *, by: Actor, reason: str = ""
) -> None:
    audit.log(
        payment_list,
        action,
        user=by,
        federation=payment_list.fund.federation,
        # What the decision took: the rows that waited and their total.
        changes=audit.diff({}, {"rows": len(decided), "total": str(sum((e.amount for e in decided), Decimal("0.00")))}),
        reason=reason,
    )


@transaction.atomic
def movement_approve(*, movement: Movement, by: Actor) -> Movement:
    movements_approve(movements=[movement], by=by)
    return type(movement)._default_manager.get(pk=movement.pk)


@transaction.atomic
def movement_reject(*, movement: Movement, by: Actor, reason: str) -> Movement:
    movements_reject(movements=[movement], by=by, reason=reason)
    return type(movement)._default_manager.get(pk=movement.pk)


@transaction.atomic
def movements_reverse(*, movements: Sequence[Movement], by: Actor, reason: str) -> list[Movement]:
    """Ask to cancel approved entries, all or none. A reversal is a new pending
    entry that goes through approval like any other; until then it reserves what
    it would take back, so the money cannot be spent twice in the meantime."""
    reason = _required_reason(reason)
    if not movements:
        raise refuse(NOTHING_TO_DECIDE, "nothing_to_decide")
    model = type(movements[0])
    _lock_author(by)
    originals = list(
        model._default_manager.select_for_update(no_key=True).filter(pk__in=[m.pk for m in movements]).order_by("pk")
    )
    for federation in _owner_federations(model, originals).values():
        require_role(by, Role.CLERK, federation)
    for original in originals:
        if not original.is_reversible():
            raise refuse(NOT_REVERSIBLE, "not_reversible")
    if model._default_manager.filter(reverses__in=originals).exclude(status__in=CLOSED).exists():
        raise refuse(ALREADY_REVERSED, "already_reversed")
    today = timezone.localdate()
    reversals = [
        model(
            **{name: getattr(original, name) for name in COPIED_ON_REVERSAL[model]},
            reverses=original,  # type: ignore[misc]  # django-stubs cannot see a ForeignKey("self") of an abstract model
            reason=reason,
            date=today,
            created_by=by,
        )
        for original in originals
    ]
    funds = _lock_funds([pk for reversal in reversals for pk in reversal.debited_funds()], by)
    needed: defaultdict[int, Decimal] = defaultdict(Decimal)
    for reversal in reversals:
        for pk in reversal.debited_funds():
            needed[pk] += reversal.amount
    for pk, amount in needed.items():
        _reserve(funds[pk], amount)
    for reversal in reversals:
        reversal.save()
        _log_created(reversal, by=by, reason=reason)
    owners = _owners(model, originals)
    labels = _labels(model, [m.pk for m in originals])
    audit.log_many(
        model,
        f"{_kind(model)}.reversal_requested",
        [(m.pk, owners[m.pk], labels[m.pk], {}) for m in originals],
        user=by,
        reason=reason,
    )
    return reversals


@transaction.atomic
def movement_reverse(*, movement: Movement, by: Actor, reason: str) -> Movement:
    return movements_reverse(movements=[movement], by=by, reason=reason)[0]


# After a bulk load ----------------------------------------------------------------


@transaction.atomic
def funds_settle_from_entries() -> int:
    """Every fund's balance and reservation set to what its entries say
    (`allocations.holdings`); returns how many funds changed.

    For a bulk load that wrote approved entries with COPY behind the other
    functions here (`build_national_dataset`), never as a repair: a fund that
    disagrees with its entries is for `verify_ledger` to report, and its hash
    chain to explain. The CHECK constraints still refuse a negative balance or
    a reservation above it.
    """
    holdings, params = holdings_sql()
    table = connection.ops.quote_name(Fund._meta.db_table)
    held, held_back = "COALESCE(h.held, 0)", "COALESCE(h.held_back, 0)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET balance = e.balance, reserved = e.reserved FROM ("
            f"SELECT f.id, {held} AS balance, {held_back} AS reserved FROM {table} f "
            f"LEFT JOIN ({holdings}) h ON h.fund_id = f.id "
            f"WHERE f.balance <> {held} OR f.reserved <> {held_back}) e WHERE e.id = {table}.id",
            params,
        )
        return int(cursor.rowcount)


# Helpers ---------------------------------------------------------------------


def _fund_create(
    *,
    federation: Federation,
    name: str,
    purpose: str,
    fiscal_year: int,
    requires_archive: bool,
    by: Actor,
    opened_from: Fund | None = None,
) -> Fund:
    _require_choice("purpose", purpose, Purpose)
    name = text.clean_line(name, "name", limit=FUND_NAME_LIMIT)
    fund = Fund(
        federation=federation,
        name=name,
        purpose=purpose,
        fiscal_year=fiscal_year,
        requires_archive=requires_archive,
        opened_from=opened_from,
    )
    fund.full_clean(exclude=["federation", "opened_from"])
    fund.save()
    audit.log(
        fund,
        "fund.created",
        user=by,
        federation=federation,
        changes=audit.diff({}, audit.snapshot(fund, FUND_AUDITED)),
    )
    return fund


def _recipient_fund(*, to_federation: Federation, like: Fund, by: Actor) -> Fund:
    """The recipient's fund of the same purpose and year, created if it has none:
    named for the recipient (城中区总工会疫情防控专项资金, not the sender's name), and
    recording the fund it was opened from.

    Locking the recipient federation's row keeps two simultaneous allocations
    from creating two such funds.
    """
    _lock_author(by)
    list(Federation.objects.select_for_update(no_key=True).filter(pk=to_federation.pk).order_by().values_list("pk"))
    existing = Fund.objects.filter(
        federation=to_federation, purpose=like.purpose, fiscal_year=like.fiscal_year
    ).order_by("pk")
    fund = existing.first()
    if fund is None:
        fund = _fund_create(
            federation=to_federation,
            name=recipient_fund_name(like.name, sender=like.federation.name, recipient=to_federation.name),
            purpose=like.purpose,
            fiscal_year=like.fiscal_year,
            # Money sent down for the archive is paid by the archive below too.
            requires_archive=like.requires_archive,
            by=by,
            opened_from=like,
        )
    return fund


def recipient_fund_name(name: str, *, sender: str, recipient: str) -> str:
    """The sending fund's name for the recipient: the sender's own name at its
    start, if any, becomes the recipient's; the recipient's name leads in any case."""
    base = name[len(sender) :] if sender and name.startswith(sender) else name
    if base.startswith(recipient):
        base = base[len(recipient) :]
    return (recipient + base)[:FUND_NAME_LIMIT] if base else name[:FUND_NAME_LIMIT]


def _lock_author(by: Actor) -> None:
    """The head of `by`'s audit chain, locked before any row the change locks:
    two requests of one user then take their locks in one order (unionfunds.trail)."""
    trail.lock_head(trail.AUDIT, by.pk)


def _lock_funds(pks: Iterable[int], by: Actor) -> dict[int, Fund]:
    # FOR NO KEY UPDATE, not FOR UPDATE: inserting an entry that references a fund
    # takes a KEY SHARE lock on it, which FOR UPDATE would block. Two clerks
    # allocating to each other's funds at once would then deadlock.
    pks = set(pks)
    if not pks:
        return {}
    _lock_author(by)
    return {fund.pk: fund for fund in Fund.objects.select_for_update(no_key=True).filter(pk__in=pks).order_by("pk")}


def _lock_movement(movement: Movement, by: Actor) -> Movement:
    _lock_author(by)
    return type(movement)._default_manager.select_for_update(no_key=True).get(pk=movement.pk)


def _insufficient(fund: Fund, amount: Decimal) -> str:
    return str(INSUFFICIENT_FUNDS) % {
        "fund": fund.name,
        "available": f"{fund.available:,.2f}",
        "amount": f"{amount:,.2f}",
    }


def _reserve(fund: Fund, amount: Decimal) -> None:
    if fund.available < amount:
        raise refuse(
            INSUFFICIENT_FUNDS,
            "insufficient_funds",
            field="amount",
            fund=fund.name,
            available=f"{fund.available:,.2f}",
            amount=f"{amount:,.2f}",
        )
    fund.reserved += amount
    fund.save(update_fields=["reserved"])


def _require_pending(movement: Movement) -> None:
    if movement.status != Status.PENDING:
        raise refuse(NOT_PENDING, "not_pending", status=Status(movement.status).label)


def _lock_for_decision(movements: Sequence[Movement], by: Actor) -> tuple[list[Movement], dict[int, int]]:
    """The entries locked, each checked in the order a single decision is:
    pending, not the decider's own, the decider an approver where it belongs."""
    if not movements:
        raise refuse(NOTHING_TO_DECIDE, "nothing_to_decide")
    model = type(movements[0])
    _lock_author(by)
    locked = list(
        model._default_manager.select_for_update(no_key=True).filter(pk__in=[m.pk for m in movements]).order_by("pk")
    )
    for movement in locked:
        _require_pending(movement)
    for movement in locked:
        if movement.returned_at is not None:
            raise refuse(RETURNED_FOR_CORRECTION, "returned_for_correction")
    for movement in locked:
        if movement.created_by_id == by.pk:
            raise refuse(MAKER_CANNOT_APPROVE, "maker_cannot_approve")
    for federation in _owner_federations(model, locked).values():
        require_role(by, Role.APPROVER, federation)
    return locked, _owners(model, locked)


def _lock_own(movements: Sequence[Movement], by: Actor) -> tuple[list[Movement], dict[int, int]]:
    """The entries locked, each pending and entered by `by`, a clerk where it belongs."""
    if not movements:
        raise refuse(NOTHING_TO_DECIDE, "nothing_to_decide")
    model = type(movements[0])
    _lock_author(by)
    locked = list(
        model._default_manager.select_for_update(no_key=True).filter(pk__in=[m.pk for m in movements]).order_by("pk")
    )
    for movement in locked:
        if movement.created_by_id != by.pk:
            raise PermissionDenied(ONLY_THE_MAKER)
        _require_pending(movement)
    for federation in _owner_federations(model, locked).values():
        require_role(by, Role.CLERK, federation)
    return locked, _owners(model, locked)


def _release(locked: list[Movement], by: Actor) -> None:
    """Give back what pending entries reserved on the funds they would take from,
    and what payments counted towards the policy rules."""
    policy.release(m for m in locked if isinstance(m, Disbursement))
    reserved: defaultdict[int, Decimal] = defaultdict(Decimal)
    for movement in locked:
        for pk in movement.debited_funds():
            reserved[pk] += movement.amount
    for pk, fund in _lock_funds(list(reserved), by).items():
        fund.reserved -= reserved[pk]
        fund.save(update_fields=["reserved"])


def _log_each(
    model: type[Movement], locked: list[Movement], owners: dict[int, int], verb: str, *, by: Actor, reason: str = ""
) -> None:
    labels = _labels(model, [m.pk for m in locked])
    audit.log_many(
        model,
        f"{_kind(model)}.{verb}",
        [(m.pk, owners[m.pk], labels[m.pk], {}) for m in locked],
        user=by,
        reason=reason,
    )


def _owners(model: type[Movement], movements: list[Movement]) -> dict[int, int]:
    """Each entry's owning federation id, by entry id, from one query."""
    fund_owner = dict(
        Fund.objects.filter(pk__in={m.owner_fund_id for m in movements}).order_by().values_list("pk", "federation_id")
    )
    return {m.pk: fund_owner[m.owner_fund_id] for m in movements}


def _owner_federations(model: type[Movement], movements: list[Movement]) -> dict[int, Federation]:
    found: dict[int, Federation] = Federation.objects.in_bulk(set(_owners(model, movements).values()))
    return found


def _decide(
    model: type[Movement], locked: list[Movement], owners: dict[int, int], status: str, *, by: Actor, reason: str = ""
) -> None:
    decided_at = timezone.now()
    model._default_manager.filter(pk__in=[m.pk for m in locked]).update(
        status=status,
        decided_by=by,
        decided_at=decided_at,
        rejection_reason=reason,
        returned_by=None,
        returned_at=None,
        return_reason="",
    )
    for movement in locked:
        movement.status, movement.decided_by_id, movement.decided_at = status, by.pk, decided_at
        movement.rejection_reason = reason
    labels = _labels(model, [m.pk for m in locked])
    decided = {"status": {"before": Status.PENDING.value, "after": status}}
    audit.log_many(
        model,
        f"{_kind(model)}.{status}",
        [(m.pk, owners[m.pk], labels[m.pk], decided) for m in locked],
        user=by,
        reason=reason,
    )
    _tell_makers(model, locked, labels, status, by=by, reason=reason)


def _tell_makers(
    model: type[Movement], locked: list[Movement], labels: dict[int, str], verb: str, *, by: Actor, reason: str
) -> None:
    """One notice to the clerks of these entries, naming the entry, or the count
    and the list they came in."""
    if verb not in notify.DECISIONS:
        return  # a withdrawal is the clerk's own doing: nobody else to tell
    lists = {getattr(m, "payment_list_id", None) for m in locked}
    if len(locked) == 1:
        about, path = notify.About(_kind(model), labels[locked[0].pk]), notify.entry_path(_kind(model), locked[0].pk)
    else:
        about = notify.About(_kind(model), rows=len(locked))
        (only,) = lists if len(lists) == 1 else (None,)
        path = notify.list_path(only) if only else reverse("my_entries")
    notify.decided(verb=verb, maker_ids={m.created_by_id for m in locked}, by=by, about=about, path=path, reason=reason)


def _labels(model: type[Movement], pks: list[int]) -> dict[int, str]:
    """How the trail names each entry (as `str(entry)` does), from one query."""
    labels: dict[int, str] = {}
    with translation.override(settings.LANGUAGE_CODE):
        for batch in bulkload.batches(pks):
            if model is Disbursement:
                for pk, fund, name, number, unit, amount in _in(Disbursement, batch).values_list(
                    "pk", "fund__name", "payee_name", "payee_id_number", "unit__name", "amount"
                ):  # named as paid (`Disbursement.paid_to`), not as the register names the person
                    labels[pk] = Disbursement.describe(
                        fund, person_label(name, number) if number else name or unit, amount
                    )
            elif model is Allocation:
                for pk, sender, recipient, amount in _in(Allocation, batch).values_list(
                    "pk", "from_fund__federation__name", "to_federation__name", "amount"
                ):
                    labels[pk] = Allocation.describe(sender, recipient, amount)
            else:
                for pk, source, fund, amount in _in(Contribution, batch).values_list(
                    "pk", "source", "fund__name", "amount"
                ):
                    labels[pk] = Contribution.describe(str(Source(source).label), fund, amount)
    return labels


def _in(model: type[M], pks: Sequence[int]) -> "QuerySet[M]":
    return model._default_manager.filter(AnyOf(F("pk"), pks)).order_by()


def _log_created(movement: Movement, *, by: Actor, reason: str = "") -> None:
    model = type(movement)
    owner_id = _owners(model, [movement])[movement.pk]
    label = _labels(model, [movement.pk])[movement.pk]
    audit.log_many(
        model,
        f"{_kind(model)}.created",
        [(movement.pk, owner_id, label, audit.diff({}, audit.snapshot(movement, AUDITED_FIELDS[model])))],
        user=by,
        reason=reason,
    )
    owner = Federation.objects.get(pk=owner_id)
    notify.waiting(
        federation=owner,
        maker=by,
        about=notify.About(_kind(model), label),
        path=notify.entry_path(_kind(model), movement.pk),
    )


def _kind(model: type[Movement]) -> str:
    return str(model._meta.model_name)


def _require_choice(field: str, value: str, choices: type[TextChoices]) -> None:
    if value not in choices.values:
        raise refuse(INVALID_CHOICE, "invalid_choice", field=field, value=value)


def _edited(name: str, value: object) -> object:
    """An edited field's value, held to the rules it was entered under."""
    if name == "amount":
        return valid_amount(value)
    if name == "date":
        if not isinstance(value, datetime.date):
            raise TypeError(f"date: {value!r}")
        return text.valid_entry_date(value)
    if name == "note":
        return text.clean_note(value)
    if name in ("batch", "reference"):
        return text.clean_line(value, name, limit=BATCH_LIMIT if name == "batch" else REFERENCE_LIMIT)
    return value


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise refuse(REASON_REQUIRED, "reason_required", field="reason")
    return text.clean_note(reason, "reason")
