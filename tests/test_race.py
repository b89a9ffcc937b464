"""Real concurrency: several connections hit the same fund at the same moment.

Each thread (or process) opens its own database connection and waits at a
barrier, so that the service calls start together. On PostgreSQL the services
serialise on row locks; on SQLite on IMMEDIATE transactions. Either way the
outcome must be the one a single clerk clicking one after another would get:
only what the fund can afford goes through, the rest is refused with a clear
code, and never with "database is locked", a deadlock or an IntegrityError.
"""

import contextlib
import datetime
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Allocation, Contribution, Disbursement, Fund, PaymentList, Status
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, Unit
from tests.conftest import member, synthetic_id
from tests.factories import BeneficiaryFactory, FundFactory, approved_contribution
from tests.oracle import assert_ledger_consistent, codes
from unionfunds.models import AuditEvent, Federation, Role

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(__file__).resolve().parent.parent
OK, REFUSED, ERROR = "ok", "refused", "error"


def at_once(jobs: list[Callable[[], object]], *, hold: list[int] = ()) -> list[tuple[str, object]]:
    """Run each job in its own thread with its own connection, all released by one
    barrier; returns (OK, result), (REFUSED, codes) or (ERROR, repr) per job.

    With `hold` (fund ids), this thread keeps those funds locked until every job
    is queued behind the lock, so that the jobs really contend rather than
    merely start close together; then it lets them all go at once.
    """
    barrier = threading.Barrier(len(jobs) + 1)
    outcomes: list[tuple[str, object] | None] = [None] * len(jobs)

    def run(index: int, job: Callable[[], object]) -> None:
        try:
            # Open the connection before the barrier so that the calls, not the
            # connection handshakes, are what start together.
            connection.ensure_connection()
            barrier.wait(timeout=30)
            outcomes[index] = (OK, job())
        except ValidationError as error:
            outcomes[index] = (REFUSED, codes(error))
        except BaseException as error:
            outcomes[index] = (ERROR, repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    try:
        with holding(hold):
            for thread in threads:
                thread.start()
            barrier.wait(timeout=30)
            if hold:
                wait_until_blocked(len(jobs))
    finally:
        for thread in threads:
            thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    errors = [outcome for outcome in outcomes if outcome is None or outcome[0] == ERROR]
    assert not errors, errors
    return outcomes


@contextlib.contextmanager
def holding(fund_pks):
    """Keep these funds locked by this connection for the duration of the block
    (nothing, if there are none). On SQLite the IMMEDIATE transaction is itself
    the lock: every other writer waits for it."""
    if not fund_pks:
        yield
        return
    with transaction.atomic():
        list(Fund.objects.select_for_update().filter(pk__in=fund_pks).order_by("pk"))
        yield


def wait_until_blocked(count: int) -> None:
    """Until `count` other connections wait for a lock (PostgreSQL), or a moment (SQLite,
    where a connection waiting in its busy handler cannot be seen from outside)."""
    if connection.vendor != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 20
    waiting = 0
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            waiting = cursor.fetchone()[0]
        if waiting >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"only {waiting} of {count} jobs queued behind the lock")


def succeeded(outcomes) -> list:
    return [result for kind, result in outcomes if kind == OK]


def refusals(outcomes) -> Counter:
    return Counter(frozenset(result) for kind, result in outcomes if kind == REFUSED)


def fresh(model, pk):
    """Each request loads its own objects, as a view would."""
    return model.objects.get(pk=pk)


User = get_user_model()


def outflow(kind: str, *, fund_pk: int, clerk_pk: int, amount: str, to_federation_pk: int, unit_pk: int, index: int):
    """A job that enters one allocation or one disbursement to a unit."""

    def job():
        fund, clerk = fresh(Fund, fund_pk), fresh(User, clerk_pk)
        if kind == "allocation":
            return money.allocation_create(
                from_fund=fund, to_federation=fresh(Federation, to_federation_pk), amount=amount, by=clerk
            )
        return money.disbursement_create(
            fund=fund, unit=fresh(Unit, unit_pk), assistance_type="medical", amount=amount, note=str(index), by=clerk
        )

    return job


# Only as much as the fund holds -------------------------------------------------

N_THREADS = 10
SHARE = Decimal("3333.33")  # the fund's 10,000.00 pays three of these, leaving 0.01
AFFORDABLE = 3


@pytest.mark.parametrize("held", [False, True], ids=["barrier", "queued"])
@pytest.mark.parametrize("kinds", ["allocation", "disbursement", "mixed"])
def test_only_what_the_fund_holds_goes_out_however_many_clerks_press_at_once(
    tree, fund, alice, province_clerk, bob, province_approver, hospital, kinds, held
):
    """Ten clerks' requests for 3,333.33 each hit a fund of 10,000.00 at once:
    three are entered, seven refused. Then two approvers approve the three at
    once: each is approved exactly once and the money lands where it should."""
    clerks = [alice, province_clerk]
    jobs = [
        outflow(
            ("allocation", "disbursement")[i % 2] if kinds == "mixed" else kinds,
            fund_pk=fund.pk,
            clerk_pk=clerks[i % 2].pk,
            amount=str(SHARE),
            to_federation_pk=tree["grassroots"].pk,  # has no fund yet: the first allocation creates it
            unit_pk=hospital.pk,
            index=i,
        )
        for i in range(N_THREADS)
    ]
    before = AuditEvent.objects.count()

    outcomes = at_once(jobs, hold=[fund.pk] if held else [])

    entries = succeeded(outcomes)
    assert len(entries) == AFFORDABLE
    assert refusals(outcomes) == Counter({frozenset({"insufficient_funds"}): N_THREADS - AFFORDABLE})
    fund.refresh_from_db()
    assert (fund.balance, fund.reserved, fund.available) == (
        Decimal("10000.00"),
        SHARE * AFFORDABLE,
        Decimal("0.01"),
    )
    assert Allocation.objects.count() + Disbursement.objects.count() == AFFORDABLE
    assert {entry.status for entry in entries} == {Status.PENDING}
    # The recipient's fund is created once, however many allocations raced to create it.
    recipient_funds = Fund.objects.filter(federation=tree["grassroots"]).count()
    assert recipient_funds == (1 if any(isinstance(e, Allocation) for e in entries) else 0)
    # Refused attempts leave no audit event: one per entry and per created fund.
    assert AuditEvent.objects.count() - before == AFFORDABLE + recipient_funds
    assert_ledger_consistent()

    approvals = at_once(
        [
            (lambda entry=entry, approver=approver: money.movement_approve(movement=entry, by=approver))
            for entry in entries
            for approver in (bob, province_approver)
        ],
        hold=[fund.pk] if held else [],
    )

    assert len(succeeded(approvals)) == AFFORDABLE
    assert refusals(approvals) == Counter({frozenset({"not_pending"}): AFFORDABLE})
    fund.refresh_from_db()
    assert (fund.balance, fund.reserved) == (Decimal("0.01"), Decimal("0.00"))
    allocated = SHARE * sum(isinstance(e, Allocation) for e in entries)
    assert sum(f.balance for f in Fund.objects.filter(federation=tree["grassroots"])) == allocated
    assert (
        Disbursement.objects.filter(status=Status.APPROVED).count()
        + Allocation.objects.filter(status=Status.APPROVED).count()
        == AFFORDABLE
    )
    assert_ledger_consistent()


@pytest.mark.parametrize("held", [False, True], ids=["barrier", "queued"])
def test_a_reversal_and_a_payment_cannot_both_take_the_same_money(tree, alice, bob, hospital, held):
    """A fund holds 10,000.00 from one contribution. At the same moment one clerk
    asks to reverse the contribution (it needs the whole 10,000.00) and another
    pays 0.01 out: one of them must be refused."""
    fund = FundFactory(federation=tree["chengzhong"], name="送温暖资金", purpose="warmth", by=alice)
    contribution = approved_contribution(fund, "10000.00", source="donation", by=alice, approver=bob)

    outcomes = at_once(
        [
            lambda: money.movement_reverse(movement=fresh(Contribution, contribution.pk), by=alice, reason="退回捐赠"),
            lambda: money.disbursement_create(
                fund=fresh(Fund, fund.pk), unit=hospital, assistance_type="medical", amount="0.01", by=alice
            ),
        ],
        hold=[fund.pk] if held else [],
    )

    winners = succeeded(outcomes)
    assert len(winners) == 1, outcomes
    assert refusals(outcomes) == Counter({frozenset({"insufficient_funds"}): 1})
    fund.refresh_from_db()
    assert (fund.balance, fund.reserved) == (Decimal("10000.00"), winners[0].amount)
    assert Contribution.objects.count() + Disbursement.objects.count() == 2
    assert_ledger_consistent()


def test_two_clerks_reversing_the_same_entry_at_once_make_one_reversal(tree, fund, alice, province_clerk, bob):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="600", by=alice)
    money.movement_approve(movement=allocation, by=bob)

    outcomes = at_once(
        [
            (
                lambda clerk=clerk: money.movement_reverse(
                    movement=fresh(Allocation, allocation.pk), by=clerk, reason="错"
                )
            )
            for clerk in (alice, province_clerk, alice, province_clerk)
        ],
        hold=[allocation.to_fund_id],
    )

    assert len(succeeded(outcomes)) == 1
    assert refusals(outcomes) == Counter({frozenset({"already_reversed"}): 3})
    assert Allocation.objects.filter(reverses=allocation).count() == 1
    recipient = Fund.objects.get(federation=tree["grassroots"])
    assert (recipient.balance, recipient.reserved) == (Decimal("600.00"), Decimal("600.00"))
    assert_ledger_consistent()


# Deciding at once ---------------------------------------------------------------


@pytest.mark.parametrize("second_decision", ["approve", "reject"])
def test_two_approvers_deciding_the_same_entries_at_once_decide_each_once(
    tree, fund, alice, bob, province_approver, hospital, second_decision
):
    """Three pending entries (two allocations to different federations and a
    payment), each decided by two approvers at the same moment."""
    pending = [
        money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="3333.33", by=alice),
        money.allocation_create(from_fund=fund, to_federation=tree["chengxi"], amount="3333.33", by=alice),
        money.disbursement_create(fund=fund, unit=hospital, assistance_type="medical", amount="3333.33", by=alice),
    ]

    def decide(entry, approver, decision):
        def job():
            movement = fresh(type(entry), entry.pk)
            if decision == "approve":
                return money.movement_approve(movement=movement, by=approver)
            return money.movement_reject(movement=movement, by=approver, reason="重复录入")

        return job

    jobs = []
    for entry in pending:
        jobs.append(decide(entry, bob, "approve"))
        jobs.append(decide(entry, province_approver, second_decision))
    outcomes = at_once(jobs, hold=[fund.pk])

    assert len(succeeded(outcomes)) == len(pending)
    assert refusals(outcomes) == Counter({frozenset({"not_pending"}): len(pending)})
    approved = Decimal("0.00")
    for entry in pending:
        entry.refresh_from_db()
        assert entry.status in (Status.APPROVED, Status.REJECTED)
        if second_decision == "approve":
            assert entry.status == Status.APPROVED
        decisions = AuditEvent.objects.filter(
            object_id=entry.pk, action__in=[f"{entry._meta.model_name}.{s}" for s in ("approved", "rejected")]
        )
        assert decisions.count() == 1
        if entry.status == Status.APPROVED:
            approved += entry.amount
    fund.refresh_from_db()
    assert (fund.balance, fund.reserved) == (Decimal("10000.00") - approved, Decimal("0.00"))
    for federation in ("grassroots", "chengxi"):
        recipient = Fund.objects.get(federation=tree[federation])
        allocation = Allocation.objects.get(to_fund=recipient)
        assert recipient.balance == (allocation.amount if allocation.status == Status.APPROVED else 0)
    assert_ledger_consistent()


# Real-name payments -------------------------------------------------------------


def test_two_clerks_paying_the_same_person_the_same_month_pay_once(tree, fund, alice, province_clerk):
    """Five workers; for each, both clerks enter a living-aid payment for March at
    the same moment (on different days of the month). One per worker goes through."""
    workers = [
        people.beneficiary_register(
            name=f"职工{i}", id_number=synthetic_id(100 + i), federation=tree["chengzhong"], by=alice
        )
        for i in range(5)
    ]

    def pay(worker, clerk, day):
        return lambda: money.disbursement_create(
            fund=fresh(Fund, fund.pk),
            beneficiary=fresh(Beneficiary, worker.pk),
            assistance_type="living",
            amount="500.00",
            date=datetime.date(2022, 3, day),
            by=fresh(User, clerk.pk),
        )

    jobs = [pay(worker, clerk, day) for worker in workers for clerk, day in ((alice, 1), (province_clerk, 31))]
    outcomes = at_once(jobs, hold=[fund.pk])

    assert len(succeeded(outcomes)) == len(workers)
    assert refusals(outcomes) == Counter({frozenset({"duplicate_payment"}): len(workers)})
    for worker in workers:
        assert Disbursement.objects.filter(beneficiary=worker).count() == 1
    assert not Disbursement.objects.filter(duplicate_confirmed=True).exists()
    fund.refresh_from_db()
    assert (fund.balance, fund.reserved) == (Decimal("10000.00"), Decimal("2500.00"))
    assert_ledger_consistent()


# A list against single entries ---------------------------------------------------

LIST_ROWS = 500
LIST_SHARE = Decimal("10.00")  # the list asks for 5,000.00 of the fund's 10,000.00
SINGLE = Decimal("300.00")  # twenty singles ask for 6,000.00


@pytest.mark.parametrize("held", [False, True], ids=["barrier", "queued"])
def test_a_list_and_twenty_single_payments_at_once_spend_only_what_the_fund_holds(
    tree, fund, alice, province_clerk, held
):
    """A county's list of 500 payments and twenty payments entered one by one hit
    the same fund together; one single entry pays a worker who is also on the
    list, the same month. Whatever the order, the outcome is one a clerk entering
    them one after another could get: the list is written whole or not at all,
    the fund never gives more than it holds, and the worker is paid once."""
    workers = BeneficiaryFactory.create_batch(20, federation=tree["chengzhong"], by=alice)
    rows = [ListRow(name=workers[0].name, id_number=workers[0].id_number, amount=LIST_SHARE)] + [
        ListRow(name=f"名单{i}", id_number=synthetic_id(i % 1000, birth=datetime.date(1971, 1, 1)), amount=LIST_SHARE)
        for i in range(1, LIST_ROWS)
    ]
    day = datetime.date(2022, 3, 15)

    def the_list():
        return money.disbursements_create(
            fund=fresh(Fund, fund.pk),
            rows=rows,
            assistance_type="living",
            date=day,
            batch="名单",
            by=fresh(User, alice.pk),
        )

    def single(worker):
        return lambda: money.disbursement_create(
            fund=fresh(Fund, fund.pk),
            beneficiary=fresh(Beneficiary, worker.pk),
            assistance_type="living",
            amount=SINGLE,
            date=day,
            by=fresh(User, province_clerk.pk),
        )

    outcomes = at_once([the_list, *(single(worker) for worker in workers)], hold=[fund.pk] if held else [])

    list_outcome, singles = outcomes[0], outcomes[1:]
    listed = Disbursement.objects.filter(batch="名单")
    paid_singly = len(succeeded(singles))
    assert {code for kind, found in outcomes if kind == REFUSED for code in found} <= {
        "insufficient_funds",
        "duplicate_payment",
    }
    if list_outcome[0] == OK:
        assert listed.count() == LIST_ROWS and Beneficiary.objects.count() == 20 + LIST_ROWS - 1
        # 5,000.00 is left for the singles, minus the one refused as a duplicate.
        assert paid_singly <= 16 and singles[0][0] == REFUSED
    else:
        assert listed.count() == 0 and Beneficiary.objects.count() == 20
        assert list_outcome[1] in ({"insufficient_funds"}, {"duplicate_payment"})
        assert paid_singly == 20  # 6,000.00: all of them fit without the list
    assert Disbursement.objects.filter(beneficiary=workers[0]).count() == 1
    fund.refresh_from_db()
    spent = LIST_SHARE * listed.count() + SINGLE * paid_singly
    assert (fund.balance, fund.reserved) == (Decimal("10000.00"), spent)
    assert AuditEvent.objects.filter(action="disbursement.created").count() == listed.count() + paid_singly
    assert_ledger_consistent()


def test_a_list_approved_whole_while_another_approver_approves_some_of_it_one_by_one(
    tree, fund, alice, bob, province_approver
):
    """All or nothing holds under contention too: the whole list and five of its
    entries are approved at the same moment by two approvers. Each entry is
    approved exactly once, and the list either goes through whole or is
    refused whole because some of it was decided meanwhile."""
    rows = [ListRow(name=f"名单{i}", id_number=synthetic_id(i), amount="10.00") for i in range(200)]
    created = list(money.disbursements_create(fund=fund, rows=rows, assistance_type="living", by=alice))
    some = created[:5]

    def whole():
        return money.movements_approve(movements=[fresh(Disbursement, d.pk) for d in created], by=fresh(User, bob.pk))

    def one(entry):
        return lambda: money.movement_approve(
            movement=fresh(Disbursement, entry.pk), by=fresh(User, province_approver.pk)
        )

    outcomes = at_once([whole, *(one(entry) for entry in some)], hold=[fund.pk])

    approved = Disbursement.objects.filter(status=Status.APPROVED)
    singles = outcomes[1:]
    if outcomes[0][0] == OK:
        # The list went first: the five were no longer pending when their turn came.
        assert refusals(singles) == Counter({frozenset({"not_pending"}): len(some)})
        assert approved.filter(decided_by=bob).count() == len(created)
    else:
        # One of the five went first: the list is refused whole, the five stand.
        assert outcomes[0][1] == {"not_pending"}
        assert approved.count() == len(succeeded(singles)) == len(some)
        assert not approved.filter(decided_by=bob).exists()
    for entry in created:
        assert AuditEvent.objects.filter(object_id=entry.pk, action="disbursement.approved").count() == (
            1 if approved.filter(pk=entry.pk).exists() else 0
        )
    fund.refresh_from_db()
    taken = Decimal("10.00") * approved.count()
    assert (fund.balance, fund.reserved) == (Decimal("10000.00") - taken, Decimal("2000.00") - taken)
    assert_ledger_consistent()


@pytest.mark.parametrize("held", [False, True], ids=["barrier", "queued"])
def test_a_clerk_withdrawing_her_list_while_it_is_approved_leaves_one_of_the_two(tree, fund, alice, bob, held):
    """撤回 and 批准 of one 100-row list at the same moment: exactly one of them
    happens, to every row, and the fund is as that one left it."""
    rows = [ListRow(name=f"名单{i}", id_number=synthetic_id(i), amount="10.00") for i in range(100)]
    created = money.disbursements_create(fund=fund, rows=rows, assistance_type="living", by=alice)
    payment_list = PaymentList.objects.get(pk=created.payment_list_id)

    def approve():
        return money.payment_list_approve(payment_list=fresh(PaymentList, payment_list.pk), by=fresh(User, bob.pk))

    def withdraw():
        return money.payment_list_withdraw(payment_list=fresh(PaymentList, payment_list.pk), by=fresh(User, alice.pk))

    outcomes = at_once([approve, withdraw], hold=[fund.pk] if held else [])
    assert sorted(kind for kind, _ in outcomes) == [OK, REFUSED]
    (refused,) = [result for kind, result in outcomes if kind == REFUSED]
    assert refused <= {"not_pending", "list_decided"}
    statuses = set(Disbursement.objects.filter(payment_list=payment_list).values_list("status", flat=True))
    fund.refresh_from_db()
    if outcomes[0][0] == OK:
        assert statuses == {Status.APPROVED}
        assert (fund.balance, fund.reserved) == (Decimal("9000.00"), Decimal("0.00"))
    else:
        assert statuses == {Status.WITHDRAWN}
        assert (fund.balance, fund.reserved) == (Decimal("10000.00"), Decimal("0.00"))
    assert_ledger_consistent()


# Separate processes ---------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import json, os, sys

    os.environ["DJANGO_SETTINGS_MODULE"] = "unionfunds.settings"
    os.environ["UNIONFUNDS_TESTING"] = "1"
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = os.environ["RACE_DATABASE_NAME"]
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError

    from allocations import services
    from allocations.models import Fund
    from unionfunds.models import Federation

    job = json.loads(sys.argv[1])
    fund = Fund.objects.get(pk=job["fund"])
    clerk = get_user_model().objects.get(pk=job["clerk"])
    to_federation = Federation.objects.get(pk=job["to_federation"])
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        allocation = services.allocation_create(
            from_fund=fund, to_federation=to_federation, amount=job["amount"], by=clerk
        )
        outcome = {"ok": allocation.pk}
    except ValidationError as error:
        errors = error.error_dict.values() if hasattr(error, "error_dict") else [error.error_list]
        outcome = {"refused": sorted(e.code for each in errors for e in each)}
    except BaseException as error:
        outcome = {"error": repr(error)}
    print(json.dumps(outcome), flush=True)
    """
)


@pytest.mark.parametrize("held", [False, True], ids=["barrier", "queued"])
def test_separate_processes_allocating_at_once_only_spend_what_the_fund_holds(tree, fund, alice, province_clerk, held):
    """The same race with one OS process per clerk, each with its own Django and
    its own connection to the test database."""
    count = 6
    processes = []
    env = {**os.environ, "RACE_DATABASE_NAME": str(connection.settings_dict["NAME"])}
    try:
        for i in range(count):
            job = {
                "fund": fund.pk,
                "clerk": (alice, province_clerk)[i % 2].pk,
                "to_federation": tree[("grassroots", "chengxi")[i % 2]].pk,
                "amount": str(SHARE),
            }
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-c", CHILD, json.dumps(job)],
                    cwd=BASE_DIR,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        for process in processes:
            line = process.stdout.readline()
            assert line.strip() == "ready", (line, process.stderr.read() if process.poll() is not None else "")
        with holding([fund.pk] if held else []):
            for process in processes:  # every child is connected and waiting: release them together
                process.stdin.write("go\n")
                process.stdin.flush()
            if held:
                wait_until_blocked(count)
        outcomes = []
        for process in processes:
            out, err = process.communicate(timeout=90)
            assert process.returncode == 0, err
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert not [o for o in outcomes if "error" in o], outcomes
    assert len([o for o in outcomes if "ok" in o]) == AFFORDABLE
    assert [o["refused"] for o in outcomes if "refused" in o] == [["insufficient_funds"]] * (count - AFFORDABLE)
    fund.refresh_from_db()
    assert (fund.balance, fund.reserved) == (Decimal("10000.00"), SHARE * AFFORDABLE)
    assert Allocation.objects.count() == AFFORDABLE
    for name in ("grassroots", "chengxi"):  # each recipient's fund made once, if anything was sent there
        sent = Allocation.objects.filter(to_federation=tree[name]).exists()
        assert Fund.objects.filter(federation=tree[name]).count() == int(sent)
    assert_ledger_consistent()


# Allocations crossing each other ----------------------------------------------------


@pytest.mark.parametrize("name_the_fund", [True, False])
def test_two_federations_allocating_to_each_other_at_once_both_go_through(tree, fund, alice, bob, dave, name_the_fund):
    """城中区 sends to 城东区 while 城东区 sends to 城中区 (sideways, both ways, at once).
    Both can afford it, so all must succeed: a deadlock is a refusal nobody asked for."""
    erin = member("erin", tree["chengdong"], Role.APPROVER)
    other = FundFactory(federation=tree["chengdong"], by=dave)
    approved_contribution(other, "10000.00", by=dave, approver=erin)

    def send(from_pk, to_pk, clerk):
        def job():
            from_fund, to_fund = fresh(Fund, from_pk), fresh(Fund, to_pk)
            return money.allocation_create(
                from_fund=from_fund,
                to_federation=to_fund.federation,
                to_fund=to_fund if name_the_fund else None,
                amount="100.00",
                by=clerk,
            )

        return job

    # On PostgreSQL, locking the funds FOR UPDATE (rather than FOR NO KEY UPDATE)
    # deadlocked here: each insert's foreign-key check waits for the other's lock.
    # Whether the first two in line meet in that order is timing, hence rounds.
    rounds = 4
    for round_ in range(rounds):
        jobs = [send(fund.pk, other.pk, alice), send(other.pk, fund.pk, dave)] * 3
        outcomes = at_once(jobs, hold=[fund.pk, other.pk] if round_ % 2 else [])
        assert len(succeeded(outcomes)) == len(jobs)

    assert Allocation.objects.count() == 6 * rounds
    for each in (fund, other):
        each.refresh_from_db()
        assert (each.balance, each.reserved) == (Decimal("10000.00"), Decimal("300.00") * rounds)
    assert_ledger_consistent()
