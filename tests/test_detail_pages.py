"""The pages of one record (a beneficiary, a fund), the recent activity on the
home page, and histories that read as sentences, not field names."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations import services as money
from beneficiaries import services as people
from tests.conftest import synthetic_id
from tests.factories import FundFactory
from unionfunds.models import AuditEvent

SHOWN = "beneficiary.id_number_shown"


@pytest.fixture
def person(tree, alice):
    return people.beneficiary_register(
        name="李四",
        id_number=synthetic_id(7),
        federation=tree["chengzhong"],
        phone="13812341234",
        employer="城中区建筑公司",
        categories=["migrant_worker", "model_worker"],
        by=alice,
    )


@pytest.fixture
def paid(fund, person, alice, bob):
    """Two payments to the person from alice's fund; the first approved."""
    first = money.disbursement_create(
        fund=fund,
        beneficiary=person,
        assistance_type="living",
        amount="1200",
        date=datetime.date(2022, 3, 1),
        by=alice,
    )
    money.movement_approve(movement=first, by=bob)
    second = money.disbursement_create(
        fund=fund,
        beneficiary=person,
        assistance_type="medical",
        amount="800",
        date=datetime.date(2022, 4, 1),
        by=alice,
    )
    return first, second


def shown_events(person):
    return AuditEvent.objects.filter(action=SHOWN, object_id=person.pk)


# Home: recent activity -------------------------------------------------------------------


@pytest.mark.django_db
def test_home_shows_recent_activity_linking_to_each_record(client, alice, fund, person, paid):
    client.force_login(alice)
    page = client.get("/").content.decode()
    activity = page.split('class="data activity"', 1)[1]
    first, second = paid
    assert f'href="/entries/disbursement/{first.pk}/"' in activity
    assert f'href="/entries/disbursement/{second.pk}/"' in activity
    assert f'href="/beneficiaries/{person.pk}/"' in activity
    assert "录入" in activity and "批准" in activity and "登记" in activity
    assert "alice" in activity and "bob" in activity
    assert person.id_number not in page


@pytest.mark.django_db
def test_home_shows_no_activity_from_outside_the_subtree(client, alice, dave, fund, tree):
    FundFactory(federation=tree["chengdong"], name="高温送清凉", purpose="cooling", by=dave)
    client.force_login(alice)
    assert "高温送清凉" not in client.get("/").content.decode()
    client.force_login(dave)
    theirs = client.get("/").content.decode().split('class="data activity"', 1)[1]
    assert "高温送清凉" in theirs
    assert "疫情防控专项资金" not in theirs


@pytest.mark.django_db
def test_recent_activity_costs_the_same_queries_however_many_records_it_names(client, alice, bob, fund, tree):
    client.force_login(alice)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    before = queries()
    for n in range(5):
        people.beneficiary_register(
            name=f"职工{n}", id_number=synthetic_id(20 + n), federation=tree["chengzhong"], by=alice
        )
        money.movement_approve(
            movement=money.contribution_create(fund=fund, source="donation", amount="10", by=alice), by=bob
        )
    assert queries() == before


# A beneficiary's page ----------------------------------------------------------------------


@pytest.mark.django_db
def test_beneficiary_page_masks_the_id_number_and_phone_by_default(client, alice, person, paid):
    client.force_login(alice)
    response = client.get(f"/beneficiaries/{person.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "李四" in page and person.masked_id_number in page and "138****1234" in page
    assert "男" in page and "1980-05-17" not in page and "1980" in page and "农民工" in page and "劳模" in page
    assert "城中区建筑公司" in page and "城中区总工会" in page
    # Not in the facts, and not in the history, which recorded the registration in full.
    assert person.id_number not in page and "13812341234" not in page
    assert not shown_events(person).exists()


@pytest.mark.django_db
def test_beneficiary_page_lists_the_payments_with_the_approved_total(client, alice, person, paid):
    client.force_login(alice)
    page = client.get(f"/beneficiaries/{person.pk}/").content.decode()
    first, second = paid
    assert f'href="/entries/disbursement/{first.pk}/"' in page
    assert f'href="/entries/disbursement/{second.pk}/"' in page
    assert "生活救助" in page and "医疗救助" in page
    assert "合计（已批准，冲销已扣除） 1,200.00</small>" in page  # the pending 800 is not paid yet


@pytest.mark.django_db
def test_a_clerk_shows_the_full_id_number_on_purpose_and_it_is_recorded(client, alice, person):
    client.force_login(alice)
    assert 'id="show-id-number"' in client.get(f"/beneficiaries/{person.pk}/").content.decode()
    response = client.post(f"/beneficiaries/{person.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert person.id_number in page and "13812341234" in page
    assert "查看完整身份证号码" in page  # the view is in the history straight away
    assert "no-store" in response["Cache-Control"]
    event = shown_events(person).get()
    assert event.user == alice and event.federation == person.federation
    assert person.id_number not in client.get(f"/beneficiaries/{person.pk}/").content.decode()
    assert shown_events(person).count() == 1


@pytest.mark.django_db
def test_the_button_says_what_it_does(client, alice, person):
    client.force_login(alice)
    client.cookies["django_language"] = "en"
    assert "Show the full ID number" in client.get(f"/beneficiaries/{person.pk}/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "page", "button", "show"),
    [
        ("alice", 200, True, 200),  # clerk of the person's federation
        ("carol", 200, True, 200),  # auditor of the province
        ("bob", 200, False, 403),  # approver: needs no ID numbers
        ("dave", 404, False, 404),  # clerk of the neighbouring county
    ],
)
def test_who_sees_the_page_and_the_full_id_number(client, person, alice, bob, carol, dave, who, page, button, show):
    client.force_login({"alice": alice, "bob": bob, "carol": carol, "dave": dave}[who])
    response = client.get(f"/beneficiaries/{person.pk}/")
    assert response.status_code == page
    assert ('id="show-id-number"' in response.content.decode()) is button
    response = client.post(f"/beneficiaries/{person.pk}/")
    assert response.status_code == show
    assert (person.id_number in response.content.decode()) is (show == 200)
    assert shown_events(person).count() == (1 if show == 200 else 0)


# A fund's page -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_fund_page_shows_balance_pending_outflows_available_and_entries(client, alice, fund, tree, person, paid):
    allocation = money.allocation_create(
        from_fund=fund, to_federation=tree["grassroots"], amount="2000", batch="第一批", by=alice
    )
    client.force_login(alice)
    response = client.get(f"/funds/{fund.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "城中区总工会" in page and "疫情防控" in page and "2022" in page
    assert '余额（元）</div><div class="figure">8,800.00' in page  # 10,000 less the approved 1,200
    assert '待审批支出（元）</div><div class="figure">2,800.00' in page  # 2,000 allocated, 800 to pay
    assert '可用余额（元）</div><div class="figure">6,000.00' in page
    contribution = fund.contributions.get()
    assert f'href="/entries/contribution/{contribution.pk}/"' in page
    assert f'href="/entries/allocation/{allocation.pk}/"' in page
    assert f'href="/entries/disbursement/{paid[0].pk}/"' in page
    assert f'href="/funds/{allocation.to_fund_id}/"' in page  # the recipient's fund, in alice's subtree
    assert "第一批" in page
    assert "/allocations/?q=" in page and "/contributions/?q=" in page


@pytest.mark.django_db
def test_fund_page_is_404_outside_the_subtree(client, dave, fund):
    client.force_login(dave)
    assert client.get(f"/funds/{fund.pk}/").status_code == 404


@pytest.mark.django_db
def test_an_allocation_from_above_does_not_link_to_the_senders_fund(client, dave, qinghai_2022):
    client.force_login(dave)
    page = client.get("/allocations/").content.decode()
    city = qinghai_2022["city"]
    assert "西宁市总工会" in page
    assert f'href="/funds/{city.pk}/"' not in page
    own = re.search(r'href="/funds/(\d+)/"', page)
    assert own and client.get(f"/funds/{own.group(1)}/").status_code == 200


# Links and readable histories -----------------------------------------------------------------


@pytest.mark.django_db
def test_lists_and_entries_link_to_funds_and_people(client, alice, fund, person, paid):
    client.force_login(alice)
    assert f'href="/beneficiaries/{person.pk}/"' in client.get("/beneficiaries/").content.decode()
    assert f'href="/funds/{fund.pk}/"' in client.get("/disbursements/").content.decode()
    assert f'href="/funds/{fund.pk}/"' in client.get("/funds/").content.decode()
    entry = client.get(f"/entries/disbursement/{paid[0].pk}/").content.decode()
    assert f'href="/funds/{fund.pk}/"' in entry and f'href="/beneficiaries/{person.pk}/"' in entry


@pytest.mark.django_db
def test_history_names_fields_and_values_as_people_read_them(client, alice, bob, fund, tree):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="2500", by=alice)
    money.movement_approve(movement=allocation, by=bob)
    client.force_login(alice)
    page = client.get(f"/entries/allocation/{allocation.pk}/").content.decode()
    history = page.split('class="data history"', 1)[1]
    assert "<b>金额</b>: — → 2,500.00" in history
    assert "<b>状态</b>: 待审批 → 已批准" in history
    assert "<b>拨出资金</b>: — → 城中区总工会 · 疫情防控专项资金 (2022)" in history
    assert "<b>amount</b>" not in history and "<b>status</b>" not in history and "approved" not in history
    assert "<b>备注</b>" not in history  # no note, before or after


@pytest.mark.django_db
def test_fund_and_beneficiary_histories_read_the_same_way(client, alice, fund, person):
    client.force_login(alice)
    fund_history = client.get(f"/funds/{fund.pk}/").content.decode().split('class="data history"', 1)[1]
    assert "<b>用途</b>: — → 疫情防控" in fund_history and "<b>年度</b>: — → 2022" in fund_history
    assert "<b>工会组织</b>: — → 城中区总工会" in fund_history
    page = client.get(f"/beneficiaries/{person.pk}/").content.decode()
    person_history = page.split('class="data history"', 1)[1]
    assert f"<b>身份证号码</b>: — → {person.masked_id_number}" in person_history
    assert "<b>联系电话</b>: — → 138****1234" in person_history
    assert "<b>所属工会</b>: — → 城中区总工会" in person_history
