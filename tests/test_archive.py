"""The hardship archive (依档帮扶) inside the money core: who a hardship fund may
pay, the household caps and the once-a-year rules, counted like reservations."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation

from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Disbursement, PolicyRule, PolicyUsage, RuleScope
from beneficiaries import archive
from beneficiaries.archive_models import ArchiveStatus, ChangeStatus, HouseholdMember
from beneficiaries.models import Beneficiary, DibaoLine
from beneficiaries.services import person_line
from tests.conftest import member, synthetic_id
from tests.factories import FundFactory, approved_contribution, numbered_id
from tests.oracle import codes
from unionfunds.models import Role

DAY = datetime.date(2022, 4, 20)
FIGURES = archive.Figures(tier="deep", income_per_head=Decimal("520.00"), causes=("illness",))


def household(federation, by, *people: tuple[str, str, str]):
    lines = [
        archive.MemberLine(person_line(name=name, id_number=number), relation) for name, number, relation in people
    ]
    return archive.household_file(federation=federation, members=lines, by=by)


def admitted(house, *, clerk, approver, valid_from=datetime.date(2022, 1, 1)):
    change = archive.archive_open(household=house, figures=FIGURES, valid_from=valid_from, by=clerk)
    archive.archive_change_approve(change=change, by=approver)
    return change.entry


@pytest.fixture
def hardship_fund(tree, alice, bob):
    fund = FundFactory(federation=tree["chengzhong"], name="困难职工帮扶资金", purpose="hardship", by=alice)
    approved_contribution(fund, "1000000", by=alice, approver=bob)
    fund.refresh_from_db()
    return fund


@pytest.fixture
def family(tree, alice, bob):
    """王家: 王大明 (户主), his wife and a son, admitted on 2022-01-01."""
    house = household(
        tree["chengzhong"],
        alice,
        ("王大明", synthetic_id(11), "head"),
        ("李秀英", synthetic_id(12), "spouse"),
        ("王小明", synthetic_id(13, birth=datetime.date(2008, 3, 1)), "child"),
    )
    admitted(house, clerk=alice, approver=bob)
    return house


def pay(fund, by, *rows: tuple[str, str, str], kind="living", date=DAY, **options):
    return money.disbursements_create(
        fund=fund,
        rows=[ListRow(name=n, id_number=i, amount=a, **options) for n, i, a in rows],
        assistance_type=kind,
        date=date,
        by=by,
    )


def refusals(error: money.ListRefused) -> list[tuple[int | None, str, str]]:
    return [(p.row, p.field, p.code) for p in error.problems]


# Filing, maker-checker -------------------------------------------------------------


@pytest.mark.django_db
def test_a_filing_opens_only_when_another_approver_approves_it(tree, alice, bob, hardship_fund):
    house = household(tree["chengzhong"], alice, ("王大明", synthetic_id(11), "head"))
    change = archive.archive_open(household=house, figures=FIGURES, valid_from=datetime.date(2022, 1, 1), by=alice)
    assert change.entry.status == ArchiveStatus.PENDING
    with pytest.raises(money.ListRefused) as refused:
        pay(hardship_fund, alice, ("王大明", synthetic_id(11), "800"))
    assert refusals(refused.value) == [(1, "id_number", "not_in_archive")]
    with pytest.raises(ValidationError) as own:
        archive.archive_change_approve(change=change, by=alice)
    assert codes(own.value) == {"maker_cannot_approve"}
    archive.archive_change_approve(change=change, by=bob)
    change.entry.refresh_from_db()
    assert (change.entry.status, change.entry.opened_on, change.entry.checked_on) == (
        ArchiveStatus.OPEN,
        datetime.date(2022, 1, 1),
        datetime.date(2022, 1, 1),
    )
    created = pay(hardship_fund, alice, ("王大明", synthetic_id(11), "800"))
    assert Disbursement.objects.get(pk=created.ids[0]).household_id == house.pk


@pytest.mark.django_db
def test_a_person_is_in_one_open_household_at_most_whoever_files(tree, alice, bob, dave, family):
    approver = member("erin", tree["chengdong"], Role.APPROVER)
    elsewhere = household(tree["chengdong"], dave, ("王大明", synthetic_id(11), "head"))
    with pytest.raises(ValidationError) as refused:
        archive.archive_open(household=elsewhere, figures=FIGURES, valid_from=DAY, by=dave)
    assert codes(refused.value) == {"in_open_household"}
    assert "王大明" not in " ".join(refused.value.messages)
    entry = family.entries.get()
    close = archive.archive_close(entry=entry, reason="moved", closed_on=DAY, by=alice)
    archive.archive_change_approve(change=close, by=bob)
    admitted(elsewhere, clerk=dave, approver=approver)
    assert HouseholdMember.objects.get(beneficiary__id_number=synthetic_id(11), in_open_archive=True).household == (
        elsewhere
    )


@pytest.mark.django_db
def test_closing_stops_payments_and_reopening_resumes_them(alice, bob, family, hardship_fund):
    entry = family.entries.get()
    close = archive.archive_close(entry=entry, reason="out_of_hardship", closed_on=DAY, by=alice)
    pay(hardship_fund, alice, ("王大明", synthetic_id(11), "300"))  # still open: the closing waits
    archive.archive_change_approve(change=close, by=bob)
    entry.refresh_from_db()
    assert (entry.status, entry.close_reason) == (ArchiveStatus.CLOSED, "out_of_hardship")
    assert list(archive.to_follow_up(type(entry).objects.all(), today=DAY)) == [entry]
    with pytest.raises(money.ListRefused) as refused:
        pay(hardship_fund, alice, ("王大明", synthetic_id(11), "300"), kind="medical")
    assert refusals(refused.value) == [(1, "id_number", "not_in_archive")]
    reopen = archive.archive_reopen(entry=entry, figures=FIGURES, reopened_on=DAY, by=alice)
    archive.archive_change_approve(change=reopen, by=bob)
    pay(hardship_fund, alice, ("王大明", synthetic_id(11), "300"), kind="medical")
    assert [c.kind for c in entry.changes.order_by("pk")] == ["open", "close", "reopen"]
    assert all(c.status == ChangeStatus.APPROVED for c in entry.changes.all())


@pytest.mark.django_db
def test_a_list_of_1000_with_3_people_outside_the_archive_gives_3_cell_errors_and_writes_nothing(
    tree, alice, bob, hardship_fund
):
    houses = []
    for n in range(1000):
        houses.append((f"职工{n}", numbered_id(n), "head"))
    for name, number, relation in houses[:997]:
        house = household(tree["chengzhong"], alice, (name, number, relation))
        admitted(house, clerk=alice, approver=bob)
    before = (Disbursement.objects.count(), PolicyUsage.objects.count(), Beneficiary.objects.count())
    with pytest.raises(money.ListRefused) as refused:
        pay(hardship_fund, alice, *[(name, number, "500") for name, number, _ in houses])
    assert refusals(refused.value) == [(row, "id_number", "not_in_archive") for row in (998, 999, 1000)]
    assert (Disbursement.objects.count(), PolicyUsage.objects.count(), Beneficiary.objects.count()) == before
    hardship_fund.refresh_from_db()
    assert hardship_fund.reserved == 0


@pytest.mark.django_db
def test_a_hardship_fund_pays_no_unit_and_a_plain_fund_pays_anyone(alice, hardship_fund, fund, hospital):
    with pytest.raises(ValidationError) as refused:
        money.disbursement_create(fund=hardship_fund, unit=hospital, assistance_type="medical", amount="100", by=alice)
    assert codes(refused.value) == {"archive_needs_person"}
    pay(fund, alice, ("赵六", synthetic_id(40), "100"))


# Caps and once a year --------------------------------------------------------------


@pytest.fixture
def living_cap(tree, admin_user):
    """青海: living aid is capped at 12 months of the local 低保 line per household a year."""
    DibaoLine.objects.create(federation=tree["xining"], year=2022, monthly=Decimal("840.00"))
    return PolicyRule.objects.create(
        federation=tree["qinghai"],
        name="生活救助",
        purpose="hardship",
        assistance_type="living",
        scope=RuleScope.HOUSEHOLD,
        cap_dibao_months=Decimal("12"),
        created_by=admin_user,
    )


@pytest.mark.django_db
def test_a_household_cap_counts_every_member_and_names_the_room_left(alice, family, hardship_fund, living_cap):
    pay(hardship_fund, alice, ("王大明", synthetic_id(11), "6000"), ("李秀英", synthetic_id(12), "3600"))
    with translation.override("zh-hans"), pytest.raises(money.ListRefused) as refused:
        pay(
            hardship_fund,
            alice,
            ("王小明", synthetic_id(13, birth=datetime.date(2008, 3, 1)), "500"),
            date=DAY.replace(month=5),
        )
    [problem] = refused.value.problems
    assert problem.code == "cap_exceeded"
    assert problem.message == "生活救助：本户2022年已领 9,600.00 元，上限 10,080.00 元，还可领 480.00 元。"
    pay(
        hardship_fund,
        alice,
        ("王小明", synthetic_id(13, birth=datetime.date(2008, 3, 1)), "480"),
        date=DAY.replace(month=5),
    )
    usage = PolicyUsage.objects.get(rule=living_cap)
    assert (usage.scope, usage.subject, usage.year, usage.amount, usage.payments) == (
        "household",
        family.pk,
        2022,
        Decimal("10080.00"),
        3,
    )


@pytest.mark.django_db
def test_a_rejected_or_reversed_payment_gives_its_room_back(alice, bob, family, hardship_fund, living_cap):
    first = pay(hardship_fund, alice, ("王大明", synthetic_id(11), "10080"))
    money.movements_reject(movements=list(first), by=bob, reason="金额有误")
    assert PolicyUsage.objects.get().amount == 0
    second = pay(hardship_fund, alice, ("王大明", synthetic_id(11), "10080"))
    money.movements_approve(movements=list(second), by=bob)
    [reversal] = money.movements_reverse(movements=list(second), by=alice, reason="重复发放")
    assert PolicyUsage.objects.get().amount == Decimal("10080.00")  # a pending reversal gives nothing back yet
    money.movement_approve(movement=reversal, by=bob)
    assert PolicyUsage.objects.get().amount == 0
    pay(hardship_fund, alice, ("王大明", synthetic_id(11), "10080"), kind="living")


@pytest.mark.django_db
def test_a_list_refused_after_its_rules_passed_leaves_the_running_totals_as_they_were(
    tree, alice, bob, family, living_cap
):
    """The locking check counts a list as it checks it; a refusal found later
    (here the fund cannot afford the list) takes the count back with the rest,
    even inside a caller's own transaction."""
    fund = FundFactory(federation=tree["chengzhong"], name="困难职工帮扶资金", purpose="hardship", by=alice)
    approved_contribution(fund, "1000", by=alice, approver=bob)
    pay(fund, alice, ("王大明", synthetic_id(11), "600"))
    with transaction.atomic():
        with pytest.raises(money.ListRefused) as refused:
            pay(
                fund,
                alice,
                ("李秀英", synthetic_id(12), "300"),
                ("王小明", synthetic_id(13, birth=datetime.date(2008, 3, 1)), "300"),
            )
        assert refusals(refused.value) == [(None, "amount", "insufficient_funds")]
        usage = PolicyUsage.objects.get(rule=living_cap)
        assert (usage.amount, usage.payments) == (Decimal("600.00"), 1)
    pay(fund, alice, ("李秀英", synthetic_id(12), "400"))
    usage.refresh_from_db()
    assert (usage.amount, usage.payments) == (Decimal("1000.00"), 2)


@pytest.mark.django_db
def test_editing_a_pending_payment_is_checked_against_the_cap_without_its_own_old_amount(
    alice, family, hardship_fund, living_cap
):
    created = pay(hardship_fund, alice, ("王大明", synthetic_id(11), "10000"))
    money.movement_update(movement=created[0], amount="10080", by=alice)
    with pytest.raises(ValidationError) as refused:
        money.movement_update(movement=Disbursement.objects.get(pk=created.ids[0]), amount="10080.01", by=alice)
    assert codes(refused.value) == {"cap_exceeded"}
    assert PolicyUsage.objects.get().amount == Decimal("10080.00")


@pytest.fixture
def education_once(tree, admin_user):
    """青海: 金秋助学 once a year per child, whoever pays; an approver may override."""
    return PolicyRule.objects.create(
        federation=tree["qinghai"],
        name="金秋助学",
        purpose="education",
        scope=RuleScope.PERSON,
        once_per_year=True,
        overridable=True,
        created_by=admin_user,
    )


@pytest.mark.django_db
def test_the_citys_autumn_aid_blocks_the_countys_in_the_same_year_unless_overridden(tree, alice, bob, education_once):
    city_clerk = member("xiaoli", tree["xining"], Role.CLERK)
    city_approver = member("laozhang", tree["xining"], Role.APPROVER)
    city = FundFactory(federation=tree["xining"], name="金秋助学", purpose="education", by=city_clerk)
    approved_contribution(city, "50000", by=city_clerk, approver=city_approver)
    county = FundFactory(federation=tree["chengzhong"], name="金秋助学", purpose="education", by=alice)
    approved_contribution(county, "50000", by=alice, approver=bob)
    child = ("王小明", synthetic_id(13, birth=datetime.date(2005, 3, 1)))
    pay(city, city_clerk, (*child, "2000"), kind="education", date=datetime.date(2022, 8, 20))
    with pytest.raises(money.ListRefused) as refused:
        pay(county, alice, (*child, "1000"), kind="education", date=datetime.date(2022, 9, 1))
    assert refusals(refused.value) == [(1, "amount", "once_per_year")]
    pay(county, alice, (*child, "1000"), kind="education", date=datetime.date(2023, 9, 1))  # another year
    created = pay(
        county,
        alice,
        (*child, "1000"),
        kind="education",
        date=datetime.date(2022, 9, 2),
        override_reason="因灾返贫，经审批增发",
    )
    paid = Disbursement.objects.get(pk=created.ids[0])
    assert paid.policy_override == "因灾返贫，经审批增发"
    assert PolicyUsage.objects.get(subject=paid.beneficiary_id, year=2022).payments == 2


@pytest.mark.django_db
def test_a_rule_that_allows_no_override_holds_whatever_the_reason(tree, alice, bob, admin_user, family, hardship_fund):
    PolicyRule.objects.create(
        federation=tree["qinghai"],
        name="慰问金",
        purpose="hardship",
        assistance_type="condolence",
        allowed=False,
        created_by=admin_user,
    )
    with pytest.raises(money.ListRefused) as refused:
        pay(hardship_fund, alice, ("王大明", synthetic_id(11), "500"), kind="condolence", override_reason="特殊情况")
    assert refusals(refused.value) == [(1, "amount", "not_allowed")]


@pytest.mark.django_db
def test_a_preview_reports_the_same_refusals_and_locks_nothing(alice, family, hardship_fund, living_cap):
    with pytest.raises(money.ListRefused) as refused:
        money.disbursements_check(
            fund=hardship_fund,
            rows=[
                ListRow(name="王大明", id_number=synthetic_id(11), amount="10080.01"),
                ListRow(name="路人", id_number=synthetic_id(50), amount="1"),
            ],
            assistance_type="living",
            date=DAY,
            by=alice,
        )
    assert refusals(refused.value) == [(1, "amount", "cap_exceeded"), (2, "id_number", "not_in_archive")]
    assert not PolicyUsage.objects.exists()


# The review lists ------------------------------------------------------------------


@pytest.mark.django_db
def test_review_lists_find_the_entries_due_never_helped_and_to_follow_up(alice, bob, family, hardship_fund):
    entries = type(family.entries.get()).objects.all()
    assert list(archive.due_for_review(entries, today=datetime.date(2022, 12, 31))) == []
    assert list(archive.due_for_review(entries, today=datetime.date(2023, 1, 2))) == [family.entries.get()]
    assert list(archive.never_helped(entries)) == [family.entries.get()]
    created = pay(hardship_fund, alice, ("王大明", synthetic_id(11), "100"))
    money.movements_approve(movements=list(created), by=bob)
    assert list(archive.never_helped(entries)) == []
    review = archive.archive_review(
        entry=family.entries.get(), figures=FIGURES, reviewed_on=datetime.date(2023, 1, 2), by=alice
    )
    archive.archive_change_approve(change=review, by=bob)
    assert list(archive.due_for_review(entries, today=datetime.date(2023, 6, 1))) == []


@pytest.mark.django_db
def test_a_household_has_at_most_thirty_members_at_every_door(tree, alice):
    members = [("户主", numbered_id(0), "head"), *((f"成员{n}", numbered_id(n), "other") for n in range(1, 31))]
    with pytest.raises(ValidationError) as refused:
        household(tree["chengzhong"], alice, *members)
    assert codes(refused.value) == {"too_many_members"}
    assert not Beneficiary.objects.exists()


@pytest.mark.django_db
def test_a_household_filed_with_a_person_registered_elsewhere_gets_the_filers_card(tree, alice, dave):
    from beneficiaries.models import PersonCard
    from beneficiaries.services import beneficiary_register

    elsewhere = beneficiary_register(
        name="赵六", id_number=synthetic_id(60, area="630102"), federation=tree["chengdong"], by=dave
    )
    house = household(tree["chengzhong"], alice, ("赵小六", elsewhere.id_number, "head"))
    card = PersonCard.objects.get(beneficiary=elsewhere)
    assert (card.federation, card.name, house.members.get().name) == (tree["chengzhong"], "赵小六", "赵小六")
