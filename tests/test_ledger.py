"""Money movements through the services: the rules a clerk and an approver meet."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from allocations import services as money
from allocations.models import Allocation, Contribution, Disbursement, Fund, Status
from unionfunds.models import AuditEvent


def codes(error: ValidationError) -> set[str]:
    return (
        {e.code for e in error.error_list}
        if not hasattr(error, "error_dict")
        else {e.code for errors in error.error_dict.values() for e in errors}
    )


@pytest.mark.django_db
def test_an_approved_contribution_raises_balance_and_available(fund):
    assert fund.balance == Decimal("10000.00")
    assert fund.available == Decimal("10000.00")


@pytest.mark.django_db
def test_a_pending_allocation_reserves_money_and_approval_moves_it(tree, fund, alice, bob):
    allocation = money.allocation_create(
        from_fund=fund, to_federation=tree["grassroots"], amount="2500.50", batch="第一批", by=alice
    )
    fund.refresh_from_db()
    assert (fund.balance, fund.available) == (Decimal("10000.00"), Decimal("7499.50"))

    money.movement_approve(movement=allocation, by=bob)
    fund.refresh_from_db()
    recipient = Fund.objects.get(federation=tree["grassroots"])
    assert (fund.balance, fund.available) == (Decimal("7499.50"), Decimal("7499.50"))
    assert (recipient.balance, recipient.purpose, recipient.fiscal_year) == (Decimal("2500.50"), "pandemic", 2022)
    assert (recipient.name, recipient.opened_from) == (tree["grassroots"].name + fund.name, fund)


@pytest.mark.django_db
def test_the_recipient_fund_is_found_not_created_twice(tree, fund, alice):
    first = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="1", by=alice)
    second = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="2", by=alice)
    assert first.to_fund_id == second.to_fund_id
    assert Fund.objects.filter(federation=tree["grassroots"]).count() == 1


@pytest.mark.django_db
def test_clerk_cannot_overdraw_a_fund(tree, fund, alice):
    money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="6000", by=alice)
    with pytest.raises(ValidationError) as refused:
        money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="4000.01", by=alice)
    assert codes(refused.value) == {"insufficient_funds"}
    assert "4,000.00" in str(refused.value.messages)
    assert Allocation.objects.count() == 1
    fund.refresh_from_db()
    assert fund.available == Decimal("4000.00")


@pytest.mark.django_db
def test_approver_cannot_approve_own_entry(tree, fund, alice, bob):
    from unionfunds.models import Role
    from unionfunds.services import membership_grant

    membership_grant(username="alice", federation=tree["chengzhong"], role=Role.APPROVER)
    alice.refresh_from_db()
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="10", by=alice)
    with pytest.raises(ValidationError) as refused:
        money.movement_approve(movement=allocation, by=alice)
    assert codes(refused.value) == {"maker_cannot_approve"}
    allocation.refresh_from_db()
    assert allocation.status == Status.PENDING


@pytest.mark.django_db
def test_a_clerk_cannot_approve(tree, fund, alice, dave):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="10", by=alice)
    with pytest.raises(PermissionDenied):
        money.movement_approve(movement=allocation, by=dave)


@pytest.mark.django_db
def test_rejection_releases_the_reservation_and_needs_a_reason(tree, fund, alice, bob):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="3000", by=alice)
    with pytest.raises(ValidationError) as refused:
        money.movement_reject(movement=allocation, by=bob, reason="  ")
    assert codes(refused.value) == {"reason_required"}
    money.movement_reject(movement=allocation, by=bob, reason="金额有误")
    fund.refresh_from_db()
    allocation.refresh_from_db()
    assert fund.available == Decimal("10000.00")
    assert (allocation.status, allocation.rejection_reason) == (Status.REJECTED, "金额有误")


@pytest.mark.django_db
def test_a_decided_entry_is_not_pending_any_more(tree, fund, alice, bob):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="10", by=alice)
    money.movement_approve(movement=allocation, by=bob)
    for attempt in (
        lambda: money.movement_approve(movement=allocation, by=bob),
        lambda: money.movement_reject(movement=allocation, by=bob, reason="x"),
        lambda: money.movement_update(movement=allocation, by=alice, amount="5"),
    ):
        with pytest.raises(ValidationError) as refused:
            attempt()
        assert codes(refused.value) == {"not_pending"}
    allocation.refresh_from_db()
    assert allocation.amount == Decimal("10.00")


@pytest.mark.django_db
def test_editing_a_pending_entry_moves_the_reservation_and_is_audited(tree, fund, alice):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="100", by=alice)
    money.movement_update(movement=allocation, by=alice, amount="250.25", note="更正")
    fund.refresh_from_db()
    assert fund.available == Decimal("9749.75")
    event = AuditEvent.objects.get(action="allocation.edited")
    assert event.changes["amount"] == {"before": "100.00", "after": "250.25"}
    assert event.user == alice


@pytest.mark.django_db
def test_reversing_an_allocation_takes_the_money_back(tree, fund, alice, bob):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="4000", by=alice)
    money.movement_approve(movement=allocation, by=bob)
    reversal = money.movement_reverse(movement=allocation, by=alice, reason="下拨对象错误")
    recipient = Fund.objects.get(federation=tree["grassroots"])
    assert recipient.available == Decimal("0.00")  # reserved until the reversal is decided
    money.movement_approve(movement=reversal, by=bob)
    fund.refresh_from_db()
    recipient.refresh_from_db()
    assert (fund.balance, recipient.balance) == (Decimal("10000.00"), Decimal("0.00"))
    assert reversal.reverses_id == allocation.pk
    with pytest.raises(ValidationError) as refused:
        money.movement_reverse(movement=allocation, by=alice, reason="again")
    assert codes(refused.value) == {"already_reversed"}


@pytest.mark.django_db
def test_a_reversal_cannot_take_back_what_was_already_spent(tree, fund, alice, bob, worker):
    disbursement = money.disbursement_create(
        fund=fund, beneficiary=worker, assistance_type="living", amount="9000", by=alice
    )
    money.movement_approve(movement=disbursement, by=bob)
    contribution = Contribution.objects.get(fund=fund)
    with pytest.raises(ValidationError) as refused:
        money.movement_reverse(movement=contribution, by=alice, reason="退回")
    assert codes(refused.value) == {"insufficient_funds"}
    assert not Contribution.objects.filter(reverses=contribution).exists()


@pytest.mark.django_db
def test_reversing_a_disbursement_returns_the_money(tree, fund, alice, bob, worker):
    disbursement = money.disbursement_create(
        fund=fund, beneficiary=worker, assistance_type="living", amount="800", by=alice
    )
    money.movement_approve(movement=disbursement, by=bob)
    reversal = money.movement_reverse(movement=disbursement, by=alice, reason="重复发放")
    money.movement_approve(movement=reversal, by=bob)
    fund.refresh_from_db()
    assert fund.balance == Decimal("10000.00")
    with pytest.raises(ValidationError) as refused:
        money.movement_reverse(movement=reversal, by=alice, reason="x")
    assert codes(refused.value) == {"not_reversible"}


@pytest.mark.django_db
def test_second_payment_in_a_month_is_refused_unless_confirmed(tree, fund, alice, worker):
    import datetime

    first = money.disbursement_create(
        fund=fund, beneficiary=worker, assistance_type="living", amount="500", date=datetime.date(2022, 3, 1), by=alice
    )
    with pytest.raises(ValidationError) as refused:
        money.disbursement_create(
            fund=fund,
            beneficiary=worker,
            assistance_type="living",
            amount="500",
            date=datetime.date(2022, 3, 31),
            by=alice,
        )
    assert codes(refused.value) == {"duplicate_payment"}
    assert "张三" in refused.value.messages[0]
    # Another month, or another assistance type, is not a duplicate.
    money.disbursement_create(
        fund=fund, beneficiary=worker, assistance_type="living", amount="500", date=datetime.date(2022, 4, 1), by=alice
    )
    money.disbursement_create(
        fund=fund, beneficiary=worker, assistance_type="medical", amount="500", date=datetime.date(2022, 3, 2), by=alice
    )
    confirmed = money.disbursement_create(
        fund=fund,
        beneficiary=worker,
        assistance_type="living",
        amount="500",
        date=datetime.date(2022, 3, 15),
        confirm_duplicate=True,
        by=alice,
    )
    assert (first.duplicate_confirmed, confirmed.duplicate_confirmed) == (False, True)
    event = AuditEvent.objects.get(action="disbursement.created", object_id=confirmed.pk)
    assert event.changes["duplicate_confirmed"] == {"before": None, "after": True}


@pytest.mark.django_db
def test_a_rejected_or_reversed_payment_is_no_duplicate(tree, fund, alice, bob, worker):
    import datetime

    day = datetime.date(2022, 5, 5)
    rejected = money.disbursement_create(
        fund=fund, beneficiary=worker, assistance_type="living", amount="1", date=day, by=alice
    )
    money.movement_reject(movement=rejected, by=bob, reason="错")
    paid = money.disbursement_create(
        fund=fund, beneficiary=worker, assistance_type="living", amount="1", date=day, by=alice
    )
    money.movement_approve(movement=paid, by=bob)
    reversal = money.movement_reverse(movement=paid, by=alice, reason="退")
    money.movement_approve(movement=reversal, by=bob)
    again = money.disbursement_create(
        fund=fund, beneficiary=worker, assistance_type="living", amount="1", date=day, by=alice
    )
    assert again.duplicate_confirmed is False


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["0", "-5", "1.001", "abc", "NaN"])
def test_amounts_must_be_positive_and_exact_to_the_fen(tree, fund, alice, amount):
    with pytest.raises(ValidationError) as refused:
        money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount=amount, by=alice)
    assert codes(refused.value) == {"invalid_amount"}
    assert Allocation.objects.count() == 0


@pytest.mark.django_db
def test_a_disbursement_has_exactly_one_recipient(fund, alice):
    with pytest.raises(ValidationError) as refused:
        money.disbursement_create(fund=fund, assistance_type="living", amount="1", by=alice)
    assert codes(refused.value) == {"one_recipient"}
    assert Disbursement.objects.count() == 0


@pytest.mark.django_db
def test_every_step_leaves_an_audit_event_with_who(tree, fund, alice, bob):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="10", by=alice)
    money.movement_approve(movement=allocation, by=bob)
    events = list(AuditEvent.objects.filter(object_id=allocation.pk, action__startswith="allocation.").order_by("id"))
    assert [(e.action, e.user.username) for e in events] == [
        ("allocation.created", "alice"),
        ("allocation.approved", "bob"),
    ]
    assert events[0].changes["amount"] == {"before": None, "after": "10.00"}


@pytest.mark.django_db
def test_refusals_speak_chinese_by_default_and_english_on_request(tree, fund, alice):
    from django.utils import translation

    with pytest.raises(ValidationError) as refused:
        money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="20000", by=alice)
    with translation.override("zh-hans"):
        assert refused.value.messages == ["资金不足：疫情防控专项资金 可用余额 10,000.00 元，需要 20,000.00 元。"]
    with translation.override("en"):
        assert "Insufficient funds" in refused.value.messages[0]


@pytest.mark.django_db
def test_a_pending_reversal_cannot_be_edited(tree, fund, alice, bob):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="4000", by=alice)
    money.movement_approve(movement=allocation, by=bob)
    reversal = money.movement_reverse(movement=allocation, by=alice, reason="错")
    with pytest.raises(ValidationError) as refused:
        money.movement_update(movement=reversal, by=alice, amount="5000.00")
    assert codes(refused.value) == {"reversal_not_editable"}
    reversal.refresh_from_db()
    assert reversal.amount == Decimal("4000.00")
