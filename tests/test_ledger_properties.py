"""Property tests of the ledger: whatever clerks and approvers do, in any order,
every fund agrees with its entries and no yuan appears or vanishes.

A hypothesis state machine drives the services with contributions, allocations
(down, sideways to another province, upwards, between two funds of one
federation, and to federations that have no fund yet), disbursements to workers
and units, real-name lists of payments (through the service, the API's bulk
endpoint and a spreadsheet read as an import reads it, registering people new
to the ledger), approvals, rejections, reversals and edits of pending entries,
one at a time and as lists (through the service and the API), plus attempts
that must be refused. Beside the database it keeps its own small model
of what each fund holds, so that it knows in advance whether each attempt must
succeed or be refused, and with which code. After every step it checks:

- each fund against its entries, recomputed in Python (`tests.oracle`):
  balance == approved in - approved out, reserved == pending outflows, and
  balance, reserved, available >= 0;
- all balances + net approved disbursements == net approved contributions;
- the model (balances, statuses, amounts) against the database;
- a refused attempt changed nothing at all: not a row, not a fund, not an audit event.

Each example runs inside its own savepoint, rolled back at the end, on top of
the cast that the fixtures create once per test.
"""

import datetime
import os
import sys
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from allocations import imports
from allocations import services as money
from allocations.lists import ListRow
from allocations.models import (
    CLOSED,
    Allocation,
    AssistanceType,
    Contribution,
    Disbursement,
    Fund,
    PaymentList,
    Source,
    Status,
)
from beneficiaries import services as people
from tests.api_helpers import API
from tests.conftest import member, synthetic_id
from tests.oracle import ZERO, assert_ledger_consistent, codes, ledger_state, load_entries
from unionfunds import sheetreader
from unionfunds.models import Role
from unionfunds.money import LARGEST, money_sum
from unionfunds.permissions import has_role

CENT = Decimal("0.01")
# Amounts whose sums drift as binary floats (0.1 + 0.2 != 0.3), and large ones
# whose fen a double cannot tell apart once a few are added up.
AMOUNTS = st.one_of(
    st.sampled_from(
        ["0.10", "0.20", "0.30", "0.01", "0.07", "1000.00", "2500.50", "10000.00", "987654321.09", "99999999999.99"]
    ),
    st.integers(min_value=1, max_value=10**13 - 1).map(lambda fen: str(Decimal(fen) / 100)),
)
DATES = [datetime.date(2022, 3, 1), datetime.date(2022, 3, 31), datetime.date(2022, 4, 1)]
ASSISTANCE = [AssistanceType.LIVING, AssistanceType.MEDICAL]
# LEDGER_EXAMPLES=1000 for a longer hunt; the defaults take about half a minute.
EXAMPLES = int(os.environ.get("LEDGER_EXAMPLES", "75"))
STEPS = int(os.environ.get("LEDGER_STEPS", "35"))
# How each attempt ended, over a whole run: the machine must really walk both
# sides of every rule, not refuse everything (or nothing) for a dull reason.
OUTCOMES: Counter = Counter()
MUST_HAPPEN = {
    "allocate: ok",
    "allocate: insufficient_funds",
    "disburse: ok",
    "disburse: insufficient_funds",
    "pay_again: duplicate_payment",
    "approve: ok",
    "reject: ok",
    "reverse: ok",
    "reverse: insufficient_funds",
    "reverse: already_reversed",
    "edit: ok",
    "edit: insufficient_funds",
    "edit: reversal_not_editable",
    "misuse: not_pending",
    "misuse: permission",
    "pay_list: ok",
    "pay_list: duplicate_payment",
    "pay_list: insufficient_funds",
    "decide_list: ok",
    "decide_payment_list: ok",
    "return_for_correction: ok",
    "resubmit: ok",
    "withdraw: ok",
    *(f"pay_list through {door}" for door in ("service", "api", "import")),  # every door of a list
}
# The people lists pay, by ID number: the first two are registered by the cast,
# the others by the first list that pays them. Their names never change.
PEOPLE = [(11, "张三"), (12, "李四"), (21, "王五"), (22, "赵六"), (23, "孙七")]
LIST_DOORS = ["service", "api", "import"]


@dataclass
class FundModel:
    fund: Fund
    balance: Decimal = ZERO
    reserved: Decimal = ZERO

    @property
    def available(self) -> Decimal:
        return self.balance - self.reserved


@dataclass(eq=False)
class EntryModel:
    """What the machine expects of one entry."""

    instance: Contribution | Allocation | Disbursement
    amount: Decimal
    debit: list[int]  # funds it takes from once approved, reserved while pending
    credit: list[int]
    maker: object
    owner: object  # the federation whose clerks and approvers handle it
    status: str = Status.PENDING
    reverses: "EntryModel | None" = None
    live_reversal: "EntryModel | None" = None
    duplicate_confirmed: bool = False
    returned: bool = False  # returned to its clerk for correction: pending, out of the queue

    @property
    def model(self):
        return type(self.instance)

    def is_live_payment_like(self, other: "EntryModel") -> bool:
        """Another entry that counts as a payment of the same person, fund, type and month."""
        a, b = self.instance, other.instance
        return (
            other is not self
            and other.model is Disbursement
            and other.reverses is None
            and other.status not in CLOSED
            and not (other.live_reversal and other.live_reversal.status == Status.APPROVED)
            and (a.beneficiary_id, a.fund_id, a.assistance_type, a.date.year, a.date.month)
            == (b.beneficiary_id, b.fund_id, b.assistance_type, b.date.year, b.date.month)
        )


class LedgerMachine(RuleBasedStateMachine):
    cast: dict = {}  # set by the test: funds, federations, people, recipients

    def __init__(self):
        super().__init__()
        self._example = transaction.atomic()
        self._example.__enter__()
        self.funds = {fund.pk: FundModel(fund) for fund in self.cast["funds"]}
        self.entries: list[EntryModel] = []
        self.people = dict(self.cast["people"])

    def teardown(self):
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    # Helpers ------------------------------------------------------------------

    def clerk(self, data, federation):
        return data.draw(st.sampled_from([u for u in self.cast["clerks"] if has_role(u, Role.CLERK, federation)]))

    def approver(self, data, federation):
        candidates = [u for u in self.cast["approvers"] if has_role(u, Role.APPROVER, federation)]
        return data.draw(st.sampled_from(candidates))

    def draw_fund(self, data) -> FundModel:
        return self.funds[data.draw(st.sampled_from(sorted(self.funds)), label="fund")]

    def outflow_amount(self, data, room: Decimal) -> Decimal:
        """An amount around what the fund can still give: often exactly all of
        it or one fen more, so that both sides of the boundary are walked."""
        kind = data.draw(st.sampled_from(["part", "all", "one fen more", "fixed", "part"]), label="amount kind")
        if kind == "fixed" or room <= 0:
            return Decimal(data.draw(AMOUNTS, label="amount"))
        # One entry carries at most LARGEST (a fund may hold more, from many).
        if kind == "all" or (kind == "one fen more" and room >= LARGEST):
            return min(room, LARGEST)
        if kind == "one fen more":
            return room + CENT
        fen = data.draw(st.integers(min_value=1, max_value=int(min(room, LARGEST) * 100)), label="fen")
        return Decimal(fen) / 100

    def attempt(self, call, refusal: str | None):
        """Run a service call. If `refusal` names a code, it must be refused with
        exactly that code and leave the ledger as it was; otherwise it must
        succeed. `PermissionDenied` is given as the code "permission"."""
        outcome = f"{sys._getframe(1).f_code.co_name}: {refusal or 'ok'}"
        event(outcome)
        OUTCOMES[outcome] += 1
        if refusal is None:
            return call()
        before = ledger_state()
        with pytest.raises((ValidationError, PermissionDenied)) as refused:
            call()
        if refusal == "permission":
            assert isinstance(refused.value, PermissionDenied), refused.value
        else:
            assert isinstance(refused.value, ValidationError), refused.value
            assert codes(refused.value) == {refusal}
        assert ledger_state() == before
        return None

    def record(self, instance, *, debit, credit, maker, owner, reverses=None) -> EntryModel:
        entry = EntryModel(instance, instance.amount, debit, credit, maker, owner, reverses=reverses)
        for pk in debit:
            self.funds[pk].reserved += entry.amount
        self.entries.append(entry)
        return entry

    def pending(self):
        """Pending entries waiting for the approvers (not returned for correction)."""
        return [e for e in self.entries if e.status == Status.PENDING and not e.returned]

    def returned(self):
        return [e for e in self.entries if e.status == Status.PENDING and e.returned]

    def is_duplicate(self, candidate: EntryModel, *, besides: EntryModel | None = None) -> bool:
        """Whether a live payment to the same person, from the same fund, of the
        same type and in the same month exists (other than `besides`)."""
        if candidate.instance.beneficiary_id is None:
            return False
        return any(candidate.is_live_payment_like(other) for other in self.entries if other is not besides)

    # Entering money -----------------------------------------------------------

    @initialize(data=st.data())
    def opening_balances(self, data):
        """Most funds start with approved money in them, so that outflows have
        something to take from."""
        for pk in sorted(self.funds):
            target = self.funds[pk]
            federation = target.fund.federation
            clerk, approver = self.clerk(data, federation), self.approver(data, federation)
            contribution = money.contribution_create(
                fund=target.fund, source="own_funds", amount=data.draw(AMOUNTS, label="amount"), by=clerk
            )
            money.movement_approve(movement=contribution, by=approver)
            entry = self.record(contribution, debit=[], credit=[pk], maker=clerk, owner=federation)
            entry.status = Status.APPROVED
            target.balance += contribution.amount

    @rule(data=st.data())
    def contribute(self, data):
        target = self.draw_fund(data)
        federation = target.fund.federation
        clerk = self.clerk(data, federation)
        amount = Decimal(data.draw(AMOUNTS, label="amount"))
        source = data.draw(st.sampled_from(Source.values), label="source")
        contribution = self.attempt(
            lambda: money.contribution_create(fund=target.fund, source=source, amount=amount, by=clerk), None
        )
        assert contribution.amount == amount
        self.record(contribution, debit=[], credit=[target.fund.pk], maker=clerk, owner=federation)

    @rule(data=st.data())
    def allocate(self, data):
        source = self.draw_fund(data)
        clerk = self.clerk(data, source.fund.federation)
        if data.draw(st.booleans(), label="name the recipient fund"):
            others = sorted(pk for pk in self.funds if pk != source.fund.pk)
            to_fund = self.funds[data.draw(st.sampled_from(others), label="to fund")].fund
            to_federation, recipient = to_fund.federation, to_fund
        else:
            # The service finds the recipient's fund of the same purpose and year,
            # or creates it: federations without any fund are among the targets.
            to_fund = None
            to_federation = data.draw(st.sampled_from(self.cast["federations"]), label="to federation")
            recipient = min(
                (
                    m.fund
                    for m in self.funds.values()
                    if (m.fund.federation_id, m.fund.purpose, m.fund.fiscal_year)
                    == (to_federation.pk, source.fund.purpose, source.fund.fiscal_year)
                ),
                key=lambda fund: fund.pk,
                default=None,
            )
        amount = self.outflow_amount(data, source.available)
        if recipient is not None and recipient.pk == source.fund.pk:
            refusal = "same_fund"
        elif amount > source.available:
            refusal = "insufficient_funds"
        else:
            refusal = None
        allocation = self.attempt(
            lambda: money.allocation_create(
                from_fund=source.fund, to_federation=to_federation, to_fund=to_fund, amount=amount, by=clerk
            ),
            refusal,
        )
        if allocation is None:
            return
        if recipient is None:
            created = allocation.to_fund
            assert (created.federation_id, created.purpose, created.fiscal_year) == (
                to_federation.pk,
                source.fund.purpose,
                source.fund.fiscal_year,
            )
            assert created.pk not in self.funds
            self.funds[created.pk] = FundModel(Fund.objects.select_related("federation").get(pk=created.pk))
        else:
            assert allocation.to_fund_id == recipient.pk
        self.record(
            allocation,
            debit=[source.fund.pk],
            credit=[allocation.to_fund_id],
            maker=clerk,
            owner=source.fund.federation,
        )

    @rule(data=st.data())
    def disburse(self, data):
        source = self.draw_fund(data)
        clerk = self.clerk(data, source.fund.federation)
        recipient = data.draw(st.sampled_from(self.cast["recipients"]), label="recipient")
        confirm = data.draw(st.booleans(), label="confirm duplicate")
        amount = self.outflow_amount(data, source.available)
        fields = {
            "fund": source.fund,
            "beneficiary" if recipient._meta.model_name == "beneficiary" else "unit": recipient,
            "assistance_type": data.draw(st.sampled_from(ASSISTANCE), label="assistance type"),
            "date": data.draw(st.sampled_from(DATES), label="date"),
            "amount": amount,
        }
        candidate = EntryModel(Disbursement(**fields), amount, [source.fund.pk], [], clerk, None)
        duplicate = self.is_duplicate(candidate)
        if duplicate and not confirm:
            refusal = "duplicate_payment"
        elif amount > source.available:
            refusal = "insufficient_funds"
        else:
            refusal = None
        disbursement = self.attempt(
            lambda: money.disbursement_create(**fields, confirm_duplicate=confirm, by=clerk), refusal
        )
        if disbursement is not None:
            entry = self.record(
                disbursement, debit=[source.fund.pk], credit=[], maker=clerk, owner=source.fund.federation
            )
            entry.duplicate_confirmed = duplicate

    @precondition(
        lambda self: any(
            e.model is Disbursement and e.instance.beneficiary_id and e.reverses is None for e in self.entries
        )
    )
    @rule(data=st.data())
    def pay_again(self, data):
        """The same person, fund and assistance type again in the same month
        (another day), as a second list or a double click would: refused unless
        the clerk confirms the duplicate, or the first payment no longer stands."""
        earlier = data.draw(
            st.sampled_from(
                [
                    e
                    for e in self.entries
                    if e.model is Disbursement and e.instance.beneficiary_id and e.reverses is None
                ]
            ),
            label="earlier payment",
        )
        first = earlier.instance
        source = self.funds[first.fund_id]
        clerk = self.clerk(data, source.fund.federation)
        confirm = data.draw(st.booleans(), label="confirm duplicate")
        amount = self.outflow_amount(data, source.available)
        fields = {
            "fund": source.fund,
            "beneficiary": first.beneficiary,
            "assistance_type": first.assistance_type,
            "date": first.date.replace(day=data.draw(st.integers(1, 28), label="day")),
            "amount": amount,
        }
        duplicate = self.is_duplicate(EntryModel(Disbursement(**fields), amount, [], [], None, None))
        if duplicate and not confirm:
            refusal = "duplicate_payment"
        elif amount > source.available:
            refusal = "insufficient_funds"
        else:
            refusal = None
        disbursement = self.attempt(
            lambda: money.disbursement_create(**fields, confirm_duplicate=confirm, by=clerk), refusal
        )
        if disbursement is not None:
            entry = self.record(
                disbursement, debit=[source.fund.pk], credit=[], maker=clerk, owner=source.fund.federation
            )
            entry.duplicate_confirmed = duplicate

    def people_known(self) -> dict[int, int]:
        """Sequence → beneficiary id of the people the ledger knows by now."""
        return self.people

    @rule(data=st.data())
    def pay_list(self, data):
        """A real-name list of one to four payments from one fund, as a county
        enters them: people known or new, maybe one person twice, totals on
        both sides of what the fund has. All of it is written, or none."""
        source = self.draw_fund(data)
        federation = source.fund.federation
        clerk = self.clerk(data, federation)
        door = data.draw(st.sampled_from(LIST_DOORS), label="door")
        kind = data.draw(st.sampled_from(ASSISTANCE), label="assistance type")
        count = data.draw(st.integers(1, 4), label="rows")
        lines = []
        for _ in range(count):
            sequence, name = data.draw(st.sampled_from(PEOPLE), label="person")
            date = data.draw(st.sampled_from(DATES), label="date")
            lines.append([sequence, name, date, data.draw(st.booleans(), label="confirm duplicate")])
        # Every row but the last a small amount; the last around what is left.
        amounts = [Decimal(data.draw(st.sampled_from(["0.01", "0.10", "10.00", "200.00"]))) for _ in lines[1:]]
        amounts.append(self.outflow_amount(data, source.available - sum(amounts, ZERO)))
        known = self.people_known()
        duplicates, unconfirmed, seen = [], False, set()
        for (sequence, _name, date, confirm), amount in zip(lines, amounts, strict=True):
            key = (sequence, date.year, date.month)
            candidate = Disbursement(
                fund_id=source.fund.pk, beneficiary_id=known.get(sequence), assistance_type=kind, date=date
            )
            repeat = key in seen or self.is_duplicate(EntryModel(candidate, amount, [], [], None, None))
            seen.add(key)
            duplicates.append(repeat)
            unconfirmed |= repeat and not confirm
        if unconfirmed:
            refusal = "duplicate_payment"
        elif sum(amounts, ZERO) > source.available:
            refusal = "insufficient_funds"
        else:
            refusal = None
        rows = [
            {"name": name, "id_number": synthetic_id(sequence), "amount": str(amount), "date": date.isoformat()}
            | ({"confirm_duplicate": True} if confirm else {})
            for (sequence, name, date, confirm), amount in zip(lines, amounts, strict=True)
        ]
        OUTCOMES[f"pay_list through {door}"] += 1
        created = self.attempt(lambda: self.list_through(door, source.fund, clerk, kind, rows), refusal)
        if created is None:
            return
        assert len(created) == count
        for disbursement, (sequence, *_rest), duplicate in zip(created, lines, duplicates, strict=True):
            known.setdefault(sequence, disbursement.beneficiary_id)
            assert disbursement.beneficiary_id == known[sequence]
            entry = self.record(disbursement, debit=[source.fund.pk], credit=[], maker=clerk, owner=federation)
            entry.duplicate_confirmed = duplicate

    def list_through(self, door: str, fund: Fund, clerk, kind: str, rows: list[dict]) -> list[Disbursement]:
        if door == "api":
            body = {"fund": fund.pk, "assistance_type": kind, "rows": rows}
            ids = api_answer(clerk, "disbursements/bulk/", body)["ids"]
        elif door == "import":
            # A sheet as a clerk saves it from Excel, read by the import's own
            # reader; duplicates are confirmed row by row on the preview page.
            sheet = "姓名,身份证号,金额,发放日期\r\n" + "".join(
                f"{r['name']},{r['id_number']},{r['amount']},{r['date']}\r\n" for r in rows
            )
            parsed = imports.parse_list(sheetreader.read(sheet.encode("utf-8-sig"), max_rows=100).lines)
            assert parsed.problems == [], parsed.problems
            for read, row in zip(parsed.rows, rows, strict=True):
                read["confirm_duplicate"] = row.get("confirm_duplicate", False)
            ids = money.disbursements_create(
                fund=fund, rows=imports.list_rows(parsed.rows), assistance_type=kind, by=clerk
            ).ids
        else:
            listed = [ListRow(**row) for row in rows]
            ids = money.disbursements_create(fund=fund, rows=listed, assistance_type=kind, by=clerk).ids
        found = Disbursement.objects.in_bulk(ids)
        return [found[pk] for pk in ids]

    @precondition(lambda self: self.pending())
    @rule(data=st.data())
    def decide_list(self, data):
        """An approver approves or rejects several pending entries of one kind
        and one federation at once, through the service or (for payments) the
        API's bulk approval."""
        first = data.draw(st.sampled_from(self.pending()), label="first entry")
        batch = [e for e in self.pending() if e.model is first.model and e.owner == first.owner]
        chosen = data.draw(st.lists(st.sampled_from(batch), min_size=1, max_size=6, unique=True), label="entries")
        approver = self.approver(data, first.owner)
        approve = data.draw(st.booleans(), label="approve")
        movements = [e.instance for e in chosen]
        if approve and first.model is Disbursement and data.draw(st.booleans(), label="through the API"):
            call = lambda: api_answer(approver, "disbursements/bulk/approve/", {"ids": [m.pk for m in movements]})  # noqa: E731
        elif approve:
            call = lambda: money.movements_approve(movements=movements, by=approver)  # noqa: E731
        else:
            call = lambda: money.movements_reject(movements=movements, by=approver, reason="名单有误")  # noqa: E731
        self.attempt(call, None)
        for entry in chosen:
            for pk in entry.debit:
                self.funds[pk].reserved -= entry.amount
                if approve:
                    self.funds[pk].balance -= entry.amount
            for pk in entry.credit if approve else ():
                self.funds[pk].balance += entry.amount
            entry.status = Status.APPROVED if approve else Status.REJECTED
            if not approve and entry.reverses is not None:
                entry.reverses.live_reversal = None

    # Deciding -----------------------------------------------------------------

    @precondition(lambda self: self.pending())
    @rule(data=st.data())
    def approve(self, data):
        entry = data.draw(st.sampled_from(self.pending()), label="entry")
        approver = self.approver(data, entry.owner)
        self.attempt(lambda: money.movement_approve(movement=entry.instance, by=approver), None)
        for pk in entry.debit:
            self.funds[pk].balance -= entry.amount
            self.funds[pk].reserved -= entry.amount
        for pk in entry.credit:
            self.funds[pk].balance += entry.amount
        entry.status = Status.APPROVED

    @precondition(lambda self: self.pending())
    @rule(data=st.data())
    def reject(self, data):
        entry = data.draw(st.sampled_from(self.pending()), label="entry")
        approver = self.approver(data, entry.owner)
        self.attempt(lambda: money.movement_reject(movement=entry.instance, by=approver, reason="金额有误"), None)
        for pk in entry.debit:
            self.funds[pk].reserved -= entry.amount
        entry.status = Status.REJECTED
        if entry.reverses is not None:
            entry.reverses.live_reversal = None

    def lists_waiting(self) -> dict[int, list[EntryModel]]:
        """The pending payments the machine knows, by the list they came in."""
        waiting: dict[int, list[EntryModel]] = {}
        for entry in self.pending():
            if entry.model is Disbursement and entry.instance.payment_list_id is not None:
                waiting.setdefault(entry.instance.payment_list_id, []).append(entry)
        return waiting

    @precondition(lambda self: self.lists_waiting())
    @rule(data=st.data())
    def decide_payment_list(self, data):
        """An approver decides a whole list as one (what of it still waits), by
        the service or the API, with the count and total she was shown."""
        waiting = self.lists_waiting()
        pk = data.draw(st.sampled_from(sorted(waiting)), label="list")
        chosen = waiting[pk]
        approver = self.approver(data, chosen[0].owner)
        approve = data.draw(st.booleans(), label="approve")
        shown = {"rows": len(chosen), "total": sum((e.amount for e in chosen), ZERO)}
        payment_list = PaymentList.objects.get(pk=pk)
        if data.draw(st.booleans(), label="through the API"):
            body = {"rows": shown["rows"], "total": str(shown["total"]), **({} if approve else {"reason": "名单有误"})}
            verb = "approve" if approve else "reject"
            call = lambda: api_answer(approver, f"disbursement-lists/{pk}/{verb}/", body)  # noqa: E731
        elif approve:
            call = lambda: money.payment_list_approve(  # noqa: E731
                payment_list=payment_list, by=approver, expect_rows=shown["rows"], expect_total=shown["total"]
            )
        else:
            call = lambda: money.payment_list_reject(  # noqa: E731
                payment_list=payment_list, by=approver, reason="名单有误", expect_rows=shown["rows"]
            )
        self.attempt(call, None)
        for entry in chosen:
            for pk_ in entry.debit:
                self.funds[pk_].reserved -= entry.amount
                if approve:
                    self.funds[pk_].balance -= entry.amount
            entry.status = Status.APPROVED if approve else Status.REJECTED

    @precondition(lambda self: any(e.status == Status.APPROVED and e.reverses is None for e in self.entries))
    @rule(data=st.data())
    def reverse(self, data):
        original = data.draw(
            st.sampled_from([e for e in self.entries if e.status == Status.APPROVED and e.reverses is None]),
            label="original",
        )
        clerk = self.clerk(data, original.owner)
        # The reversal takes back from where the original put the money.
        short = any(self.funds[pk].available < original.amount for pk in original.credit)
        if original.live_reversal is not None:
            refusal = "already_reversed"
        elif short:
            refusal = "insufficient_funds"
        else:
            refusal = None
        reversal = self.attempt(
            lambda: money.movement_reverse(movement=original.instance, by=clerk, reason="更正"), refusal
        )
        if reversal is not None:
            assert (reversal.reverses_id, reversal.amount) == (original.instance.pk, original.amount)
            original.live_reversal = self.record(
                reversal,
                debit=original.credit,
                credit=original.debit,
                maker=clerk,
                owner=original.owner,
                reverses=original,
            )

    # Returned, resubmitted, withdrawn ---------------------------------------------

    @precondition(lambda self: self.pending())
    @rule(data=st.data())
    def return_for_correction(self, data):
        """An approver sends an entry back to its clerk (退回修改), by the service or the
        API: it stays pending and keeps its reservation."""
        entry = data.draw(st.sampled_from(self.pending()), label="entry")
        approver = self.approver(data, entry.owner)
        if data.draw(st.booleans(), label="through the API"):
            path = f"{entry.model._meta.model_name}s/{entry.instance.pk}/return/"
            call = lambda: api_answer(approver, path, {"reason": "请补充证明材料"})  # noqa: E731
        else:
            call = lambda: money.movements_return(movements=[entry.instance], by=approver, reason="请补充证明材料")  # noqa: E731
        self.attempt(call, None)
        entry.returned = True

    @precondition(lambda self: self.returned())
    @rule(data=st.data())
    def resubmit(self, data):
        entry = data.draw(st.sampled_from(self.returned()), label="entry")
        self.attempt(lambda: money.movements_resubmit(movements=[entry.instance], by=entry.maker), None)
        entry.returned = False

    @precondition(lambda self: any(e.status == Status.PENDING for e in self.entries))
    @rule(data=st.data())
    def withdraw(self, data):
        """Its clerk takes back a pending entry, returned or not (撤回): closed, and
        what it reserved is free again."""
        entry = data.draw(st.sampled_from([e for e in self.entries if e.status == Status.PENDING]), label="entry")
        if data.draw(st.booleans(), label="through the API"):
            path = f"{entry.model._meta.model_name}s/{entry.instance.pk}/withdraw/"
            call = lambda: api_answer(entry.maker, path, {})  # noqa: E731
        else:
            call = lambda: money.movements_withdraw(movements=[entry.instance], by=entry.maker)  # noqa: E731
        self.attempt(call, None)
        for pk in entry.debit:
            self.funds[pk].reserved -= entry.amount
        entry.status, entry.returned = Status.WITHDRAWN, False
        if entry.reverses is not None:
            entry.reverses.live_reversal = None

    # Editing ------------------------------------------------------------------

    @precondition(lambda self: self.pending())
    @rule(data=st.data())
    def edit(self, data):
        """Change the amount (and, for a payment, maybe the date) of a pending
        entry; the reservation follows. A reversal mirrors its entry and is
        never edited."""
        entry = data.draw(st.sampled_from(self.pending()), label="entry")
        if entry.reverses is not None:
            clerk = self.clerk(data, entry.owner)
            self.attempt(
                lambda: money.movement_update(movement=entry.instance, by=clerk, amount=entry.amount + 1),
                "reversal_not_editable",
            )
            return
        clerk = self.clerk(data, entry.owner)
        room = min((self.funds[pk].available + entry.amount for pk in entry.debit), default=Decimal("1e12"))
        amount = self.outflow_amount(data, room)
        changes = {"amount": amount, "note": "改"}
        confirm = False
        refusal = None
        if entry.model is Disbursement:
            date = data.draw(st.sampled_from(DATES), label="date")
            changes["date"] = date
            confirm = data.draw(st.booleans(), label="confirm duplicate")
            moved = EntryModel(
                Disbursement(**{**_payment_fields(entry.instance), "date": date}), amount, [], [], None, None
            )
            duplicate = self.is_duplicate(moved, besides=entry)
            if duplicate and not confirm:
                refusal = "duplicate_payment"
        if refusal is None and entry.debit and amount > room:
            refusal = "insufficient_funds"
        updated = self.attempt(
            lambda: money.movement_update(movement=entry.instance, by=clerk, confirm_duplicate=confirm, **changes),
            refusal,
        )
        if updated is None:
            return
        for pk in entry.debit:
            self.funds[pk].reserved += amount - entry.amount
        entry.amount = amount
        if entry.model is Disbursement:
            entry.instance.date = changes["date"]
            entry.duplicate_confirmed = duplicate

    # Attempts that must be refused --------------------------------------------

    @precondition(lambda self: self.entries)
    @rule(data=st.data())
    def misuse(self, data):
        """Something a careless clerk or approver might try: each is refused with
        its own code and leaves no trace."""
        entry = data.draw(st.sampled_from(self.entries), label="entry")
        instance = entry.instance
        clerk = self.clerk(data, entry.owner)
        approver = self.approver(data, entry.owner)
        if entry.returned:
            options = [
                (lambda: money.movement_approve(movement=instance, by=approver), "returned_for_correction"),
                (lambda: money.movement_reject(movement=instance, by=approver, reason="x"), "returned_for_correction"),
            ]
        elif entry.status == Status.PENDING:
            options = [
                (lambda: money.movement_approve(movement=instance, by=entry.maker), "maker_cannot_approve"),
                (lambda: money.movement_approve(movement=instance, by=clerk), "permission"),
                (lambda: money.movement_reject(movement=instance, by=approver, reason=" "), "reason_required"),
                (lambda: money.movement_reverse(movement=instance, by=clerk, reason="x"), "not_reversible"),
                (
                    lambda: money.movement_update(movement=instance, by=clerk, amount="0.001"),
                    "reversal_not_editable" if entry.reverses else "invalid_amount",
                ),
            ]
            if clerk == entry.maker:  # a clerk who is no approver fails the maker check first
                options[1] = (options[1][0], "maker_cannot_approve")
        else:
            options = [
                (lambda: money.movement_approve(movement=instance, by=approver), "not_pending"),
                (lambda: money.movement_reject(movement=instance, by=approver, reason="x"), "not_pending"),
                (lambda: money.movement_update(movement=instance, by=clerk, amount="1.00"), "not_pending"),
            ]
            if entry.status in CLOSED or entry.reverses is not None:
                options.append(
                    (lambda: money.movement_reverse(movement=instance, by=clerk, reason="x"), "not_reversible")
                )
            elif entry.live_reversal is not None:
                options.append(
                    (lambda: money.movement_reverse(movement=instance, by=clerk, reason="x"), "already_reversed")
                )
            else:
                options.append(
                    (lambda: money.movement_reverse(movement=instance, by=clerk, reason=""), "reason_required")
                )
        # A clerk of 城东区 may not touch a fund outside 城东区; a bad amount is
        # refused before anything is locked.
        source = self.draw_fund(data)
        outsider = self.cast["outsider"]
        amount = data.draw(st.sampled_from(["0", "-1.00", "0.001", "abc", "NaN", "Infinity"]), label="bad amount")
        if has_role(outsider, Role.CLERK, source.fund.federation):
            to_federation = self.cast["federations"][0]
            options.append(
                (
                    lambda: money.allocation_create(
                        from_fund=source.fund, to_federation=to_federation, amount=amount, by=outsider
                    ),
                    "invalid_amount",
                )
            )
        else:
            unit = self.cast["units"][0]
            options.append(
                (
                    lambda: money.disbursement_create(
                        fund=source.fund, unit=unit, assistance_type="living", amount="1.00", by=outsider
                    ),
                    "permission",
                )
            )
        action, refusal = data.draw(st.sampled_from(options), label="action")
        self.attempt(action, refusal)

    # What must hold after every step ------------------------------------------

    @invariant()
    def ledger_agrees_with_its_entries_and_the_model(self):
        entries = load_entries()
        funds = list(Fund.objects.all())
        assert_ledger_consistent(entries, funds)
        # The funds hold what the machine expects.
        assert sorted(fund.pk for fund in funds) == sorted(self.funds)
        for fund in funds:
            expected = self.funds[fund.pk]
            assert (fund.balance, fund.reserved) == (expected.balance, expected.reserved), fund.pk
        # The database's own sum agrees with Decimal arithmetic: no float drift.
        total = Fund.objects.aggregate(total=money_sum("balance"))["total"]
        assert total == sum((m.balance for m in self.funds.values()), ZERO)
        # Each entry has the status, amount and duplicate flag the machine expects.
        for model, rows in entries.items():
            expected = {e.instance.pk: e for e in self.entries if e.model is model}
            assert sorted(rows) == sorted(expected), model
            for pk, row in rows.items():
                entry = expected[pk]
                assert (row.status, row.amount) == (entry.status, entry.amount), (model, pk)
                assert row.reverses_id == (entry.reverses.instance.pk if entry.reverses else None)
                if model is Disbursement and entry.reverses is None:
                    assert row.duplicate_confirmed == entry.duplicate_confirmed, pk


def api_answer(user, path: str, body: dict) -> dict:
    """A call to the API as another system makes it; a refusal comes back as the
    `ValidationError` or `PermissionDenied` a service raises, with the codes the
    API answered."""
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(API + path, body, format="json")
    if response.status_code == 403:
        raise PermissionDenied(response.json()["message"])
    if response.status_code >= 400:
        errors = response.json()["errors"]
        raise ValidationError([ValidationError(e["message"], code=e["code"]) for e in errors])
    return response.json()


def _payment_fields(disbursement: Disbursement) -> dict:
    return {
        "fund_id": disbursement.fund_id,
        "beneficiary_id": disbursement.beneficiary_id,
        "unit_id": disbursement.unit_id,
        "assistance_type": disbursement.assistance_type,
        "date": disbursement.date,
    }


@pytest.fixture
def cast(tree, alice, bob, dave, province_clerk, province_approver):
    """Funds in six federations on three levels and two provinces, and the people
    who handle them; 城中区's grassroots union, 城西区 and 海东 have no fund yet."""
    erin = member("erin", tree["chengdong"], Role.APPROVER)
    gansu_clerk = member("gclerk", tree["gansu"], Role.CLERK)
    gansu_approver = member("gapprover", tree["gansu"], Role.APPROVER)
    clerks = [alice, dave, province_clerk, gansu_clerk]
    approvers = [bob, erin, province_approver, gansu_approver]

    def clerk_of(federation):
        return next(u for u in clerks if has_role(u, Role.CLERK, federation))

    funds = []
    for federation, purpose in [
        ("qinghai", "pandemic"),
        ("xining", "pandemic"),
        ("chengzhong", "pandemic"),
        ("chengzhong", "warmth"),
        ("chengdong", "pandemic"),
        ("gansu", "pandemic"),
    ]:
        owner = tree[federation]
        funds.append(
            money.fund_create(
                federation=owner, name=f"{purpose}专项", purpose=purpose, fiscal_year=2022, by=clerk_of(owner)
            )
        )
    workers = [
        people.beneficiary_register(
            name=name, id_number=synthetic_id(sequence), federation=tree["chengzhong"], by=alice
        )
        for sequence, name in PEOPLE[:2]
    ]
    units = [
        people.unit_create(name="城中区人民医院", kind="hospital", federation=tree["chengzhong"], by=alice),
        people.unit_create(name="兰州石化", kind="enterprise", federation=tree["gansu"], by=gansu_clerk),
    ]
    return {
        "funds": [Fund.objects.select_related("federation").get(pk=fund.pk) for fund in funds],
        "federations": [
            tree[name] for name in ("grassroots", "chengxi", "haidong", "qinghai", "xining", "chengzhong", "gansu")
        ],
        "clerks": clerks,
        "approvers": approvers,
        "outsider": dave,
        "recipients": [*workers, *units],
        "people": {sequence: worker.pk for (sequence, _name), worker in zip(PEOPLE, workers, strict=False)},
        "units": units,
    }


@pytest.mark.django_db
def test_any_sequence_of_entries_keeps_every_fund_consistent(cast):
    LedgerMachine.cast = cast
    OUTCOMES.clear()
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
            ),
        )
    finally:
        LedgerMachine.cast = {}
    print(sorted(OUTCOMES.items()))  # shown with -s, or on failure
    if EXAMPLES >= 50:
        assert set(OUTCOMES) >= MUST_HAPPEN, MUST_HAPPEN - set(OUTCOMES)


@pytest.mark.django_db
def test_float_prone_amounts_add_up_exactly(fund, tree, alice, bob):
    """0.10 + 0.20 leaves exactly 0.30 to allocate, and not a fen more."""
    for amount in ("0.10", "0.20"):
        money.movement_approve(
            movement=money.contribution_create(fund=fund, source="donation", amount=amount, by=alice), by=bob
        )
    fund.refresh_from_db()
    assert fund.balance == Decimal("10000.30")
    money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="10000.30", by=alice)
    with pytest.raises(ValidationError) as refused:
        money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="0.01", by=alice)
    assert codes(refused.value) == {"insufficient_funds"}
    assert_ledger_consistent()
