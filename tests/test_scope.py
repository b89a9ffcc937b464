"""A user sees their federation's subtree and nothing else, through every scoping method."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations import services as money
from allocations.models import Allocation, Contribution, Disbursement, Fund
from beneficiaries.models import Beneficiary, Unit
from tests.conftest import member
from tests.factories import FundFactory, approved_contribution
from unionfunds.models import AuditEvent, Federation, Role
from unionfunds.permissions import forget_grants
from unionfunds.services import federation_move


def names(queryset) -> set[str]:
    return {federation.name for federation in queryset}


@pytest.mark.django_db
def test_subtree_is_one_indexed_query_at_any_depth(tree):
    with CaptureQueriesContext(connection) as queries:
        found = names(Federation.objects.subtree_of(tree["qinghai"]))
    assert len(queries) == 1
    assert "LIKE" in queries[0]["sql"].upper()
    assert found == {
        "青海省总工会",
        "西宁市总工会",
        "海东市总工会",
        "城东区总工会",
        "城中区总工会",
        "城西区总工会",
        "城中区建筑公司工会",
    }


@pytest.mark.django_db
def test_a_county_clerk_sees_nothing_of_a_neighbouring_county(tree, fund, alice, bob, dave, worker):
    neighbour_fund = FundFactory(federation=tree["chengdong"], name="送温暖资金", purpose="warmth", by=dave)
    money.contribution_create(fund=neighbour_fund, source="own_funds", amount="5", by=dave)
    money.disbursement_create(fund=fund, beneficiary=worker, assistance_type="living", amount="10", by=alice)

    assert names(Federation.objects.visible_to(dave)) == {"城东区总工会"}
    assert list(Fund.objects.visible_to(dave)) == [neighbour_fund]
    assert not Disbursement.objects.visible_to(dave).exists()
    assert not Beneficiary.objects.visible_to(dave).exists()
    assert Contribution.objects.visible_to(dave).count() == 1
    assert Contribution.objects.visible_to(alice).count() == 1  # 城中区's own, not 城东区's
    assert not AuditEvent.objects.visible_to(dave).filter(federation=tree["chengzhong"]).exists()
    assert Fund.objects.visible_to(alice).get() == fund


@pytest.mark.django_db
def test_a_provincial_auditor_sees_the_whole_province_but_not_another(tree, fund, carol, alice):
    Unit.objects.create(name="兰州医院", kind="hospital", federation=tree["gansu"])
    assert "甘肃省总工会" not in names(Federation.objects.visible_to(carol))
    assert "城中区建筑公司工会" in names(Federation.objects.visible_to(carol))
    assert list(Fund.objects.visible_to(carol)) == [fund]
    assert not Unit.objects.visible_to(carol).exists()


@pytest.mark.django_db
def test_both_ends_of_an_allocation_see_it(tree, alice, bob, dave, province_clerk, province_approver):
    province_fund = FundFactory(federation=tree["qinghai"], by=province_clerk)
    approved_contribution(province_fund, "100", by=province_clerk, approver=province_approver)
    money.allocation_create(from_fund=province_fund, to_federation=tree["chengzhong"], amount="40", by=province_clerk)
    assert Allocation.objects.visible_to(alice).count() == 1
    assert Allocation.objects.visible_to(province_clerk).count() == 1
    assert Allocation.objects.visible_to(dave).count() == 0


@pytest.mark.django_db
def test_strangers_and_inactive_users_see_nothing(tree, fund, django_user_model, alice):
    stranger = django_user_model.objects.create_user("stranger", password="x")
    assert not Federation.objects.visible_to(stranger).exists()
    assert not Fund.objects.visible_to(stranger).exists()
    alice.is_active = False
    forget_grants(alice)
    assert not Fund.objects.visible_to(alice).exists()


@pytest.mark.django_db
def test_moving_a_subtree_moves_what_its_ancestors_see(tree, fund, alice):
    xining_auditor = member("xa", tree["xining"], Role.AUDITOR)
    haidong_auditor = member("ha", tree["haidong"], Role.AUDITOR)
    assert Fund.objects.visible_to(xining_auditor).count() == 1
    assert Fund.objects.visible_to(haidong_auditor).count() == 0

    federation_move(federation=tree["chengzhong"], new_parent=tree["haidong"])
    for user in (xining_auditor, haidong_auditor, alice):
        forget_grants(user)

    assert Fund.objects.visible_to(xining_auditor).count() == 0
    assert Fund.objects.visible_to(haidong_auditor).count() == 1
    assert "城中区建筑公司工会" in names(Federation.objects.visible_to(haidong_auditor))
    # The county's own clerk keeps her subtree, and money still adds up.
    assert Fund.objects.visible_to(alice).get().balance == Decimal("10000.00")
    moved = Federation.objects.get(code="630103")
    assert moved.parent.code == "6302"
    assert Federation.objects.get_parent(moved).code == "6302"
    assert Federation.objects.find_problems() == ([], [], [], [], [])


@pytest.mark.django_db
def test_a_federation_cannot_move_under_its_own_member(tree):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        federation_move(federation=tree["xining"], new_parent=tree["chengzhong"])
    assert Federation.objects.get(code="630103").parent.code == "6301"
