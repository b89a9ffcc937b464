"""The national dataset builder (build_national_dataset): a small build on
PostgreSQL keeps every ledger invariant, and the roll-up of what it built agrees
with sums taken straight from the raw rows."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import F

from allocations import verify
from allocations.models import Allocation, Contribution, Disbursement, Fund, Status
from allocations.rollups import Filters, rollup
from beneficiaries import idnumber
from beneficiaries.models import Beneficiary
from unionfunds.models import Federation, Level
from unionfunds.money import fen_to_yuan

ON_POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(
    not ON_POSTGRES, reason="build_national_dataset uses COPY and TRUNCATE: PostgreSQL only (make test-postgres)"
)
pytestmark = pytest.mark.django_db


def build(*args: str) -> str:
    out = StringIO()
    call_command(
        "build_national_dataset", "--provinces", "63", "--seed", "7", "--no-vacuum", *args, stdout=out, stderr=out
    )
    return out.getvalue()


def sql(query: str, params=()) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()


@pytest.mark.skipif(ON_POSTGRES, reason="checks the refusal on SQLite")
def test_refuses_sqlite_clearly():
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("build_national_dataset", "--disbursements", "10", stdout=StringIO())


@pytest.fixture
def dataset():
    return build("--disbursements", "2000", "--verify")


@postgres_only
@pytest.mark.postgres
def test_a_small_build_keeps_the_ledger_invariants(dataset):
    assert "ledger invariants hold" in dataset
    assert verify.verify(totals=True).lines() == []
    assert Disbursement.objects.count() == 2000
    reversals = Disbursement.objects.filter(reverses__isnull=False)
    assert reversals.count() == 4
    assert all(r.amount == r.reverses.amount and r.fund_id == r.reverses.fund_id for r in reversals)
    assert not Disbursement.objects.exclude(status=Status.APPROVED).exists()
    for model in (Contribution, Allocation, Disbursement):
        assert not model.objects.filter(decided_by=None).exists()
        assert not model.objects.filter(decided_by=F("created_by")).exists()
    # Townships are the grassroots level, and only they pay out.
    qinghai = Federation.objects.get(code="63")
    townships = Federation.objects.subtree_of(qinghai).filter(level=Level.GRASSROOTS)
    assert townships.count() > 400
    assert set(Disbursement.objects.values_list("fund__federation__level", flat=True).distinct()) == {Level.GRASSROOTS}
    # One fund per federation; none holds less than nothing, none reserves anything.
    assert Fund.objects.count() == Federation.objects.subtree_of(qinghai).count() + 1
    assert not Fund.objects.filter(balance__lt=0).exists()
    assert not Fund.objects.exclude(reserved=0).exists()
    # About one person per two payments, each with a valid ID number of their county.
    people = list(Beneficiary.objects.select_related("federation__parent"))
    assert 900 <= len(people) <= 1100
    for person in people:
        resident = idnumber.parse(person.id_number)
        assert (resident.gender, resident.birth_date) == (person.gender, person.birth_date)
        assert person.id_number.startswith(person.federation.parent.code[:6])


@postgres_only
@pytest.mark.postgres
def test_the_national_rollup_equals_sums_over_the_raw_rows(dataset):
    root = Federation.objects.get(code="CN")
    result = rollup(root, Filters())
    net = "SUM(CASE WHEN reverses_id IS NULL THEN amount ELSE -amount END)"
    disbursed, times = sql(
        f"SELECT {net}, SUM(CASE WHEN reverses_id IS NULL THEN 1 ELSE -1 END) "
        "FROM allocations_disbursement WHERE status = 'approved'"
    )
    (persons,) = sql(
        "SELECT count(DISTINCT d.beneficiary_id) FROM allocations_disbursement d WHERE d.status = 'approved' "
        "AND d.reverses_id IS NULL AND NOT EXISTS (SELECT 1 FROM allocations_disbursement r "
        "WHERE r.reverses_id = d.id AND r.status = 'approved')"
    )
    (raised,) = sql(f"SELECT {net} FROM allocations_contribution WHERE status = 'approved'")
    (balance,) = sql("SELECT SUM(balance) FROM allocations_fund")
    total = result.total
    assert total.disbursed == fen_to_yuan(disbursed)
    assert total.person_times == times
    assert total.persons == persons
    assert total.raised == fen_to_yuan(raised)
    assert total.balance == fen_to_yuan(balance)
    assert total.allocated_out == 0
    assert total.raised == total.disbursed + total.balance  # money only leaves the tree as payments
    # Raised by the level of the federation whose money it was: province, city, township.
    by_level = {
        level: fen_to_yuan(amount)
        for level, amount in _rows(
            f"SELECT f.level, {net.replace('amount', 'c.amount').replace('reverses_id', 'c.reverses_id')} "
            "FROM allocations_contribution c JOIN allocations_fund fu ON fu.id = c.fund_id "
            "JOIN unionfunds_federation f ON f.id = fu.federation_id WHERE c.status = 'approved' GROUP BY 1"
        )
    }
    assert {level: amount for level, amount in total.raised_by_level.items() if amount} == by_level
    assert set(by_level) == {Level.PROVINCE, Level.CITY, Level.GRASSROOTS}
    # The additive columns of the rows add up to the total.
    rows = [figures for _child, figures in result.children] + [result.own]
    assert sum(f.disbursed for f in rows) == total.disbursed
    assert sum(f.person_times for f in rows) == total.person_times
    assert sum(f.balance for f in rows) == total.balance


@postgres_only
@pytest.mark.postgres
def test_a_province_rollup_equals_a_group_by_over_the_raw_rows(dataset):
    qinghai = Federation.objects.get(code="63")
    result = rollup(qinghai, Filters())
    child = len(qinghai.path) + Federation.steplen
    raw = dict(
        _rows(
            f"SELECT substr(f.path, 1, {child}), SUM(CASE WHEN d.reverses_id IS NULL THEN d.amount ELSE -d.amount END) "
            "FROM allocations_disbursement d JOIN allocations_fund fu ON fu.id = d.fund_id "
            "JOIN unionfunds_federation f ON f.id = fu.federation_id "
            "WHERE d.status = 'approved' AND f.path LIKE %s GROUP BY 1",
            [qinghai.path + "%"],
        )
    )
    assert {city.path: figures.disbursed for city, figures in result.children if figures.disbursed} == {
        path: fen_to_yuan(amount) for path, amount in raw.items()
    }
    assert len(result.children) == 8


@postgres_only
@pytest.mark.postgres
def test_a_second_run_tops_up_and_a_third_adds_nothing(dataset):
    out = build("--disbursements", "3000", "--verify")
    assert "1,000 disbursements" in out and "ledger invariants hold" in out
    assert Disbursement.objects.count() == 3000
    assert set(Allocation.objects.values_list("batch", flat=True)) == {"第1批", "第2批"}
    assert "nothing to add" in build("--disbursements", "3000")
    assert Disbursement.objects.count() == 3000
    assert build("--disbursements", "500", "--reset", "--verify")
    assert Disbursement.objects.count() == 500
    assert verify.verify(totals=True).lines() == []


def _rows(query: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def test_settling_from_the_entries_writes_only_the_funds_that_differ(fund, worker, alice, bob):
    """What a bulk load calls after writing approved entries with COPY: the
    balance the entries give, on both databases, and nothing for a fund that
    already agrees."""
    from allocations import services

    payment = services.disbursement_create(
        fund=fund, beneficiary=worker, amount="1500.25", assistance_type="medical", by=alice
    )
    Fund.objects.filter(pk=fund.pk).update(balance=0, reserved=0)  # as a COPY of entries leaves it
    assert services.funds_settle_from_entries() == 1
    fund.refresh_from_db()
    assert (fund.balance, fund.reserved) == (Decimal("10000.00"), Decimal("1500.25"))
    services.movement_approve(movement=payment, by=bob)
    assert services.funds_settle_from_entries() == 0
    fund.refresh_from_db()
    assert (fund.balance, fund.reserved) == (Decimal("8499.75"), Decimal("0.00"))
    assert verify.verify().lines() == []
