"""The cast: a province (青海) with a city (西宁) and three counties, and a
neighbouring province (甘肃) for scope tests. Alice is 城中区's clerk, Bob its
approver, Olga its administrator; Carol audits the province, Erin administers it;
Dave is a clerk in the neighbouring 城东区; Gus holds every role in 甘肃."""

import datetime
import os
from decimal import Decimal

import pytest
from hypothesis import settings as hypothesis_settings

from allocations import services as money
from allocations.models import Fund
from beneficiaries import idnumber
from beneficiaries import services as people
from tests.factories import FundFactory, UnitFactory, UserFactory, approved_contribution
from unionfunds.models import Federation, Role
from unionfunds.services import federation_create

# The property tests walk the same examples on every run, so that CI is
# reproducible and a red build is red again on a laptop. HYPOTHESIS_PROFILE=hunt
# draws new examples each time, for a longer search (with LEDGER_EXAMPLES=1000).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("hunt", derandomize=False, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Helper modules that assert for the tests: their failures explain themselves
# the way a test's own asserts do.
pytest.register_assert_rewrite("tests.oracle", "tests.probe")


@pytest.fixture
def tree(db) -> dict[str, Federation]:
    nation = federation_create(code="CN", name="中华全国总工会", level="national", parent=None)
    qinghai = federation_create(code="63", name="青海省总工会", level="province", parent=nation)
    xining = federation_create(code="6301", name="西宁市总工会", level="city", parent=qinghai)
    haidong = federation_create(code="6302", name="海东市总工会", level="city", parent=qinghai)
    chengdong = federation_create(code="630102", name="城东区总工会", level="county", parent=xining)
    chengzhong = federation_create(code="630103", name="城中区总工会", level="county", parent=xining)
    chengxi = federation_create(code="630104", name="城西区总工会", level="county", parent=xining)
    grassroots = federation_create(code="630103-G01", name="城中区建筑公司工会", level="grassroots", parent=chengzhong)
    gansu = federation_create(code="62", name="甘肃省总工会", level="province", parent=nation)
    return {
        "nation": nation,
        "qinghai": qinghai,
        "xining": xining,
        "haidong": haidong,
        "chengdong": chengdong,
        "chengzhong": chengzhong,
        "chengxi": chengxi,
        "grassroots": grassroots,
        "gansu": gansu,
    }


def member(username: str, federation: Federation, *roles: str):
    return UserFactory(username=username, federation=federation, roles=roles)


def staff(user):
    """Let a member into the admin, which then shows her only her own subtree."""
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def alice(tree):
    return member("alice", tree["chengzhong"], Role.CLERK)


@pytest.fixture
def bob(tree):
    return member("bob", tree["chengzhong"], Role.APPROVER)


@pytest.fixture
def carol(tree):
    return member("carol", tree["qinghai"], Role.AUDITOR)


@pytest.fixture
def dave(tree):
    return member("dave", tree["chengdong"], Role.CLERK)


@pytest.fixture
def olga(tree):
    """城中区's administrator, made staff: the scoped admin opens to her."""
    return staff(member("olga", tree["chengzhong"], Role.ADMIN))


@pytest.fixture
def admin_user(tree):
    """An administrator of 青海省总工会."""
    return member("erin", tree["qinghai"], Role.ADMIN)


@pytest.fixture
def outsider(tree):
    """A clerk, approver and auditor of 甘肃: sees nothing of 青海."""
    return member("gus", tree["gansu"], Role.CLERK, Role.APPROVER, Role.AUDITOR)


@pytest.fixture
def alice_client(client, alice):
    """A browser signed in as alice."""
    client.force_login(alice)
    return client


@pytest.fixture
def province_clerk(tree):
    return member("pclerk", tree["qinghai"], Role.CLERK)


@pytest.fixture
def province_approver(tree):
    return member("papprover", tree["qinghai"], Role.APPROVER)


@pytest.fixture
def fund(tree, alice, bob) -> Fund:
    """城中区's 2022 pandemic fund holding 10,000.00, approved."""
    fund = FundFactory(federation=tree["chengzhong"], by=alice)
    approved_contribution(fund, Decimal("10000.00"), by=alice, approver=bob)
    fund.refresh_from_db()
    return fund


@pytest.fixture
def rich_fund(fund, alice, bob) -> Fund:
    """The same fund with another 1,000,000.00 approved: room for long lists."""
    approved_contribution(fund, "1000000", by=alice, approver=bob)
    fund.refresh_from_db()
    return fund


def synthetic_id(sequence: int, *, area: str = "630103", birth: datetime.date = datetime.date(1980, 5, 17)) -> str:
    return idnumber.build(area, birth, sequence)


@pytest.fixture
def worker(tree, alice):
    return people.beneficiary_register(
        name="张三", id_number=synthetic_id(1), federation=tree["chengzhong"], categories=["migrant_worker"], by=alice
    )


@pytest.fixture
def neighbours_worker(tree, dave):
    """李四, registered in 城东区 next door."""
    return people.beneficiary_register(
        name="李四", id_number=synthetic_id(2, area="630102"), federation=tree["chengdong"], by=dave
    )


@pytest.fixture
def hospital(tree, alice):
    return UnitFactory(name="城中区人民医院", federation=tree["chengzhong"], by=alice)


@pytest.fixture
def clerk(tree):
    return member("rclerk", tree["nation"], Role.CLERK)


@pytest.fixture
def approver(tree):
    return member("rapprover", tree["nation"], Role.APPROVER)


@pytest.fixture
def qinghai_2022(tree, clerk, approver):
    """804万 raised: the province 260万, 西宁 361万 (matching), grassroots 183万;
    then 20万 down to 西宁, 50万 on to 城中区, and payments there."""

    def approve(movement):
        return money.movement_approve(movement=movement, by=approver)

    province, city, grassroots = (
        FundFactory(federation=tree[place], by=clerk) for place in ("qinghai", "xining", "grassroots")
    )
    day = datetime.date(2022, 4, 1)
    raised = {"by": clerk, "approver": approver, "date": day}
    approved_contribution(province, "2600000", source="own_funds", **raised)
    approved_contribution(city, "3610000", source="matching", **raised)
    approved_contribution(grassroots, "1830000", source="self_raised", **raised)
    approve(
        money.allocation_create(from_fund=province, to_federation=tree["xining"], amount="200000", date=day, by=clerk)
    )
    to_county = approve(
        money.allocation_create(from_fund=city, to_federation=tree["chengzhong"], amount="500000", date=day, by=clerk)
    )
    workers = [
        people.beneficiary_register(name=f"职工{n}", id_number=synthetic_id(n), federation=tree["chengzhong"], by=clerk)
        for n in range(3)
    ]
    for worker in workers:
        approve(
            money.disbursement_create(
                fund=to_county.to_fund, beneficiary=worker, assistance_type="living", amount="1000", date=day, by=clerk
            )
        )
    # The same worker again, from 城东区 in another month: two person-times, one person in 西宁.
    east = approve(
        money.allocation_create(from_fund=city, to_federation=tree["chengdong"], amount="10000", date=day, by=clerk)
    )
    approve(
        money.disbursement_create(
            fund=east.to_fund,
            beneficiary=workers[0],
            assistance_type="medical",
            amount="2000",
            date=datetime.date(2022, 5, 5),
            by=clerk,
        )
    )
    return {"province": province, "city": city, "grassroots": grassroots, "workers": workers}
