"""What a finance office asks of a list: its 合计, who and which fund it is
about, and the order it reads in; the export holds the same rows in the same order."""

import csv
import datetime
import io
import re
from decimal import Decimal

import pytest

from allocations import services as money
from tests.conftest import member
from tests.factories import FundFactory, approved_contribution
from unionfunds.models import Role


def tfoot(page: str) -> str:
    assert "<tfoot>" in page, "no totals under the table"
    return re.sub(r"\s+", " ", page.split("<tfoot>", 1)[1].split("</tfoot>", 1)[0])


def amounts_in_order(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<td class="num">−?([\d,]+\.\d\d)</td>', body)


def pay(fund, person, amount: str, *, by, approver=None, day: int = 1, assistance_type: str = "living"):
    paid = money.disbursement_create(
        fund=fund,
        beneficiary=person,
        assistance_type=assistance_type,
        amount=amount,
        date=datetime.date(2022, 3, day),
        by=by,
        confirm_duplicate=True,  # the same person again and again: these tests are about the list
    )
    if approver is not None:
        money.movement_approve(movement=paid, by=approver)
    return paid


@pytest.fixture
def payments(fund, worker, alice, bob):
    """300 approved; 200 approved and reversed; 50 waiting: 300.00 approved in all, 50.00 pending."""
    pay(fund, worker, "300", by=alice, approver=bob, day=1)
    reversed_payment = pay(fund, worker, "200", by=alice, approver=bob, day=2)
    reversal = money.movement_reverse(movement=reversed_payment, by=alice, reason="重复发放")
    money.movement_approve(movement=reversal, by=bob)
    pay(fund, worker, "50", by=alice, day=3)


@pytest.mark.django_db
def test_the_total_counts_every_filtered_row_and_subtracts_reversals(client, alice, payments):
    client.force_login(alice)
    totals = tfoot(client.get("/disbursements/").content.decode())
    assert "合计 4 条（已批准，冲销已扣除）" in totals
    assert '<td class="num">300.00</td>' in totals
    assert "待审批（未计入合计）" in totals and '<td class="num">50.00</td>' in totals
    assert "本页小计" not in totals  # one page: the total is the page's

    approved_only = tfoot(client.get("/disbursements/?status=approved").content.decode())
    assert "合计 3 条" in approved_only and "待审批" not in approved_only


@pytest.mark.django_db
def test_a_long_list_shows_the_page_subtotal_beside_the_total_of_all_pages(client, alice, bob, rich_fund, worker):
    for day in range(1, 26):
        pay(rich_fund, worker, "10", by=alice, approver=bob, day=day)
        pay(rich_fund, worker, "1", by=alice, approver=bob, day=day)
    pay(rich_fund, worker, "1000", by=alice, approver=bob, day=28)  # the newest: first on page 1
    client.force_login(alice)
    first = tfoot(client.get("/disbursements/").content.decode())
    assert "合计 51 条" in first and '<td class="num">1,275.00</td>' in first
    # Newest first, the later of a day's two first: page 1 is 1,000 + 24 × 11 + 1,
    # page 2 the first day's 10.00.
    assert '本页小计（已批准，冲销已扣除）</td><td class="num">1,265.00</td>' in first
    second = tfoot(client.get("/disbursements/?page=2").content.decode())
    assert '本页小计（已批准，冲销已扣除）</td><td class="num">10.00</td>' in second
    assert '<td class="num">1,275.00</td>' in second


@pytest.mark.django_db
def test_the_funds_list_totals_balance_and_what_is_available(client, alice, bob, fund, worker):
    pay(fund, worker, "400", by=alice, day=1)  # pending: reserved, so not available
    client.force_login(alice)
    totals = tfoot(client.get("/funds/").content.decode())
    assert "合计 1 项资金" in totals
    assert '<td class="num">10,000.00</td><td class="num">9,600.00</td>' in totals


@pytest.mark.django_db
def test_the_federation_filter_takes_the_federation_and_those_below_it(client, tree, alice, fund, payments):
    money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="1000", batch="第二批", by=alice)
    client.force_login(alice)
    grassroots, county = tree["grassroots"].pk, tree["chengzhong"].pk
    # The allocation is the recipient's too; the payments are 城中区's own, not its union's.
    assert "第二批" in client.get(f"/allocations/?federation={grassroots}").content.decode()
    assert "第二批" in client.get(f"/allocations/?federation={county}").content.decode()
    assert "合计 4 条" in tfoot(client.get(f"/disbursements/?federation={county}").content.decode())
    below = client.get(f"/disbursements/?federation={grassroots}").content.decode()
    assert "<tfoot>" not in below and "张三" not in below.split("<tbody>", 1)[1]
    # The box shows the picked federation by name, to change it by typing.
    assert 'value="城中区建筑公司工会"' in below


@pytest.mark.django_db
def test_the_fund_filter_takes_one_fund_and_refuses_a_neighbours(client, tree, alice, bob, dave, fund, worker):
    relief = FundFactory(federation=tree["chengzhong"], name="送温暖资金", purpose="warmth", by=alice)
    approved_contribution(relief, "5000", by=alice, approver=bob)
    pay(fund, worker, "300", by=alice, day=1)
    pay(relief, worker, "77", by=alice, day=2)
    client.force_login(alice)
    page = client.get(f"/disbursements/?fund={relief.pk}").content.decode()
    assert amounts_in_order(page) == ["77.00"] and 'value="送温暖资金 (2022)"' in page

    neighbours = FundFactory(federation=tree["chengdong"], name="城东区送温暖资金", by=dave)
    refused = client.get(f"/disbursements/?fund={neighbours.pk}")
    assert refused.status_code == 200
    text = refused.content.decode()
    assert "城东区送温暖资金" not in text and "选择一个有效的选项" in text


@pytest.mark.django_db
def test_the_clerk_filter_finds_one_clerks_entries_and_suggests_the_subtrees_clerks(
    client, tree, alice, bob, dave, fund, worker
):
    erin = member("erin", tree["chengzhong"], Role.CLERK)
    erin.last_name, erin.first_name = "王", "小红"
    erin.save()
    pay(fund, worker, "300", by=alice, day=1)
    pay(fund, worker, "66", by=erin, day=2)
    client.force_login(alice)
    assert amounts_in_order(client.get("/disbursements/?entered_by=erin").content.decode()) == ["66.00"]
    assert amounts_in_order(client.get("/disbursements/?entered_by=王小红").content.decode()) == ["66.00"]
    assert amounts_in_order(client.get("/disbursements/?entered_by=ALICE").content.decode()) == ["300.00"]
    suggested = client.get("/disbursements/").content.decode().split('id="id_entered_by_options"', 1)[1]
    suggested = suggested.split("</datalist>", 1)[0]
    assert '"alice"' in suggested and '"erin"' in suggested and "dave" not in suggested


@pytest.mark.django_db
def test_a_column_header_sorts_the_list_and_a_second_click_turns_it_round(client, alice, bob, fund, worker):
    for day, amount in [(1, "20"), (2, "300"), (3, "5")]:
        pay(fund, worker, amount, by=alice, approver=bob, day=day)
    client.force_login(alice)
    assert amounts_in_order(client.get("/disbursements/").content.decode()) == ["5.00", "300.00", "20.00"]
    ascending = client.get("/disbursements/?sort=amount").content.decode()
    assert amounts_in_order(ascending) == ["5.00", "20.00", "300.00"]
    assert 'aria-sort="ascending"><a href="?sort=-amount" class="sort">金额（元） ▲</a>' in ascending
    descending = client.get("/disbursements/?sort=-amount").content.decode()
    assert amounts_in_order(descending) == ["300.00", "20.00", "5.00"]
    assert 'aria-sort="descending"><a href="?sort=amount" class="sort">金额（元） ▼</a>' in descending
    # Filtering keeps the order; the order keeps the filters.
    assert '<input type="hidden" name="sort" value="-amount">' in descending
    filtered = client.get("/disbursements/?status=approved&sort=date").content.decode()
    assert 'href="?status=approved&amp;sort=-date"' in filtered


@pytest.mark.django_db
def test_the_export_holds_the_rows_in_the_order_the_page_showed(client, alice, bob, fund, worker):
    for day, amount in [(1, "20"), (2, "300"), (3, "5")]:
        pay(fund, worker, amount, by=alice, approver=bob, day=day)
    client.force_login(alice)
    response = client.get("/disbursements/export.csv?sort=amount")
    text = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    header = next(i for i, row in enumerate(rows) if row and row[0] == "编号")
    amount = rows[header].index("金额（元）")
    listed = [Decimal(row[amount]) for row in rows[header + 1 :] if row and row[0].isdigit()]
    assert listed == [Decimal("5.00"), Decimal("20.00"), Decimal("300.00")]
    assert any("排序: 金额" in cell for row in rows[:header] for cell in row)


@pytest.mark.django_db
def test_the_funds_list_sorts_by_balance(client, tree, alice, bob, fund):
    small = FundFactory(federation=tree["chengzhong"], name="送温暖资金", purpose="warmth", by=alice)
    approved_contribution(small, "5", by=alice, approver=bob)
    client.force_login(alice)
    page = client.get("/funds/?sort=balance").content.decode()
    assert page.index("送温暖资金") < page.index("疫情防控专项资金</a>")
    page = client.get("/funds/?sort=-balance").content.decode()
    assert page.index("疫情防控专项资金</a>") < page.index("送温暖资金")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "federation=99999999999999999999999",
        "federation=１２",
        "fund=-1",
        "fund=1e400",
        "sort=amount,amount,pk,-pk,date,status",
        "sort=password",
        "entered_by=" + "名" * 5000,
    ],
)
def test_odd_filters_get_the_list_with_the_error_beside_the_filters(client, alice, payments, query):
    client.force_login(alice)
    response = client.get(f"/disbursements/?{query}")
    assert response.status_code == 200
    assert client.get(f"/disbursements/export.csv?{query}").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["federation=%00", "sort=%00", "entered_by=%00", "fund=1%002"])
def test_nul_bytes_in_a_filter_are_refused_with_a_400_in_chinese(client, alice, payments, query):
    client.force_login(alice)
    for url in (f"/disbursements/?{query}", f"/disbursements/export.csv?{query}", "/funds/search/?q=%00"):
        response = client.get(url)
        assert response.status_code == 400
        assert "请求" in response.content.decode()


@pytest.mark.django_db
def test_the_fund_search_answers_only_the_users_funds(client, tree, alice, dave, fund):
    FundFactory(federation=tree["chengdong"], name="城东区疫情防控专项资金", by=dave)
    client.force_login(alice)
    found = client.get("/funds/search/?q=疫情").json()["results"]
    assert [r["label"] for r in found] == ["疫情防控专项资金 (2022) · 城中区总工会"]
    assert found[0]["id"] == fund.pk
    assert client.get("/funds/search/?q=").json() == {"results": []}
    assert client.get("/funds/search/?q=城东").json() == {"results": []}
