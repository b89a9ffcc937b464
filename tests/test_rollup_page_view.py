"""The roll-up page as a clerk reads it: one fiscal year at a time (this one unless
she picks another, or all years), member federations with no money out of the way,
charts whose labels can be read, and what was spent by type and by month."""

import datetime
import html
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from allocations import charts, rollups
from allocations import services as money
from allocations.models import Disbursement
from tests.api_helpers import API, client_for
from tests.conftest import member
from tests.factories import FundFactory, approved_contribution
from unionfunds.models import Role
from unionfunds.services import federation_create

LONG_NAMES = ("新疆生产建设兵团总工会", "内蒙古自治区总工会")


@pytest.fixture
def auditor_client(client, carol):
    client.force_login(carol)
    return client


@pytest.fixture
def this_year() -> int:
    return timezone.localdate().year


@pytest.fixture
def this_years_fund(tree, clerk, approver, this_year):
    """城中区 raised 5,000.00 this year, beside 青海's 2022 money."""
    fund = FundFactory(federation=tree["chengzhong"], fiscal_year=this_year, by=clerk)
    approved_contribution(fund, "5000", by=clerk, approver=approver, date=datetime.date(this_year, 1, 2))
    return fund


def links(page: str) -> list[str]:
    """The page's links to roll-ups and what is behind them (the menu's "/rollup/" aside)."""
    return [html.unescape(href) for href in re.findall(r'href="(/rollup/[^"]+)"', page)]


def table(page: str) -> str:
    return re.search(r'<table class="data rollup">.*?</table>', page, re.S).group(0)


def footer(page: str) -> str:
    return re.search(r"<tfoot>.*?</tfoot>", table(page), re.S).group(0)


def chart_labels(svg: str) -> list[str]:
    """Each label of a chart as drawn: its lines put back together."""
    return [
        "".join(re.findall(r"<tspan[^>]*>(.*?)</tspan>", spans))
        for spans in re.findall(r'<text class="label"[^>]*><title>.*?</title>(.*?)</text>', svg)
    ]


def holdings_svg(page: str) -> str:
    return re.search(r'<div class="chart-box holdings">(<svg.*?</svg>)', page, re.S).group(1)


def spending_svg(page: str) -> str:
    return re.search(r'<section class="spending">.*?(<svg.*?</svg>)', page, re.S).group(1)


# The fiscal year ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_opens_on_the_current_year_and_says_so(auditor_client, qinghai_2022, this_years_fund, this_year):
    page = auditor_client.get("/rollup/").content.decode()
    assert f'青海省总工会 资金汇总 · <span class="year">{this_year} 年度</span>' in page
    assert "5,000.00" in footer(page) and "8,040,000.00" not in page
    assert re.search(rf'<option value="{this_year}" selected>{this_year}</option>', page)
    assert '<option value="2022">2022</option>' in page and '<option value="all">全部年度</option>' in page


@pytest.mark.django_db
def test_before_the_current_year_has_funds_the_page_opens_on_the_latest_that_has(
    auditor_client, qinghai_2022, this_year
):
    page = auditor_client.get("/rollup/").content.decode()
    assert '<option value="2022" selected>' in page and "2022 年度" in page
    assert "8,040,000.00" in footer(page)
    assert f'<option value="{this_year}">{this_year}</option>' in page  # still offered


@pytest.mark.django_db
def test_a_year_typed_without_funds_shows_zeros_and_says_which_year(auditor_client, qinghai_2022, this_year):
    page = auditor_client.get(f"/rollup/?fiscal_year={this_year}").content.decode()
    assert f'<option value="{this_year}" selected>' in page and f"{this_year} 年度" in page
    assert "8,040,000.00" not in page and "0.00" in footer(page)


@pytest.mark.django_db
def test_all_years_is_a_choice_that_sums_every_year(auditor_client, qinghai_2022, this_years_fund):
    page = auditor_client.get("/rollup/?fiscal_year=all").content.decode()
    assert '<span class="year">全部年度</span>' in page
    assert '<option value="all" selected>全部年度</option>' in page
    assert "8,045,000.00" in footer(page)


@pytest.mark.django_db
def test_a_chosen_year_shows_only_that_year(auditor_client, qinghai_2022, this_years_fund):
    page = auditor_client.get("/rollup/?fiscal_year=2022").content.decode()
    assert "2022 年度" in page and "8,040,000.00" in footer(page)


@pytest.mark.django_db
@pytest.mark.parametrize("asked, carried", [("", "current"), ("2022", "2022"), ("all", "all")])
def test_the_year_is_carried_into_every_link_on_the_page(
    auditor_client, qinghai_2022, this_years_fund, tree, this_year, asked, carried
):
    carried = str(this_year) if carried == "current" else carried
    query = f"?fiscal_year={asked}" if asked else ""
    page = auditor_client.get(f"/rollup/{tree['xining'].pk}/{query}").content.decode()
    found = links(page)
    kinds = {
        "breadcrumb": f"/rollup/{tree['qinghai'].pk}/?",
        "drill-down": f"/rollup/{tree['chengzhong'].pk}/?",
        "rows behind": f"/rollup/{tree['chengzhong'].pk}/disbursed/?",
        "rows behind 本级": f"/rollup/{tree['xining'].pk}/balance/?own=1&",
        "export": f"/rollup/{tree['xining'].pk}/export.xlsx?",
    }
    for kind, start in kinds.items():
        assert any(link.startswith(start) for link in found), f"no {kind} link"
    assert found and all(f"fiscal_year={carried}" in link for link in found), [
        link for link in found if f"fiscal_year={carried}" not in link
    ]


@pytest.mark.django_db
def test_following_a_link_stays_in_the_year(auditor_client, qinghai_2022, this_years_fund, tree):
    page = auditor_client.get(f"/rollup/{tree['qinghai'].pk}/?fiscal_year=all").content.decode()
    raised = next(link for link in links(page) if link.startswith(f"/rollup/{tree['qinghai'].pk}/raised/?fiscal"))
    rows = auditor_client.get(raised).content.decode()
    assert '<option value="all" selected>全部年度</option>' in rows
    assert "8,045,000.00" in rows  # both years' contributions, netted
    down = next(link for link in links(page) if link.startswith(f"/rollup/{tree['xining'].pk}/?"))
    assert "全部年度" in auditor_client.get(down).content.decode()


@pytest.mark.django_db
def test_the_export_of_all_years_says_so_and_sums_them(auditor_client, qinghai_2022, this_years_fund, tree):
    response = auditor_client.get(f"/rollup/{tree['qinghai'].pk}/export.csv?fiscal_year=all")
    text = b"".join(response.streaming_content).decode("utf-8")
    assert "年度: 全部年度" in text and "合计,8045000.00," in text


@pytest.mark.django_db
def test_the_api_roll_up_still_sums_every_year_unless_asked(qinghai_2022, this_years_fund, carol, tree):
    body = client_for(carol).get(f"{API}rollups/{tree['qinghai'].pk}/").json()
    assert body["total"]["raised"]["total"] == "8045000.00"


@pytest.mark.django_db
def test_the_year_reads_in_english_too(client, carol, qinghai_2022):
    client.force_login(carol)
    client.cookies["django_language"] = "en"
    page = client.get("/rollup/?fiscal_year=2022").content.decode()
    assert '<span class="year">Fiscal year 2022</span>' in page
    assert "All years" in page


# Member federations with no money -----------------------------------------------


@pytest.mark.django_db
def test_member_federations_with_no_money_are_hidden_with_a_count_and_a_way_to_see_them(
    auditor_client, qinghai_2022, tree
):
    page = auditor_client.get(f"/rollup/{tree['qinghai'].pk}/?fiscal_year=2022").content.decode()
    assert "西宁市总工会" in table(page) and "海东市总工会" not in page
    assert "1 个下级没有筹集、下拨、发放或结余，未列出。" in page
    toggle = re.search(r'<a href="([^"]*)">显示全部 2 个下级</a>', page)
    assert toggle and html.unescape(toggle.group(1)) == "?fiscal_year=2022&show=all"

    everything = auditor_client.get(f"/rollup/{tree['qinghai'].pk}/?fiscal_year=2022&show=all").content.decode()
    assert "海东市总工会" in table(everything)
    assert '<a href="?fiscal_year=2022">隐藏 1 个金额全为零的下级</a>' in everything


@pytest.mark.django_db
def test_hiding_rows_leaves_the_totals_as_they_were(auditor_client, qinghai_2022, tree):
    hidden = auditor_client.get(f"/rollup/{tree['xining'].pk}/?fiscal_year=2022").content.decode()
    shown = auditor_client.get(f"/rollup/{tree['xining'].pk}/?fiscal_year=2022&show=all").content.decode()
    assert "城西区总工会" not in table(hidden) and "城西区总工会" in table(shown)
    assert footer(hidden) == footer(shown)
    assert re.findall(r">([\d,]+\.\d\d)<", footer(hidden)) == [
        "5,640,000.00",  # raised
        "0.00",  # allocated out of 西宁's subtree
        "5,000.00",  # disbursed
        "5,635,000.00",  # balance
    ]


@pytest.mark.django_db
def test_a_federation_whose_every_member_is_empty_says_how_many_there_are(auditor_client, qinghai_2022, tree):
    page = auditor_client.get(f"/rollup/{tree['xining'].pk}/?fiscal_year=2021").content.decode()
    assert "3 个下级没有筹集、下拨、发放或结余，未列出。" in page and "显示全部 3 个下级" in page


# The chart of disbursed and balance ---------------------------------------------


@pytest.mark.django_db
def test_money_held_at_the_federation_itself_is_a_bar_labelled_own_level(auditor_client, qinghai_2022, tree):
    page = auditor_client.get(f"/rollup/{tree['qinghai'].pk}/?fiscal_year=2022").content.decode()
    svg = holdings_svg(page)
    assert chart_labels(svg) == ["本级", "西宁市总工会"]
    assert "<title>本级 · 余额: 2,400,000.00</title>" in svg


@pytest.mark.django_db
def test_each_chart_is_drawn_for_a_desk_and_for_a_phone_with_the_same_bars(auditor_client, qinghai_2022, tree):
    page = auditor_client.get(f"/rollup/{tree['qinghai'].pk}/?fiscal_year=2022").content.decode()
    for box in ('<div class="chart-box holdings">', '<section class="spending">'):
        desk, phone = re.findall(r"<svg.*?</svg>", page[page.index(box) :], re.S)[:2]
        assert 'class="chart desk"' in desk and 'width="900"' in desk
        assert 'class="chart phone"' in phone and 'width="340"' in phone
        assert chart_labels(phone) == chart_labels(desk)
        assert re.findall(r"<title>(.*?)</title>", phone) == re.findall(r"<title>(.*?)</title>", desk)


@pytest.mark.django_db
def test_a_chart_of_money_held_only_at_the_federation_itself_is_not_empty(auditor_client, tree, clerk, approver):
    fund = FundFactory(federation=tree["qinghai"], by=clerk)
    approved_contribution(fund, "2600000", by=clerk, approver=approver)
    page = auditor_client.get(f"/rollup/{tree['qinghai'].pk}/?fiscal_year=2022").content.decode()
    assert chart_labels(holdings_svg(page)) == ["本级"]


@pytest.fixture
def long_named(tree, clerk, approver):
    """Two provinces with long names, each holding money."""
    for code, name in zip(("65-B", "15"), LONG_NAMES, strict=True):
        federation = federation_create(code=code, name=name, level="province", parent=tree["nation"])
        approved_contribution(FundFactory(federation=federation, by=clerk), "1000", by=clerk, approver=approver)
    return member("nat-auditor", tree["nation"], Role.AUDITOR)


@pytest.mark.django_db
def test_long_federation_names_are_in_the_chart_in_full(client, tree, long_named):
    client.force_login(long_named)
    page = client.get(f"/rollup/{tree['nation'].pk}/?fiscal_year=2022").content.decode()
    svg = holdings_svg(page)
    assert set(LONG_NAMES) <= set(chart_labels(svg))
    for name in LONG_NAMES:
        assert f"<title>{name}</title>" in svg


def test_a_label_longer_than_its_column_wraps_without_losing_a_character():
    name = "中国石油天然气集团有限公司青海油田分公司采油一厂第三作业区工会委员会"
    svg = charts.grouped_bars(
        [charts.Bar(name, (Decimal("1.00"), Decimal("2.00")))], series=("发放", "结余"), colours=("#000", "#111")
    )
    lines = re.findall(r"<tspan[^>]*>(.*?)</tspan>", svg)
    assert len(lines) > 1 and "".join(lines) == name
    column = float(re.search(r'<rect x="([\d.]+)" y="[\d.]+" width="[\d.]+" height="12"', svg).group(1))
    assert all(charts.text_width(line) <= column for line in lines)  # each line fits left of the bars


# What was spent, by assistance type and month -----------------------------------


@pytest.fixture
def spent(qinghai_2022, tree, clerk, approver):
    """On top of 青海's 2022 payments (3 × 1,000.00 living aid in April in 城中区,
    2,000.00 medical aid in May in 城东区): 500.00 education aid in April, and one
    April living-aid payment reversed today."""
    fund = Disbursement.objects.filter(assistance_type="living").first().fund
    education = money.disbursement_create(
        fund=fund,
        beneficiary=qinghai_2022["workers"][1],
        assistance_type="education",
        amount="500",
        date=datetime.date(2022, 4, 20),
        by=clerk,
    )
    money.movement_approve(movement=education, by=approver)
    living = Disbursement.objects.filter(assistance_type="living").first()
    reversal = money.movement_reverse(movement=living, by=clerk, reason="paid twice")  # dated today
    money.movement_approve(movement=reversal, by=approver)


@pytest.mark.django_db
def test_spending_is_summed_by_type_and_month_net_of_reversals(auditor_client, spent, tree):
    page = auditor_client.get(f"/rollup/{tree['xining'].pk}/?fiscal_year=2022").content.decode()
    section = re.search(r'<section class="spending">.*?</section>', page, re.S).group(0)
    rows = re.findall(r"<td>(.*?)</td><td class=\"num\">([\d,.]+)</td>", section)
    assert rows == [("生活救助", "2,000.00"), ("医疗救助", "2,000.00"), ("子女助学", "500.00")]
    assert '<th>合计</th><td class="num">4,500.00</td>' in section
    svg = spending_svg(page)
    assert chart_labels(svg) == ["2022-04", "2022-05"]  # the reversal counts in April, not today
    assert ">2,500.00</text>" in svg and ">2,000.00</text>" in svg
    assert "<title>2022-04 · 生活救助: 2,000.00</title>" in svg
    assert "<title>2022-04 · 子女助学: 500.00</title>" in svg
    assert "5,000.00" not in section
    assert "4,500.00" in footer(page)  # what the roll-up counts as disbursed


@pytest.mark.django_db
def test_spending_follows_the_subtree_and_the_filters(spent, tree):
    city = rollups.spending(tree["xining"], rollups.Filters(fiscal_year=2022))
    assert city.by_month == {
        datetime.date(2022, 4, 1): Decimal("2500.00"),
        datetime.date(2022, 5, 1): Decimal("2000.00"),
    }
    assert city.total == rollups.rollup(tree["xining"], rollups.Filters(fiscal_year=2022)).total.disbursed
    county = rollups.spending(tree["chengdong"], rollups.Filters(fiscal_year=2022))
    assert county.by_type == {"medical": Decimal("2000.00")}
    living = rollups.spending(tree["xining"], rollups.Filters(fiscal_year=2022, assistance_type="living"))
    assert living.total == Decimal("2000.00")
    assert rollups.spending(tree["xining"], rollups.Filters(fiscal_year=2021)).total == Decimal("0.00")
    may = rollups.spending(tree["xining"], rollups.Filters(date_from=datetime.date(2022, 5, 1)))
    assert may.by_month == {datetime.date(2022, 5, 1): Decimal("2000.00")}


@pytest.mark.django_db
def test_a_year_without_payments_says_nothing_was_disbursed(auditor_client, qinghai_2022, tree):
    page = auditor_client.get(f"/rollup/{tree['xining'].pk}/?fiscal_year=2021").content.decode()
    assert "按所选条件没有发放。" in page
