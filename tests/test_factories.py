"""The factories build through the services: what they make is what the site
would have made, audit lines and all, and money comes in only as approved
contributions."""

from decimal import Decimal

import pytest

from allocations.models import Status
from tests.factories import (
    BeneficiaryFactory,
    FederationFactory,
    FundFactory,
    UnitFactory,
    UserFactory,
    approved_contribution,
    clerk_of,
)
from tests.oracle import assert_ledger_consistent
from unionfunds.models import AuditEvent, Role


@pytest.mark.django_db
def test_every_factory_leaves_the_audit_line_of_its_service():
    county = FederationFactory(parent=FederationFactory())
    UserFactory(federation=county, roles=(Role.CLERK, Role.APPROVER))
    FundFactory(federation=county)
    BeneficiaryFactory(federation=county)
    UnitFactory(federation=county)
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {
        "federation.created",
        "membership.granted",
        "fund.created",
        "beneficiary.registered",
        "unit.created",
    }


@pytest.mark.django_db
def test_a_fund_starts_empty_and_fills_only_through_an_approved_contribution():
    fund = FundFactory()
    assert (fund.balance, fund.reserved) == (Decimal("0.00"), Decimal("0.00"))
    approver = UserFactory(federation=fund.federation, roles=(Role.APPROVER,))
    contribution = approved_contribution(fund, "250.00", by=clerk_of(fund.federation), approver=approver)
    fund.refresh_from_db()
    assert (contribution.status, fund.balance) == (Status.APPROVED, Decimal("250.00"))
    assert_ledger_consistent()


@pytest.mark.django_db
def test_people_made_by_the_factory_do_not_collide_with_the_suites_own_id_numbers(tree, alice, worker):
    made = BeneficiaryFactory.create_batch(3, federation=tree["chengzhong"], by=alice)
    assert len({worker.id_number, *(person.id_number for person in made)}) == 4
