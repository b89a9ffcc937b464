"""The only way money moves.

Every entry point (admin, pages, API, imports) calls these functions. Each runs
in one transaction, locks the fund rows it touches (in id order, so that two
requests never wait on each other in a circle), checks, writes and records the
change in the audit trail. On SQLite the same code is serialised by IMMEDIATE
transactions instead of row locks.
"""

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allocations import ledger, totals
from allocations.models import (
    Allocation,
    AssistanceType,
    Contribution,
    Disbursement,
    Fund,
    Movement,
    Purpose,
    Source,
    Status,
)
from beneficiaries.models import Beneficiary, Unit
from unionfunds import audit
from unionfunds.errors import refuse
from unionfunds.models import Federation, Role
from unionfunds.money import to_yuan
from unionfunds.permissions import has_role, require_role

INSUFFICIENT_FUNDS = _(
    "Insufficient funds: %(fund)s has %(available)s yuan available, and this entry needs %(amount)s yuan."
)
MAKER_CANNOT_APPROVE = _("You entered this yourself: another approver has to decide on it.")
NOT_PENDING = _("This entry is already %(status)s; only a pending entry can be changed.")
NOT_REVERSIBLE = _("Only an approved entry that is not itself a reversal can be reversed.")
ALREADY_REVERSED = _("This entry already has a reversal, pending or approved.")
DUPLICATE_PAYMENT = _(
    "%(name)s has already been paid %(assistance_type)s from this fund in %(month)s. "
    "Confirm the duplicate to pay again."
)
REASON_REQUIRED = _("Give a reason.")
REVERSAL_NOT_EDITABLE = _("A reversal cannot be edited; reject it and ask for a new one if it is wrong.")
INVALID_AMOUNT = _("Enter an amount in yuan, more than zero, with at most two decimal places.")
ONE_RECIPIENT = _("Choose either a beneficiary or a unit as the recipient.")
WRONG_RECIPIENT_FUND = _("The recipient fund does not belong to the recipient federation.")
SAME_FUND = _("An allocation must go to another fund.")
INVALID_CHOICE = _("%(value)s is not one of the allowed values.")

EDITABLE_FIELDS = {
    Contribution: ("amount", "date", "note", "reference"),
    Allocation: ("amount", "date", "note", "batch"),
    Disbursement: ("amount", "date", "note", "batch", "assistance_type"),
}
COPIED_ON_REVERSAL = {
    Contribution: ("fund_id", "source", "reference", "amount"),
    Allocation: ("from_fund_id", "to_federation_id", "to_fund_id", "batch", "amount"),
    Disbursement: ("fund_id", "beneficiary_id", "unit_id", "assistance_type", "batch", "amount"),
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
def fund_create(*, federation: Federation, name: str, purpose: str, fiscal_year: int, by) -> Fund:
    if not has_role(by, Role.ADMIN, federation):
        require_role(by, Role.CLERK, federation)
    return _fund_create(federation=federation, name=name, purpose=purpose, fiscal_year=fiscal_year, by=by)


@transaction.atomic
def contribution_create(
    *,
    fund: Fund,
    source: str,
    amount: Decimal | str,
    date: datetime.date | None = None,
    reference: str = "",
    note: str = "",
    by,
) -> Contribution:
    require_role(by, Role.CLERK, fund.federation)
    _require_choice("source", source, Source)
    contribution = Contribution(
        fund=fund,
        source=source,
        amount=_valid_amount(amount),
        date=date or timezone.localdate(),
        reference=reference,
        note=note,
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
    by,
) -> Allocation:
    require_role(by, Role.CLERK, from_fund.federation)
    amount = _valid_amount(amount)
    if to_fund is None:
        to_fund = _recipient_fund(to_federation=to_federation, like=from_fund, by=by)
    elif to_fund.federation_id != to_federation.pk:
        raise refuse(WRONG_RECIPIENT_FUND, "wrong_recipient_fund", field="to_fund")
    if to_fund.pk == from_fund.pk:
        raise refuse(SAME_FUND, "same_fund", field="to_federation")
    _reserve(_lock_funds([from_fund.pk])[from_fund.pk], amount)
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
    date: datetime.date | None = None,
    batch: str = "",
    note: str = "",
    confirm_duplicate: bool = False,
    by,
) -> Disbursement:
    require_role(by, Role.CLERK, fund.federation)
    _require_choice("assistance_type", assistance_type, AssistanceType)
    if (beneficiary is None) == (unit is None):
        raise refuse(ONE_RECIPIENT, "one_recipient", field="beneficiary")
    disbursement = Disbursement(
        fund=fund,
        beneficiary=beneficiary,
        unit=unit,
        assistance_type=assistance_type,
        amount=_valid_amount(amount),
        date=date or timezone.localdate(),
        batch=batch,
        note=note,
        created_by=by,
    )
    locked = _lock_funds([fund.pk])[fund.pk]
    # Checked under the fund's lock, so two clerks paying the same person at once
    # cannot both pass.
    disbursement.duplicate_confirmed = _check_duplicate(disbursement, confirmed=confirm_duplicate)
    _reserve(locked, disbursement.amount)
    disbursement.save()
    _log_created(disbursement, by=by)
    return disbursement


# Changing a pending entry ----------------------------------------------------


@transaction.atomic
def movement_update(*, movement: Movement, by, confirm_duplicate: bool = False, **changes) -> Movement:
    """Edit a pending entry; the reservation follows a changed amount."""
    movement = _lock_movement(movement)
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
    for name, value in changes.items():
        setattr(movement, name, _valid_amount(value) if name == "amount" else value)
    if "assistance_type" in changes:
        _require_choice("assistance_type", movement.assistance_type, AssistanceType)
    funds = _lock_funds(movement.debited_funds())
    if isinstance(movement, Disbursement) and not movement.is_reversal:
        movement.duplicate_confirmed = _check_duplicate(movement, confirmed=confirm_duplicate)
    for fund in funds.values():
        fund.reserved -= old_amount
        _reserve(fund, movement.amount)
    movement.save()
    audit.log(
        movement,
        f"{_kind(movement)}.edited",
        user=by,
        federation=movement.owner(),
        changes=audit.diff(before, audit.snapshot(movement, fields)),
    )
    return movement


# Deciding --------------------------------------------------------------------


@transaction.atomic
def movement_approve(*, movement: Movement, by) -> Movement:
    movement = _lock_movement(movement)
    _require_decider(movement, by)
    funds = _lock_funds(movement.debited_funds() + movement.credited_funds())
    for pk in movement.debited_funds():
        funds[pk].balance -= movement.amount
        funds[pk].reserved -= movement.amount
    for pk in movement.credited_funds():
        funds[pk].balance += movement.amount
    for fund in funds.values():
        fund.save(update_fields=["balance", "reserved"])
    _decide(movement, Status.APPROVED, by=by)
    ledger.record([movement], funds)
    totals.record([movement])
    return movement


@transaction.atomic
def movement_reject(*, movement: Movement, by, reason: str) -> Movement:
    movement = _lock_movement(movement)
    _require_decider(movement, by)
    reason = _required_reason(reason)
    funds = _lock_funds(movement.debited_funds())
    for fund in funds.values():
        fund.reserved -= movement.amount
        fund.save(update_fields=["reserved"])
    movement.rejection_reason = reason
    _decide(movement, Status.REJECTED, by=by, reason=reason)
    return movement


@transaction.atomic
def movement_reverse(*, movement: Movement, by, reason: str) -> Movement:
    """Ask to cancel an approved entry. The reversal is a new pending entry that
    goes through approval like any other; until then it reserves what it would
    take back, so the money cannot be spent twice in the meantime."""
    original = _lock_movement(movement)
    require_role(by, Role.CLERK, original.owner())
    if not original.is_reversible():
        raise refuse(NOT_REVERSIBLE, "not_reversible")
    if original.reversals.exclude(status=Status.REJECTED).exists():
        raise refuse(ALREADY_REVERSED, "already_reversed")
    reason = _required_reason(reason)
    model = type(original)
    reversal = model(
        **{name: getattr(original, name) for name in COPIED_ON_REVERSAL[model]},
        reverses=original,
        reason=reason,
        date=timezone.localdate(),
        created_by=by,
    )
    for fund in _lock_funds(reversal.debited_funds()).values():
        _reserve(fund, reversal.amount)
    reversal.save()
    _log_created(reversal, by=by, reason=reason)
    audit.log(original, f"{_kind(original)}.reversal_requested", user=by, federation=original.owner(), reason=reason)
    return reversal


# Helpers ---------------------------------------------------------------------


def _fund_create(*, federation: Federation, name: str, purpose: str, fiscal_year: int, by) -> Fund:
    _require_choice("purpose", purpose, Purpose)
    fund = Fund(federation=federation, name=name, purpose=purpose, fiscal_year=fiscal_year)
    fund.full_clean(exclude=["federation"])
    fund.save()
    audit.log(
        fund,
        "fund.created",
        user=by,
        federation=federation,
        changes=audit.diff({}, audit.snapshot(fund, ("federation", "name", "purpose", "fiscal_year"))),
    )
    return fund


def _recipient_fund(*, to_federation: Federation, like: Fund, by) -> Fund:
    """The recipient's fund of the same purpose and year, created if it has none.

    Locking the recipient federation's row keeps two simultaneous allocations
    from creating two such funds.
    """
    list(Federation.objects.select_for_update(no_key=True).filter(pk=to_federation.pk).order_by().values_list("pk"))
    existing = Fund.objects.filter(
        federation=to_federation, purpose=like.purpose, fiscal_year=like.fiscal_year
    ).order_by("pk")
    fund = existing.first()
    if fund is None:
        fund = _fund_create(
            federation=to_federation, name=like.name, purpose=like.purpose, fiscal_year=like.fiscal_year, by=by
        )
    return fund


def _lock_funds(pks: list[int]) -> dict[int, Fund]:
    # FOR NO KEY UPDATE, not FOR UPDATE: inserting an entry that references a fund
    # takes a KEY SHARE lock on it, which FOR UPDATE would block. Two clerks
    # allocating to each other's funds at once would then deadlock.
    if not pks:
        return {}
    return {
        fund.pk: fund for fund in Fund.objects.select_for_update(no_key=True).filter(pk__in=set(pks)).order_by("pk")
    }


def _lock_movement(movement: Movement) -> Movement:
    return type(movement).objects.select_for_update(no_key=True).get(pk=movement.pk)


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


def _check_duplicate(disbursement: Disbursement, *, confirmed: bool) -> bool:
    """True when the payment repeats one to the same person from the same fund,
    for the same assistance type, in the same month; refused unless confirmed."""
    if disbursement.beneficiary_id is None:
        return False
    earlier = (
        Disbursement.objects.live()
        .filter(
            beneficiary_id=disbursement.beneficiary_id,
            fund_id=disbursement.fund_id,
            assistance_type=disbursement.assistance_type,
            date__year=disbursement.date.year,
            date__month=disbursement.date.month,
        )
        .exclude(pk=disbursement.pk)
        .exists()
    )
    if earlier and not confirmed:
        raise refuse(
            DUPLICATE_PAYMENT,
            "duplicate_payment",
            field="beneficiary",
            name=disbursement.beneficiary.name,
            assistance_type=AssistanceType(disbursement.assistance_type).label,
            month=f"{disbursement.date:%Y-%m}",
        )
    return earlier


def _require_pending(movement: Movement) -> None:
    if movement.status != Status.PENDING:
        raise refuse(NOT_PENDING, "not_pending", status=Status(movement.status).label)


def _require_decider(movement: Movement, by) -> None:
    _require_pending(movement)
    if movement.created_by_id == by.pk:
        raise refuse(MAKER_CANNOT_APPROVE, "maker_cannot_approve")
    require_role(by, Role.APPROVER, movement.owner())


def _decide(movement: Movement, status: str, *, by, reason: str = "") -> None:
    movement.status = status
    movement.decided_by = by
    movement.decided_at = timezone.now()
    movement.save(update_fields=["status", "decided_by", "decided_at", "rejection_reason"])
    audit.log(
        movement,
        f"{_kind(movement)}.{status}",
        user=by,
        federation=movement.owner(),
        changes={"status": {"before": Status.PENDING.value, "after": status}},
        reason=reason,
    )


def _log_created(movement: Movement, *, by, reason: str = "") -> None:
    audit.log(
        movement,
        f"{_kind(movement)}.created",
        user=by,
        federation=movement.owner(),
        changes=audit.diff({}, audit.snapshot(movement, AUDITED_FIELDS[type(movement)])),
        reason=reason,
    )


def _kind(movement: Movement) -> str:
    return type(movement)._meta.model_name


def _valid_amount(value) -> Decimal:
    try:
        amount = to_yuan(value)
    except (TypeError, ValueError):
        raise refuse(INVALID_AMOUNT, "invalid_amount", field="amount") from None
    if amount <= 0:
        raise refuse(INVALID_AMOUNT, "invalid_amount", field="amount")
    return amount


def _require_choice(field: str, value: str, choices) -> None:
    if value not in choices.values:
        raise refuse(INVALID_CHOICE, "invalid_choice", field=field, value=value)


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise refuse(REASON_REQUIRED, "reason_required", field="reason")
    return reason
