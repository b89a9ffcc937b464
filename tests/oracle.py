"""The ledger oracle, shared by the ledger property tests and the race tests.

`recompute_ledger` is the bookkeeping done a second time, in plain Python, from
the entries alone: it never reads `Fund.balance` or `Fund.reserved`, so that the
figures the services keep can be checked against it.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection

from allocations.models import CLOSED, Allocation, Contribution, Disbursement, Fund, Status
from unionfunds.models import AuditEvent

ZERO = Decimal("0.00")


def codes(error: ValidationError) -> set[str]:
    """The machine-readable codes of a refusal, wherever they sit in it."""
    if hasattr(error, "error_dict"):
        return {e.code for errors in error.error_dict.values() for e in errors}
    return {e.code for e in error.error_list}


def ledger_state() -> dict:
    """Everything a refused operation must leave exactly as it was: every row of
    every table of the money and beneficiary apps (funds, entries, running
    totals, people), and how many audit events there are (they are only ever
    appended). Raw SQL, as this runs twice around every refusal."""
    state = {}
    models = [*apps.get_app_config("allocations").get_models(), *apps.get_app_config("beneficiaries").get_models()]
    with connection.cursor() as cursor:
        for model in models:
            table = connection.ops.quote_name(model._meta.db_table)
            pk = connection.ops.quote_name(model._meta.pk.column)
            cursor.execute(f"SELECT * FROM {table} ORDER BY {pk}")
            state[model._meta.label] = cursor.fetchall()
        cursor.execute(f"SELECT count(*), max(id) FROM {connection.ops.quote_name(AuditEvent._meta.db_table)}")
        state["audit"] = cursor.fetchone()
    return state


@dataclass
class Recomputed:
    """Per fund: what approved entries moved in and out, and what pending ones hold."""

    approved_in: dict[int, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    approved_out: dict[int, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    pending_out: dict[int, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    net_contributed: Decimal = ZERO
    net_disbursed: Decimal = ZERO

    def balance(self, fund_id: int) -> Decimal:
        return self.approved_in[fund_id] - self.approved_out[fund_id]


def _effects(entry) -> tuple[list[int], list[int]]:
    """(debited, credited) funds of an original entry once approved."""
    if isinstance(entry, Contribution):
        return [], [entry.fund_id]
    if isinstance(entry, Allocation):
        return [entry.from_fund_id], [entry.to_fund_id]
    return [entry.fund_id], []


COPIED = {
    Contribution: ("fund_id", "source", "reference", "amount"),
    Allocation: ("from_fund_id", "to_federation_id", "to_fund_id", "batch", "amount"),
    Disbursement: ("fund_id", "beneficiary_id", "unit_id", "assistance_type", "batch", "amount"),
}


def load_entries() -> dict[type, dict[int, object]]:
    return {
        model: {entry.pk: entry for entry in model.objects.all()} for model in (Contribution, Allocation, Disbursement)
    }


def recompute_ledger(entries_by_model: dict | None = None) -> Recomputed:
    """Recompute every fund from the entries themselves.

    An original entry counts with its own amount once approved and holds its
    amount on the debited fund while pending. A reversal is the original turned
    round: pending, it holds the original's amount on the fund it would take
    from; approved, it cancels the original exactly. Also checks the shape of
    reversals (they point at an approved original, copy it, and at most one is
    live) so that a broken reversal cannot hide behind matching totals.
    """
    result = Recomputed()
    for model, entries in (entries_by_model or load_entries()).items():
        live_reversals = Counter()
        for entry in entries.values():
            original = entries[entry.reverses_id] if entry.reverses_id else entry
            sign = -1 if entry.reverses_id else 1
            if entry.reverses_id:
                assert original.reverses_id is None, f"{model.__name__} {entry.pk} reverses a reversal"
                assert original.status == Status.APPROVED, f"{model.__name__} {entry.pk} reverses an undecided entry"
                for name in COPIED[model]:
                    assert getattr(entry, name) == getattr(original, name), (
                        f"{model.__name__} reversal {entry.pk} differs from {original.pk} in {name}"
                    )
                if entry.status not in CLOSED:
                    live_reversals[original.pk] += 1
            debited, credited = _effects(original)
            if sign < 0:
                debited, credited = credited, debited
            amount = original.amount
            if entry.status == Status.PENDING:
                for pk in debited:
                    result.pending_out[pk] += amount
            elif entry.status == Status.APPROVED:
                for pk in debited:
                    result.approved_out[pk] += amount
                for pk in credited:
                    result.approved_in[pk] += amount
                if model is Contribution:
                    result.net_contributed += sign * amount
                elif model is Disbursement:
                    result.net_disbursed += sign * amount
        assert all(n == 1 for n in live_reversals.values()), f"two live reversals of one {model.__name__}"
    return result


def assert_ledger_consistent(entries_by_model: dict | None = None, funds: list[Fund] | None = None) -> Recomputed:
    """Every fund agrees with its entries; nothing is negative; money is conserved."""
    recomputed = recompute_ledger(entries_by_model)
    total = ZERO
    for fund in Fund.objects.all() if funds is None else funds:
        assert fund.balance == recomputed.balance(fund.pk), (fund.pk, fund.balance, recomputed.balance(fund.pk))
        assert fund.reserved == recomputed.pending_out[fund.pk], (fund.pk, fund.reserved)
        assert fund.balance >= ZERO, (fund.pk, fund.balance)
        assert fund.reserved >= ZERO, (fund.pk, fund.reserved)
        assert fund.available >= ZERO, (fund.pk, fund.available)
        total += fund.balance
    assert total + recomputed.net_disbursed == recomputed.net_contributed
    return recomputed
