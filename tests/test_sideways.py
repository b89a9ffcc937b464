"""Money across the tree (docs/DOMAIN.md: 浙江省总工会 sent 200万 to 湖北省总工会): any
federation may be named as an allocation's recipient, at every door, without the
sender seeing anything inside it; the recipient's fund is named for the recipient
and records the fund it was opened from; roll-ups count the money once."""

from decimal import Decimal

import pytest

from allocations import services as money
from allocations.models import Allocation, Fund, Status
from tests.api_helpers import API, client_for, codes
from tests.conftest import member
from unionfunds.models import Role
from unionfunds.services import federation_create

FIRST_FUND = Decimal("30000000.00")
TO_HUBEI = Decimal("2000000.00")


@pytest.fixture
def provinces(tree):
    nation = tree["nation"]
    zhejiang = federation_create(code="33", name="浙江省总工会", level="province", parent=nation)
    hubei = federation_create(code="42", name="湖北省总工会", level="province", parent=nation)
    return {
        "zhejiang": zhejiang,
        "hubei": hubei,
        "zj_clerk": member("zj-clerk", zhejiang, Role.CLERK),
        "zj_approver": member("zj-approver", zhejiang, Role.APPROVER),
        "hb_clerk": member("hb-clerk", hubei, Role.CLERK),
        "national_auditor": member("cn-auditor", nation, Role.AUDITOR),
    }


@pytest.fixture
def zhejiang_fund(provinces):
    fund = money.fund_create(
        federation=provinces["zhejiang"],
        name="浙江省总工会第一批疫情防控专项资金",
        purpose="pandemic",
        fiscal_year=2020,
        by=provinces["zj_clerk"],
    )
    raised = money.contribution_create(fund=fund, source="own_funds", amount=FIRST_FUND, by=provinces["zj_clerk"])
    money.movement_approve(movement=raised, by=provinces["zj_approver"])
    return Fund.objects.get(pk=fund.pk)


def send_to_hubei(provinces, zhejiang_fund):
    answer = client_for(provinces["zj_clerk"]).post(
        API + "allocations/",
        {"from_fund": zhejiang_fund.pk, "to_federation": provinces["hubei"].pk, "amount": "2000000.00"},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    allocation = Allocation.objects.get(pk=answer.json()["id"])
    money.movement_approve(movement=allocation, by=provinces["zj_approver"])
    return allocation


@pytest.mark.django_db
def test_a_province_sends_money_to_another_province_through_the_api(provinces, zhejiang_fund):
    allocation = send_to_hubei(provinces, zhejiang_fund)
    received = Fund.objects.get(federation=provinces["hubei"])
    assert received.name == "湖北省总工会第一批疫情防控专项资金"  # named for its own federation
    assert received.opened_from == zhejiang_fund  # with the fund it came from
    assert (received.balance, Allocation.objects.get(pk=allocation.pk).status) == (TO_HUBEI, Status.APPROVED)
    zhejiang_fund.refresh_from_db()
    assert zhejiang_fund.balance == FIRST_FUND - TO_HUBEI
    # The sender sees the allocation, nothing inside the recipient.
    sender = client_for(provinces["zj_clerk"])
    assert sender.get(f"{API}allocations/{allocation.pk}/").json()["to_federation"] == provinces["hubei"].pk
    assert sender.get(f"{API}funds/{received.pk}/").status_code == 404
    assert sender.get(f"{API}federations/{provinces['hubei'].pk}/").status_code == 404
    assert sender.get(f"{API}rollups/{provinces['hubei'].pk}/").status_code == 404
    # The recipient sees the money and where it came from.
    shown = client_for(provinces["hb_clerk"]).get(f"{API}funds/{received.pk}/").json()
    assert (shown["name"], shown["opened_from"], shown["balance"]) == (
        "湖北省总工会第一批疫情防控专项资金",
        zhejiang_fund.pk,
        "2000000.00",
    )


@pytest.mark.django_db
def test_roll_ups_count_the_sideways_money_once(provinces, zhejiang_fund):
    send_to_hubei(provinces, zhejiang_fund)
    hubei = client_for(provinces["hb_clerk"]).get(f"{API}rollups/{provinces['hubei'].pk}/").json()["total"]
    assert hubei["raised"]["by_source"] == {"allocation": "2000000.00"}
    assert hubei["raised"]["by_level"] == {"province": "2000000.00"}  # the sender's level
    assert hubei["balance"] == "2000000.00"
    zhejiang = client_for(provinces["zj_clerk"]).get(f"{API}rollups/{provinces['zhejiang'].pk}/").json()["total"]
    assert (zhejiang["raised"]["total"], zhejiang["allocated_out"]) == ("30000000.00", "2000000.00")
    national = client_for(provinces["national_auditor"]).get(f"{API}rollups/{provinces['zhejiang'].parent_id}/")
    total = national.json()["total"]
    assert total["raised"]["by_source"] == {"own_funds": "30000000.00"}  # internal to the country
    assert total["allocated_out"] == "0.00"
    assert total["balance"] == "30000000.00"


@pytest.mark.django_db
def test_an_unknown_recipient_is_still_404(provinces, zhejiang_fund):
    answer = client_for(provinces["zj_clerk"]).post(
        API + "allocations/",
        {"from_fund": zhejiang_fund.pk, "to_federation": 999_999, "amount": "1.00"},
        format="json",
    )
    assert answer.status_code == 404 and codes(answer) == ["not_found"]


@pytest.mark.django_db
def test_the_entry_form_sends_money_to_a_federation_elsewhere(client, provinces, zhejiang_fund):
    client.force_login(provinces["zj_clerk"])
    found = client.get("/federations/search/?q=湖北").json()["results"]
    assert [(f["name"], f["parent"]) for f in found] == [("湖北省总工会", "中华全国总工会")]
    response = client.post(
        "/entries/new/allocation/",
        {
            "from_fund": zhejiang_fund.pk,
            "to_federation": provinces["hubei"].pk,
            "amount": "2000000.00",
            "date": "2020-02-10",
            "batch": "",
            "note": "",
            "submission": "9d3c8f5e-0000-4000-8000-000000000001",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    allocation = Allocation.objects.get()
    assert (allocation.to_federation, allocation.status) == (provinces["hubei"], Status.PENDING)
    assert client.get(response["Location"]).status_code == 200  # the sender's page of its entry


@pytest.mark.django_db
def test_the_recipients_fund_page_says_where_the_fund_came_from(client, provinces, zhejiang_fund):
    send_to_hubei(provinces, zhejiang_fund)
    received = Fund.objects.get(federation=provinces["hubei"])
    client.force_login(provinces["hb_clerk"])
    page = client.get(f"/funds/{received.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "湖北省总工会 · 湖北省总工会第一批疫情防控专项资金" in page
    assert "浙江省总工会 · 浙江省总工会第一批疫情防控专项资金 (2020)" in page


@pytest.mark.django_db
def test_a_fund_name_without_its_senders_name_gets_the_recipients_in_front():
    name = money.recipient_fund_name
    assert (
        name("西宁市总工会疫情防控专项资金", sender="西宁市总工会", recipient="城中区总工会")
        == "城中区总工会疫情防控专项资金"
    )
    assert name("疫情防控专项资金", sender="西宁市总工会", recipient="城中区总工会") == "城中区总工会疫情防控专项资金"
    assert (
        name("城中区总工会疫情防控专项资金", sender="西宁市总工会", recipient="城中区总工会")
        == "城中区总工会疫情防控专项资金"
    )
    assert len(name("资" * 100, sender="西宁市总工会", recipient="城" * 90)) == 100
