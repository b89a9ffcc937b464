"""退回修改 and 撤回: an approver returns an entry or a whole list to its clerk
for correction (it stays pending and reserved, out of the queue); the clerk
resubmits it or withdraws it (closed, reserving nothing). Whatever the door."""

from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from allocations import services as money
from allocations.models import Disbursement, Status
from beneficiaries import services as people
from tests.conftest import member, synthetic_id
from tests.test_approval_lists import decide, imported_list
from tests.test_ledger_chain import verify
from tests.test_what_waits import badge, card
from unionfunds.models import AuditEvent, Role


@pytest.fixture
def allocation(rich_fund, alice, tree):
    return money.allocation_create(from_fund=rich_fund, to_federation=tree["grassroots"], amount="5000", by=alice)


def act(client, entry, action, reason=""):
    kind = entry._meta.model_name
    return client.post(f"/entries/{kind}/{entry.pk}/decide/", {"action": action, "reason": reason})


@pytest.fixture
def bob_client(bob):
    """The approver, in a browser of her own beside the clerk's."""
    browser = Client()
    browser.force_login(bob)
    return browser


def reserved(fund) -> Decimal:
    fund.refresh_from_db()
    return fund.reserved


@pytest.mark.django_db
def test_an_entry_returned_for_correction_goes_to_its_clerk_and_comes_back(
    bob_client, alice_client, allocation, bob, rich_fund
):
    client = bob_client
    act(client, allocation, "return")  # no reason: refused
    allocation.refresh_from_db()
    assert allocation.returned_at is None
    act(client, allocation, "return", "请附上下拨文件")
    allocation.refresh_from_db()
    assert (allocation.status, allocation.returned_by, allocation.return_reason) == (
        Status.PENDING,
        bob,
        "请附上下拨文件",
    )
    assert reserved(rich_fund) == Decimal("5000.00")  # still held for it
    page = client.get(f"/entries/allocation/{allocation.pk}/").content.decode()
    assert "退回修改" in page and "请附上下拨文件" in page and 'value="approve"' not in page
    assert badge(client.get("/").content.decode()) is None  # out of her queue
    assert "请附上下拨文件" not in client.get("/approvals/").content.decode()
    # The clerk finds it, with the reason, and resubmits it.
    home = alice_client.get("/").content.decode()
    assert card(home, "退回给我修改") == "1"
    assert "请附上下拨文件" in alice_client.get("/mine/").content.decode()
    act(alice_client, allocation, "resubmit")
    allocation.refresh_from_db()
    assert allocation.returned_at is None and allocation.return_reason == ""
    assert badge(client.get("/").content.decode()) == "1"
    act(client, allocation, "approve")
    allocation.refresh_from_db()
    assert allocation.status == Status.APPROVED
    actions = list(
        AuditEvent.objects.filter(object_id=allocation.pk, action__startswith="allocation.")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["allocation.created", "allocation.returned", "allocation.resubmitted", "allocation.approved"]


@pytest.mark.django_db
def test_a_returned_entry_is_not_decided_until_resubmitted(allocation, bob, tree):
    money.movements_return(movements=[allocation], by=bob, reason="缺少批文")
    other = member("boss", tree["qinghai"], Role.APPROVER)
    with pytest.raises(Exception, match="已退回经办人修改"):
        money.movement_approve(movement=allocation, by=other)
    allocation.refresh_from_db()
    assert allocation.status == Status.PENDING


@pytest.mark.django_db
def test_only_its_clerk_withdraws_an_entry_and_it_frees_the_money(
    bob_client, alice_client, allocation, rich_fund, tree
):
    other = Client()
    other.force_login(member("second-clerk", tree["chengzhong"], Role.CLERK))
    assert act(other, allocation, "withdraw").status_code == 403
    assert act(bob_client, allocation, "withdraw").status_code == 403
    assert reserved(rich_fund) == Decimal("5000.00")
    act(alice_client, allocation, "withdraw", "下拨对象填错")
    allocation.refresh_from_db()
    assert (allocation.status, allocation.decided_by, allocation.rejection_reason) == (
        Status.WITHDRAWN,
        allocation.created_by,
        "下拨对象填错",
    )
    assert reserved(rich_fund) == Decimal("0.00")
    page = alice_client.get(f"/entries/allocation/{allocation.pk}/").content.decode()
    assert "已撤回" in page and "撤回原因" in page
    assert "no problems" in verify("--audit")


@pytest.mark.django_db
def test_a_withdrawn_payment_is_no_duplicate(alice, rich_fund, tree):
    worker = people.beneficiary_register(
        name="李四", id_number=synthetic_id(41), federation=tree["chengzhong"], by=alice
    )
    paid = {"fund": rich_fund, "beneficiary": worker, "assistance_type": "living", "amount": "800", "by": alice}
    first = money.disbursement_create(**paid)
    with pytest.raises(Exception, match="已从本资金领取过"):
        money.disbursement_create(**paid)
    money.movements_withdraw(movements=[first], by=alice)
    second = money.disbursement_create(**paid)
    assert (second.status, second.duplicate_confirmed) == (Status.PENDING, False)


@pytest.mark.django_db
def test_a_list_is_returned_resubmitted_and_withdrawn_as_one(bob_client, alice_client, rich_fund):
    payment_list = imported_list(alice_client, rich_fund, 30)
    client = bob_client
    decide(client, payment_list, "return", reason="第12行金额有误")
    rows = Disbursement.objects.filter(payment_list=payment_list)
    assert set(rows.values_list("status", "return_reason")) == {(Status.PENDING, "第12行金额有误")}
    assert f'href="/disbursements/lists/{payment_list.pk}/"' not in client.get("/approvals/").content.decode()
    page = alice_client.get(f"/disbursements/lists/{payment_list.pk}/").content.decode()
    assert "有 30 笔已退回经办人修改： 第12行金额有误" in " ".join(page.split()) and "重新提交退回的 30 笔" in page
    alice_client.post(f"/disbursements/lists/{payment_list.pk}/decide/", {"action": "resubmit"})
    assert not rows.filter(returned_at__isnull=False).exists()
    assert f'href="/disbursements/lists/{payment_list.pk}/"' in client.get("/approvals/").content.decode()
    alice_client.post(f"/disbursements/lists/{payment_list.pk}/decide/", {"action": "withdraw", "reason": "重新导入"})
    assert set(rows.values_list("status", flat=True)) == {Status.WITHDRAWN}
    assert reserved(rich_fund) == Decimal("0.00")
    assert list(
        AuditEvent.objects.filter(object_id=payment_list.pk, action__startswith="payment_list.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["payment_list.created", "payment_list.returned", "payment_list.resubmitted", "payment_list.withdrawn"]


@pytest.mark.django_db
def test_the_api_returns_withdraws_and_resubmits(allocation, alice, bob):
    clerk, approver = APIClient(), APIClient()
    clerk.force_authenticate(alice)
    approver.force_authenticate(bob)
    url = f"/api/v1/allocations/{allocation.pk}/"
    assert approver.post(url + "return/", {}, format="json").status_code == 400  # a reason is needed
    returned = approver.post(url + "return/", {"reason": "缺少批文"}, format="json")
    assert returned.status_code == 200
    assert (returned.data["status"], returned.data["returned_by"], returned.data["return_reason"]) == (
        "pending",
        "bob",
        "缺少批文",
    )
    refused = approver.post(url + "approve/", format="json")
    assert (refused.status_code, refused.data["code"]) == (409, "returned_for_correction")
    assert clerk.post(url + "resubmit/", format="json").data["returned_by"] is None
    again = clerk.post(url + "resubmit/", format="json")
    assert (again.status_code, again.data["code"]) == (409, "not_returned")
    assert approver.post(url + "withdraw/", {}, format="json").status_code == 403
    withdrawn = clerk.post(url + "withdraw/", {"reason": "重复录入"}, format="json")
    assert (withdrawn.status_code, withdrawn.data["status"], withdrawn.data["decided_by"]) == (
        200,
        "withdrawn",
        "alice",
    )
    late = clerk.post(url + "withdraw/", {}, format="json")
    assert (late.status_code, late.data["code"]) == (409, "not_pending")


@pytest.mark.django_db
def test_the_clerk_corrects_a_returned_entry_in_the_browser_and_resubmits_it(
    bob_client, alice_client, allocation, bob, rich_fund
):
    money.movements_return(movements=[allocation], by=bob, reason="金额应为4,500元")
    page = alice_client.get(f"/entries/allocation/{allocation.pk}/").content.decode()
    assert f'href="/entries/allocation/{allocation.pk}/edit/"' in page and "修改后请在下方重新提交" in page
    form = alice_client.get(f"/entries/allocation/{allocation.pk}/edit/").content.decode()
    assert 'value="5000.00"' in form
    too_much = alice_client.post(
        f"/entries/allocation/{allocation.pk}/edit/", {"amount": "99999999", "date": "2022-05-06", "batch": ""}
    )
    assert too_much.status_code == 200 and "资金不足：" in too_much.content.decode()
    saved = alice_client.post(
        f"/entries/allocation/{allocation.pk}/edit/",
        {"amount": "4500", "date": allocation.date.isoformat(), "batch": "", "note": "按批文更正"},
    )
    assert saved.status_code == 302
    allocation.refresh_from_db()
    assert (allocation.amount, allocation.note, allocation.returned_at is not None) == (
        Decimal("4500.00"),
        "按批文更正",
        True,
    )
    assert reserved(rich_fund) == Decimal("4500.00")
    edited = AuditEvent.objects.get(action="allocation.edited", object_id=allocation.pk)
    assert edited.changes["amount"] == {"before": "5000.00", "after": "4500.00"}
    act(alice_client, allocation, "resubmit")
    act(bob_client, allocation, "approve")
    allocation.refresh_from_db()
    assert allocation.status == Status.APPROVED
    # Decided: nothing to correct any more.
    assert alice_client.get(f"/entries/allocation/{allocation.pk}/edit/").status_code == 403
    assert bob_client.get(f"/entries/allocation/{allocation.pk}/edit/").status_code == 403
