"""The archive's rules under real concurrency (each job its own connection, let
go at once): a household's cap holds however many funds pay it at the same
moment, and closing an entry and paying it take turns."""

import datetime
from collections import Counter
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Disbursement, Fund, PolicyRule, PolicyUsage, RuleScope
from beneficiaries import archive
from beneficiaries.archive_models import ArchiveChange, ArchiveStatus
from beneficiaries.models import DibaoLine
from tests.conftest import synthetic_id
from tests.factories import FundFactory, approved_contribution
from tests.test_archive import admitted, household
from tests.test_race import at_once, refusals, succeeded

pytestmark = pytest.mark.django_db(transaction=True)

User = get_user_model()
DAY = datetime.date(2022, 4, 20)
MEMBERS = [
    ("王大明", synthetic_id(11), "head"),
    ("李秀英", synthetic_id(12), "spouse"),
    ("王小明", synthetic_id(13, birth=datetime.date(2008, 3, 1)), "child"),
]


@pytest.fixture
def family(tree, alice, bob):
    house = household(tree["chengzhong"], alice, *MEMBERS)
    admitted(house, clerk=alice, approver=bob)
    return house


def hardship_funds(count, *, tree, alice, bob) -> list[Fund]:
    funds = []
    for n in range(count):
        fund = FundFactory(federation=tree["chengzhong"], name=f"帮扶资金{n}", purpose="hardship", by=alice)
        approved_contribution(fund, "5000", by=alice, approver=bob)
        funds.append(fund)
    return funds


def payment(fund_pk: int, clerk_pk: int, person: tuple[str, str, str], amount: str):
    def job():
        return money.disbursements_create(
            fund=Fund.objects.get(pk=fund_pk),
            rows=[ListRow(name=person[0], id_number=person[1], amount=amount)],
            assistance_type="living",
            date=DAY,
            by=User.objects.get(pk=clerk_pk),
        )

    return job


def test_twenty_funds_paying_one_household_at_once_never_pass_its_cap(tree, alice, bob, admin_user, family):
    DibaoLine.objects.create(federation=tree["chengzhong"], year=2022, monthly=Decimal("840.00"))
    PolicyRule.objects.create(
        federation=tree["qinghai"],
        name="生活救助",
        purpose="hardship",
        assistance_type="living",
        scope=RuleScope.HOUSEHOLD,
        cap_dibao_months=Decimal("12"),  # 10,080.00 a year
        created_by=admin_user,
    )
    funds = hardship_funds(20, tree=tree, alice=alice, bob=bob)
    jobs = [payment(fund.pk, alice.pk, MEMBERS[n % 3], "1000") for n, fund in enumerate(funds)]

    outcomes = at_once(jobs)

    assert len(succeeded(outcomes)) == 10
    assert refusals(outcomes) == Counter({frozenset({"cap_exceeded"}): 10})
    usage = PolicyUsage.objects.get()
    assert (usage.amount, usage.payments) == (Decimal("10000.00"), 10)
    assert sum(d.amount for d in Disbursement.objects.filter(household=family)) == Decimal("10000.00")


@pytest.mark.parametrize("attempt", range(3))
def test_closing_an_entry_and_paying_it_at_once_take_turns(tree, alice, bob, family, attempt):
    [fund] = hardship_funds(1, tree=tree, alice=alice, bob=bob)
    entry = family.entries.get()
    close = archive.archive_close(entry=entry, reason="out_of_hardship", closed_on=DAY, by=alice)

    def closing():
        return archive.archive_change_approve(
            change=ArchiveChange.objects.get(pk=close.pk), by=User.objects.get(pk=bob.pk)
        )

    outcomes = at_once([closing, payment(fund.pk, alice.pk, MEMBERS[0], "800")])

    entry.refresh_from_db()
    assert entry.status == ArchiveStatus.CLOSED
    closed, paid = outcomes
    assert closed[0] == "ok"
    if paid[0] == "ok":
        # The payment went first: it was written before the closing was decided.
        assert Disbursement.objects.get().created_at <= ArchiveChange.objects.get(pk=close.pk).decided_at
    else:
        assert paid == ("refused", {"not_in_archive"})
        assert not Disbursement.objects.exists()
