"""Daily work in the browser: entering, approving, reversing, with the rules shown in Chinese."""

import uuid
from decimal import Decimal

import pytest

from allocations import services as money
from allocations.models import Allocation, Disbursement, Fund, Status
from beneficiaries.models import Beneficiary
from tests.conftest import synthetic_id
from unionfunds.models import AuditEvent


def signed_in(client, user):
    client.force_login(user)
    return client


def allocation_post(fund, to, amount, **extra):
    return {
        "from_fund": fund.pk,
        "to_federation": to.pk,
        "amount": amount,
        "date": "2022-04-01",
        "batch": "第一批",
        "note": "",
        "submission": str(uuid.uuid4()),
        **extra,
    }


@pytest.mark.django_db
def test_a_clerk_allocates_to_a_member_union_and_sees_available_drop(client, alice, fund, tree):
    signed_in(client, alice)
    page = client.get("/entries/new/allocation/").content.decode()
    assert "可用" in page and "10,000.00" in page
    response = client.post("/entries/new/allocation/", allocation_post(fund, tree["grassroots"], "2500.00"))
    allocation = Allocation.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/entries/allocation/{allocation.pk}/"
    assert allocation.status == Status.PENDING and allocation.created_by == alice
    fund.refresh_from_db()
    assert fund.available == Decimal("7500.00")
    assert "7,500.00" in client.get("/").content.decode()


@pytest.mark.django_db
def test_overdrawing_shows_the_chinese_error_next_to_the_amount_and_saves_nothing(client, alice, fund, tree):
    signed_in(client, alice)
    response = client.post("/entries/new/allocation/", allocation_post(fund, tree["grassroots"], "10000.01"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "资金不足" in page and "10,000.00" in page
    assert 'class="field has-error"' in page
    assert Allocation.objects.count() == 0
    assert not Fund.objects.filter(federation=tree["grassroots"]).exists()


@pytest.mark.django_db
def test_double_submitting_a_form_creates_one_entry(client, alice, fund, tree):
    signed_in(client, alice)
    data = allocation_post(fund, tree["grassroots"], "100.00")
    first = client.post("/entries/new/allocation/", data)
    second = client.post("/entries/new/allocation/", data)
    assert Allocation.objects.count() == 1
    assert first["Location"] == second["Location"]


@pytest.mark.django_db
def test_the_recipient_search_offers_my_subtree_first_then_the_country(client, alice, fund, tree):
    signed_in(client, alice)
    found = client.get("/federations/search/?q=城").json()["results"]
    names = [f["name"] for f in found]
    assert names[:2] == ["城中区总工会", "城中区建筑公司工会"]  # alice's own subtree
    assert set(names[2:]) == {"城东区总工会", "城西区总工会"}  # elsewhere: money may go sideways
    assert found[0]["parent"] == "西宁市总工会"
    assert client.get("/federations/search/?q=").json() == {"results": []}


@pytest.mark.django_db
def test_a_disbursement_registers_the_worker_and_checks_the_id_as_typed(client, alice, fund):
    signed_in(client, alice)
    bad = client.get("/beneficiaries/check/?id_number=110105194912310021").json()
    assert bad == {"valid": False, "message": "身份证号码无效：校验码不符"}
    number = synthetic_id(77)
    assert client.get(f"/beneficiaries/check/?id_number={number}").json()["registered_name"] is None
    data = {
        "fund": fund.pk,
        "id_number": number,
        "name": "王五",
        "assistance_type": "living",
        "amount": "800",
        "date": "2022-04-02",
        "submission": str(uuid.uuid4()),
    }
    assert client.post("/entries/new/disbursement/", data).status_code == 302
    assert Beneficiary.objects.get(id_number=number).name == "王五"
    assert client.get(f"/beneficiaries/check/?id_number={number}").json()["registered_name"] == "王五"
    again = client.post("/entries/new/disbursement/", {**data, "submission": str(uuid.uuid4())}).content.decode()
    assert "如确需再次发放" in again
    assert Disbursement.objects.count() == 1


@pytest.mark.django_db
def test_a_bad_id_number_is_refused_on_the_form(client, alice, fund):
    signed_in(client, alice)
    data = {
        "fund": fund.pk,
        "id_number": "110105194912310021",
        "name": "王五",
        "assistance_type": "living",
        "amount": "800",
        "date": "2022-04-02",
        "submission": str(uuid.uuid4()),
    }
    page = client.post("/entries/new/disbursement/", data).content.decode()
    assert "身份证号码无效" in page
    assert Beneficiary.objects.count() == 0 and Disbursement.objects.count() == 0


@pytest.mark.django_db
def test_an_approver_approves_from_the_queue_and_the_balance_moves(client, alice, bob, fund, tree):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="3000", by=alice)
    signed_in(client, bob)
    queue = client.get("/approvals/").content.decode()
    assert f'value="{allocation.pk}"' in queue and "3,000.00" in queue
    response = client.post("/approvals/decide/", {"action": "approve", "allocation": [allocation.pk]}, follow=True)
    assert "1" in response.content.decode()
    fund.refresh_from_db()
    assert fund.balance == Decimal("7000.00")
    assert Fund.objects.get(federation=tree["grassroots"]).balance == Decimal("3000.00")


@pytest.mark.django_db
def test_rejecting_needs_a_reason(client, alice, bob, fund, tree):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="3000", by=alice)
    signed_in(client, bob)
    page = client.post("/approvals/decide/", {"action": "reject", "allocation": [allocation.pk]}, follow=True)
    assert "请填写原因" in page.content.decode()
    allocation.refresh_from_db()
    assert allocation.status == Status.PENDING


@pytest.mark.django_db
def test_my_own_entries_are_not_in_my_queue(client, alice, bob, fund, tree, province_approver):
    from unionfunds.models import Role
    from unionfunds.permissions import forget_grants
    from unionfunds.services import membership_grant

    membership_grant(username="bob", federation=tree["chengzhong"], role=Role.CLERK)
    forget_grants(bob)
    own = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="1", by=bob)
    queue = signed_in(client, bob).get("/approvals/").content.decode()
    assert f'name="allocation" value="{own.pk}"' not in queue
    client.post("/approvals/decide/", {"action": "approve", "allocation": [own.pk]})
    own.refresh_from_db()
    assert own.status == Status.PENDING


@pytest.mark.django_db
def test_reversal_goes_through_the_same_approval(client, alice, bob, fund, tree):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="3000", by=alice)
    money.movement_approve(movement=allocation, by=bob)
    signed_in(client, alice)
    detail = client.get(f"/entries/allocation/{allocation.pk}/").content.decode()
    assert "申请冲销" in detail and "批准" in detail  # the history names the approval
    response = client.post(f"/entries/allocation/{allocation.pk}/decide/", {"action": "reverse", "reason": "下拨错误"})
    reversal = Allocation.objects.get(reverses=allocation)
    assert response["Location"] == f"/entries/allocation/{reversal.pk}/"
    # The same sign wherever the reversal shows: on its page, in the queue and in the list.
    signed_in(client, bob)
    assert "−3,000.00" in client.get(response["Location"]).content.decode()
    assert "−3,000.00" in client.get("/approvals/").content.decode()
    assert "−3,000.00" in client.get("/allocations/").content.decode()
    client.post(f"/entries/allocation/{reversal.pk}/decide/", {"action": "approve"})
    fund.refresh_from_db()
    assert fund.balance == Decimal("10000.00")


@pytest.mark.django_db
def test_an_auditor_reads_but_finds_no_button_to_change_anything(client, carol, alice, fund, tree):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="10", by=alice)
    signed_in(client, carol)
    detail = client.get(f"/entries/allocation/{allocation.pk}/").content.decode()
    assert "10.00" in detail
    assert 'name="action"' not in detail
    home = client.get("/").content.decode()
    assert "/entries/new/" not in home and "/approvals/" not in home
    assert client.get("/entries/new/allocation/").status_code == 403
    assert client.get("/approvals/").status_code == 403
    client.post(f"/entries/allocation/{allocation.pk}/decide/", {"action": "approve"})
    allocation.refresh_from_db()
    assert allocation.status == Status.PENDING


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["allocation", "contribution"])
def test_entries_outside_the_subtree_are_404(client, dave, fund, alice, tree, kind):
    entry = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="1", by=alice)
    if kind == "contribution":
        entry = money.contribution_create(fund=fund, source="donation", amount="1", by=alice)
    signed_in(client, dave)
    assert client.get(f"/entries/{kind}/{entry.pk}/").status_code == 404
    assert client.post(f"/entries/{kind}/{entry.pk}/decide/", {"action": "approve"}).status_code == 404
    assert not AuditEvent.objects.filter(user=dave).exists()


@pytest.mark.django_db
def test_a_recipient_typed_but_not_picked_is_kept_with_a_message_that_says_what_to_do(client, alice, fund):
    signed_in(client, alice)
    response = client.post(
        "/entries/new/allocation/",
        {
            "from_fund": fund.pk,
            "to_federation": "",
            "to_federation_search": "建筑",
            "amount": "100",
            "date": "2022-05-06",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200 and "请在输入名称或代码后出现的列表中选择接收单位。" in page
    assert 'name="to_federation_search"' in page and 'value="建筑"' in page
    assert "该字段是必填项" not in page
    assert not Allocation.objects.exists()
