"""Real-name disbursement lists: every row checked first, then all or nothing."""

import datetime
import gc
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Contribution, Disbursement, DisbursementTotal, Status
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, Category, Unit
from tests.conftest import synthetic_id
from unionfunds import audit, bulkload, trail
from unionfunds.bulkload import AnyOf
from unionfunds.errors import ListRefused
from unionfunds.models import AuditEvent

DAY = datetime.date(2022, 4, 20)


def thousand_rows(count: int = 1000) -> list[ListRow]:
    return [
        ListRow(
            name=f"职工{n}",
            id_number=synthetic_id(n % 1000, birth=datetime.date(1970, 1, 1) + datetime.timedelta(days=n // 1000)),
            amount="1000.00",
            categories=["hard_industry"],
        )
        for n in range(count)
    ]


def refusal(call) -> ListRefused:
    with pytest.raises(ListRefused) as refused:
        call()
    return refused.value


@pytest.mark.django_db
def test_a_list_of_a_thousand_pays_everyone_pending_approval(rich_fund, alice):
    created = money.disbursements_create(
        fund=rich_fund, rows=thousand_rows(), assistance_type="pandemic_subsidy", date=DAY, batch="一线职工", by=alice
    )
    rich_fund.refresh_from_db()
    assert len(created) == 1000 and all(d.pk for d in created)
    assert Disbursement.objects.filter(status=Status.PENDING, batch="一线职工").count() == 1000
    assert rich_fund.available == Decimal("1010000.00") - Decimal("1000000.00")
    assert Beneficiary.objects.count() == 1000
    assert Beneficiary.objects.filter(categories__code="hard_industry").count() == 1000
    assert AuditEvent.objects.filter(action="disbursement.created", user=alice).count() == 1000
    assert AuditEvent.objects.filter(action="beneficiary.registered").count() == 1000


@pytest.mark.django_db
def test_one_bad_row_in_a_thousand_writes_nothing_and_is_named(rich_fund, alice):
    rows = thousand_rows()
    rows[636].id_number = rows[636].id_number[:-1] + ("0" if rows[636].id_number[-1] != "0" else "1")
    problems = refusal(
        lambda: money.disbursements_create(fund=rich_fund, rows=rows, assistance_type="living", date=DAY, by=alice)
    ).problems
    assert [(p.row, p.field, p.code) for p in problems] == [(637, "id_number", "invalid_id_number")]
    assert "校验码" in problems[0].message or "check digit" in problems[0].message
    assert Disbursement.objects.count() == 0
    assert Beneficiary.objects.count() == 0
    rich_fund.refresh_from_db()
    assert rich_fund.reserved == Decimal("0.00")


@pytest.mark.django_db
def test_every_problem_is_reported_at_once(rich_fund, alice):
    rows = [
        ListRow(name="", id_number=synthetic_id(1), amount="100"),
        ListRow(name="乙", id_number=synthetic_id(2), amount="-3"),
        ListRow(name="丙", id_number=synthetic_id(3), amount="100", assistance_type="lottery"),
        ListRow(name="丁", id_number=synthetic_id(4), amount="100", date="2022-13-01"),
        ListRow(name="戊", id_number=synthetic_id(5), amount="100", categories=["vip"]),
    ]
    problems = refusal(
        lambda: money.disbursements_create(fund=rich_fund, rows=rows, assistance_type="living", by=alice)
    ).problems
    assert [(p.row, p.field) for p in problems] == [
        (1, "name"),
        (2, "amount"),
        (3, "assistance_type"),
        (4, "date"),
        (5, "categories"),
    ]


@pytest.mark.django_db
def test_the_same_person_twice_in_a_list_needs_confirmation(rich_fund, alice):
    rows = [ListRow(name="甲", id_number=synthetic_id(1), amount="100") for _ in range(2)]
    problems = refusal(
        lambda: money.disbursements_create(fund=rich_fund, rows=rows, assistance_type="living", date=DAY, by=alice)
    ).problems
    assert [(p.row, p.code) for p in problems] == [(2, "duplicate_payment")]
    rows[1].confirm_duplicate = True
    created = money.disbursements_create(fund=rich_fund, rows=rows, assistance_type="living", date=DAY, by=alice)
    assert [d.duplicate_confirmed for d in created] == [False, True]


@pytest.mark.django_db
def test_an_earlier_payment_this_month_is_flagged_and_names_must_match(rich_fund, alice, worker):
    money.disbursement_create(
        fund=rich_fund, beneficiary=worker, assistance_type="living", amount="50", date=DAY, by=alice
    )
    rows = [
        ListRow(name="张三", id_number=worker.id_number, amount="100"),
        ListRow(name="李四", id_number=worker.id_number, amount="100", assistance_type="medical"),
    ]
    problems = refusal(
        lambda: money.disbursements_create(fund=rich_fund, rows=rows, assistance_type="living", date=DAY, by=alice)
    ).problems
    assert [(p.row, p.code) for p in problems] == [(1, "duplicate_payment"), (2, "name_mismatch")]
    assert "张三" in problems[1].message


@pytest.mark.django_db
def test_a_list_above_the_available_balance_is_refused_whole(fund, alice):
    rows = [ListRow(name=f"人{n}", id_number=synthetic_id(n), amount="5000.01") for n in range(2)]
    problems = refusal(
        lambda: money.disbursements_create(fund=fund, rows=rows, assistance_type="living", date=DAY, by=alice)
    ).problems
    assert [(p.row, p.code) for p in problems] == [(None, "insufficient_funds")]
    assert "10,000.02" in problems[0].message
    assert Disbursement.objects.count() == 0 and Beneficiary.objects.count() == 0


@pytest.mark.django_db
def test_bulk_approval_moves_the_money_once_with_the_usual_rules(rich_fund, alice, bob):
    created = money.disbursements_create(
        fund=rich_fund, rows=thousand_rows(300), assistance_type="living", date=DAY, by=alice
    )
    with pytest.raises(Exception) as refused:
        money.movements_approve(movements=created, by=alice)
    assert refused.value.code == "maker_cannot_approve"
    with CaptureQueriesContext(connection) as queries:
        assert money.movements_approve(movements=created, by=bob) == 300
    assert len(queries) < 40  # a fixed number, however many entries
    rich_fund.refresh_from_db()
    assert (rich_fund.balance, rich_fund.reserved) == (Decimal("710000.00"), Decimal("0.00"))
    assert Disbursement.objects.filter(status=Status.APPROVED, decided_by=bob).count() == 300
    assert AuditEvent.objects.filter(action="disbursement.approved", user=bob).count() == 300
    total = DisbursementTotal.objects.get(fund=rich_fund, assistance_type="living")
    assert (total.amount, total.person_times) == (Decimal("300000.00"), 300)
    assert not Contribution.objects.filter(status=Status.PENDING).exists()


@pytest.mark.django_db
def test_a_list_stores_text_exactly_and_records_what_a_single_entry_records(rich_fund, alice):
    """Lists are written in bulk (COPY on PostgreSQL): tabs and line breaks in a
    note, backslashes anywhere, and the audit trail, come out as for one entry.
    (A tab in a one-line text is refused: tests/test_entry_text.py.)"""
    awkward = "第一行\n第二行\t制表符 C:\\名单\\ 100%"
    created = money.disbursements_create(
        fund=rich_fund,
        rows=[
            ListRow(name="欧阳\\娜", id_number=synthetic_id(7), amount="1234.56", note=awkward, employer="厂\\二车间")
        ],
        assistance_type="medical",
        date=DAY,
        batch="第\\1批",
        by=alice,
    )
    listed = Disbursement.objects.get(pk=created.ids[0])
    person = listed.beneficiary
    assert (listed.note, listed.batch, listed.amount) == (awkward, "第\\1批", Decimal("1234.56"))
    assert (person.name, person.employer, person.gender) == ("欧阳\\娜", "厂\\二车间", "male")
    single = money.disbursement_create(
        fund=rich_fund,
        beneficiary=person,
        assistance_type="medical",
        amount="1234.56",
        date=DAY,
        batch="第\\1批",
        note=awkward,
        confirm_duplicate=True,
        by=alice,
    )
    listed_event, single_event = (
        AuditEvent.objects.get(action="disbursement.created", object_id=pk) for pk in (listed.pk, single.pk)
    )
    assert listed_event.changes == {
        **single_event.changes,
        "duplicate_confirmed": {"before": None, "after": False},
        "payment_list": {"before": None, "after": listed.payment_list_id},
    }
    assert listed_event.object_repr == single_event.object_repr == f"{rich_fund.name} → {person} ¥1,234.56"
    assert (listed_event.user, listed_event.federation, listed_event.reason) == (alice, rich_fund.federation, "第\\1批")


def test_the_audit_changes_of_a_list_read_back_as_those_of_a_single_entry():
    """Lists write their audit changes as JSON text directly; read back, it is what
    `audit.diff` records for one new record: values as JSON, None left out."""
    values = {
        "fund": 7,
        "unit": None,
        "amount": Decimal("1000.50"),
        "date": datetime.date(2022, 11, 3),
        "decided_at": datetime.datetime(2022, 11, 3, 8, 30, tzinfo=datetime.UTC),
        "note": '引号" 反斜杠\\ 换行\n',
        "duplicate_confirmed": False,
        "batch": "",
    }
    written = audit.CreatedJson(list(values), status="pending", reverses=None)(list(values.values()))
    assert json.loads(written) == audit.diff(
        {},
        {
            "fund": 7,
            "amount": "1000.50",
            "date": "2022-11-03",
            "decided_at": "2022-11-03T08:30:00+00:00",
            "note": '引号" 反斜杠\\ 换行\n',
            "duplicate_confirmed": False,
            "batch": "",
            "status": "pending",
        },
    )


@pytest.mark.django_db
def test_a_person_registered_with_several_categories_leaves_a_trail_that_verifies(tree, alice):
    """The changes written as JSON text are hashed as they are: a list in them
    must be in the canonical form the trail's check reads back."""
    people.beneficiary_register(
        name="张三",
        id_number=synthetic_id(1),
        federation=tree["chengzhong"],
        categories=["migrant_worker", "model_worker"],
        by=alice,
    )
    assert trail.verify_trails().problems == []


@pytest.mark.django_db
def test_people_get_their_categories_even_where_the_category_rows_were_lost(rich_fund, alice):
    """The rows of `Category` come from a migration; a database emptied without them
    (as transactional tests do) still takes a list with categories."""
    Category.objects.all().delete()
    money.disbursements_create(fund=rich_fund, rows=thousand_rows(3), assistance_type="living", date=DAY, by=alice)
    assert Beneficiary.objects.filter(categories__code="hard_industry").count() == 3


@pytest.mark.django_db
def test_long_lists_of_values_are_looked_up_in_one_parameter(worker):
    """AnyOf: an array parameter on PostgreSQL, a plain IN elsewhere; same answers."""
    numbers = [synthetic_id(number) for number in range(2, 5000)]

    def found(values) -> list[str]:
        return list(Beneficiary.objects.filter(AnyOf(F("id_number"), values)).values_list("id_number", flat=True))

    with CaptureQueriesContext(connection) as queries:
        assert found([*numbers, worker.id_number, None]) == [worker.id_number]
    assert ("ANY(" in queries[0]["sql"]) == (connection.vendor == "postgresql")
    assert found([]) == []
    assert found(numbers) == []


@pytest.mark.django_db
def test_values_that_look_like_array_syntax_are_looked_up_as_themselves(tree):
    """The array parameter is PostgreSQL's text form: a quote, a backslash, a
    brace, a comma or the word NULL in a value finds that value and nothing else."""
    awkward = ['a"b', "c\\d", "{e}", "f,g", "NULL", " h ", "张三"]
    for name in awkward:
        Unit.objects.create(federation=tree["chengzhong"], name=name, kind="hospital")

    def found(values) -> list[str]:
        return sorted(Unit.objects.filter(AnyOf(F("name"), values)).values_list("name", flat=True))

    assert found(awkward) == sorted(awkward)
    assert found(["a", "b", "NULL x", "{e", "f"]) == []
    assert found(['"NULL"']) == []
    ids = list(Unit.objects.filter(name__in=awkward[:2]).values_list("pk", flat=True))
    assert sorted(Unit.objects.filter(AnyOf(F("pk"), ids)).values_list("name", flat=True)) == sorted(awkward[:2])


def test_the_cycle_collector_is_paused_only_while_a_list_is_worked_on():
    assert gc.isenabled()
    with pytest.raises(ListRefused), bulkload.gc_paused():
        assert not gc.isenabled()
        raise ListRefused([])
    assert gc.isenabled()
    gc.disable()
    try:
        with bulkload.gc_paused():
            pass
        assert not gc.isenabled()  # paused by the caller: left to the caller
    finally:
        gc.enable()
