"""The database itself refuses impossible states, whatever code writes to it."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldError
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError, Value
from django.utils import timezone

from allocations import services as money
from allocations.models import Allocation, Contribution, Disbursement, Fund
from unionfunds.models import AuditEvent, Federation, Level
from unionfunds.money import MoneyField
from unionfunds.services import federation_create


def refused_by_database(action) -> bool:
    try:
        with transaction.atomic():
            action()
    except IntegrityError:
        return True
    return False


@pytest.mark.django_db
def test_a_balance_never_goes_below_zero(fund):
    overdraw = F("balance") - Value(Decimal("10000.01"), output_field=MoneyField())
    assert refused_by_database(lambda: Fund.objects.filter(pk=fund.pk).update(balance=overdraw))
    fund.refresh_from_db()
    assert fund.balance == Decimal("10000.00")


@pytest.mark.django_db
def test_yuan_and_fen_cannot_be_mixed_by_accident(fund):
    # A bare Decimal next to a money column would be read as fen: refused.
    with pytest.raises(FieldError):
        list(Fund.objects.annotate(left=F("balance") - Decimal("1.00")))
    assert Fund.objects.annotate(left=F("balance") - F("reserved")).get().left == Decimal("10000.00")


@pytest.mark.django_db
def test_more_cannot_be_reserved_than_the_fund_holds(fund):
    assert refused_by_database(lambda: Fund.objects.filter(pk=fund.pk).update(reserved=Decimal("10000.01")))


@pytest.mark.django_db
@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1")])
def test_amounts_are_positive(fund, alice, amount):
    assert refused_by_database(
        lambda: Contribution.objects.create(fund=fund, source="donation", amount=amount, created_by=alice)
    )


@pytest.mark.django_db
def test_the_maker_cannot_be_the_checker_even_behind_the_services(fund, alice):
    contribution = money.contribution_create(fund=fund, source="donation", amount="1", by=alice)
    assert refused_by_database(
        lambda: Contribution.objects.filter(pk=contribution.pk).update(
            status="approved", decided_by=alice, decided_at=timezone.now()
        )
    )


@pytest.mark.django_db
def test_a_decision_needs_a_decider(fund, alice):
    contribution = money.contribution_create(fund=fund, source="donation", amount="1", by=alice)
    assert refused_by_database(lambda: Contribution.objects.filter(pk=contribution.pk).update(status="approved"))


@pytest.mark.django_db
def test_a_disbursement_cannot_have_two_recipients_or_none(fund, alice, worker, tree):
    from beneficiaries.models import Unit

    unit = Unit.objects.create(name="医院", kind="hospital", federation=tree["chengzhong"])
    assert refused_by_database(
        lambda: Disbursement.objects.create(
            fund=fund, beneficiary=worker, unit=unit, assistance_type="living", amount=1, created_by=alice
        )
    )
    assert refused_by_database(
        lambda: Disbursement.objects.create(fund=fund, assistance_type="living", amount=1, created_by=alice)
    )


@pytest.mark.django_db
def test_only_one_live_reversal_per_entry(fund, alice, bob, tree):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="5", by=alice)
    money.movement_approve(movement=allocation, by=bob)
    money.movement_reverse(movement=allocation, by=alice, reason="错")
    copy = {f: getattr(allocation, f) for f in ("from_fund_id", "to_federation_id", "to_fund_id", "amount")}
    assert refused_by_database(lambda: Allocation.objects.create(**copy, reverses=allocation, created_by=alice))


@pytest.mark.django_db
def test_an_allocation_goes_between_two_funds(fund, alice, tree):
    assert refused_by_database(
        lambda: Allocation.objects.create(
            from_fund=fund, to_fund=fund, to_federation=tree["chengzhong"], amount=1, created_by=alice
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize("named", ["user", "federation"])
def test_whoever_and_whatever_the_audit_trail_names_cannot_be_deleted(tree, named):
    """The trail's references carry no database constraint (for the speed of
    bulk lists), so the refusal to delete what it names is Django's own."""
    user = User.objects.create_user(username="audited")
    branch = federation_create(code="630103999", name="审计专用工会", level=Level.GRASSROOTS, parent=tree["chengzhong"])
    event = {"user": user} if named == "user" else {"federation": branch}
    AuditEvent.objects.create(
        action="test", content_type=ContentType.objects.get_for_model(Federation), object_id=branch.pk, **event
    )
    with pytest.raises(ProtectedError):
        user.delete() if named == "user" else Federation.objects.filter(pk=branch.pk).delete()
    assert User.objects.filter(pk=user.pk).exists() and Federation.objects.filter(pk=branch.pk).exists()
