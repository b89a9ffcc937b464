"""Running totals behind the roll-ups: written in each approval's transaction,
rebuilt from the entries on demand (after a bulk load, or to check them)."""

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.db import connection, transaction

from allocations.models import (
    Allocation,
    AllocationTotal,
    Contribution,
    ContributionTotal,
    Disbursement,
    DisbursementTotal,
    Status,
)


def record(movements: Iterable) -> None:
    """Add approved entries (a reversal subtracts) to the totals. The caller holds
    the locks of the funds involved."""
    deltas: dict[tuple, list] = defaultdict(lambda: [Decimal("0.00"), 0])
    for movement in movements:
        sign = -1 if movement.is_reversal else 1
        if isinstance(movement, Contribution):
            key = (ContributionTotal, (("fund_id", movement.fund_id), ("source", movement.source)))
        elif isinstance(movement, Allocation):
            key = (AllocationTotal, (("from_fund_id", movement.from_fund_id), ("to_fund_id", movement.to_fund_id)))
        else:
            key = (
                DisbursementTotal,
                (("fund_id", movement.fund_id), ("assistance_type", movement.assistance_type)),
            )
        deltas[key][0] += sign * movement.amount
        if isinstance(movement, Disbursement) and movement.beneficiary_id is not None:
            deltas[key][1] += sign
    for (model, fields), (amount, times) in deltas.items():
        _add(model, dict(fields), amount, times)


def _add(model, key: dict, amount: Decimal, person_times: int) -> None:
    total, _created = model.objects.get_or_create(**key)
    changes = {"amount": total.amount + amount}
    if model is DisbursementTotal:
        changes["person_times"] = total.person_times + person_times
    model.objects.filter(pk=total.pk).update(**changes)


@transaction.atomic
def rebuild() -> None:
    """Recompute every total from the approved entries, in the database."""
    for model in (ContributionTotal, AllocationTotal, DisbursementTotal):
        model.objects.all().delete()
    table = {model: model._meta.db_table for model in (Contribution, Allocation, Disbursement)}
    signed = "SUM(CASE WHEN e.reverses_id IS NULL THEN e.amount ELSE -e.amount END)"
    approved = f"e.status = '{Status.APPROVED}'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ContributionTotal._meta.db_table} (fund_id, source, amount) "
            f"SELECT e.fund_id, e.source, {signed} FROM {table[Contribution]} e WHERE {approved} "
            "GROUP BY e.fund_id, e.source"
        )
        cursor.execute(
            f"INSERT INTO {AllocationTotal._meta.db_table} (from_fund_id, to_fund_id, amount) "
            f"SELECT e.from_fund_id, e.to_fund_id, {signed} FROM {table[Allocation]} e WHERE {approved} "
            "GROUP BY e.from_fund_id, e.to_fund_id"
        )
        cursor.execute(
            f"INSERT INTO {DisbursementTotal._meta.db_table} (fund_id, assistance_type, amount, person_times) "
            f"SELECT e.fund_id, e.assistance_type, {signed}, "
            "SUM(CASE WHEN e.beneficiary_id IS NULL THEN 0 WHEN e.reverses_id IS NULL THEN 1 ELSE -1 END) "
            f"FROM {table[Disbursement]} e WHERE {approved} GROUP BY e.fund_id, e.assistance_type"
        )
