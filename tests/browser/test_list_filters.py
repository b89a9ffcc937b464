"""A list as a finance office reads it, in a real browser: the fund picked by
typing part of its name, the 合计 under the table, a column sorted by a click."""

import datetime

import pytest

from allocations import services as money
from tests.browser.test_staff_pages import password
from tests.factories import FundFactory, approved_contribution

pytestmark = pytest.mark.browser


def amounts(browser) -> list[str]:
    return [cell.text for cell in browser.all("table.data tbody td.num")]


def test_a_clerk_picks_a_fund_by_typing_reads_the_total_and_sorts_by_amount(browser, tree, alice, bob, fund, worker):
    warmth = FundFactory(federation=tree["chengzhong"], name="送温暖资金", purpose="warmth", by=alice)
    approved_contribution(warmth, "5000", by=alice, approver=bob)
    for chosen, amount, day in [(fund, "999", 1), (warmth, "120", 2), (warmth, "80", 3), (warmth, "1500", 4)]:
        paid = money.disbursement_create(
            fund=chosen,
            beneficiary=worker,
            assistance_type="living",
            amount=amount,
            date=datetime.date(2022, 12, day),
            by=alice,
            confirm_duplicate=True,
        )
        money.movement_approve(movement=paid, by=bob)

    browser.sign_in("alice", password(alice))
    browser.visit("/disbursements/")
    assert "合计 4 条（已批准，冲销已扣除）" in browser.text("table.data tfoot")

    browser.type("#id_fund_search", "温暖")
    browser.pick_suggestion("#id_fund_suggestions", "送温暖资金 (2022) · 城中区总工会")
    browser.wait().until(lambda _: browser.one("#id_fund").get_attribute("value") == str(warmth.pk))
    browser.click_through(browser.one("form.filters button[type=submit]"))

    assert amounts(browser) == ["1,500.00", "80.00", "120.00"]
    footer = browser.text("table.data tfoot")
    assert "合计 3 条（已批准，冲销已扣除）" in footer and "1,700.00" in footer
    assert browser.one("#id_fund_search").get_attribute("value") == "送温暖资金 (2022)"
    # The total sits under the amounts, right-aligned like them.
    total_cell = browser.one("table.data tfoot tr.total td.num")
    last_amount = browser.all("table.data tbody td.num")[-1]
    right = lambda element: element.rect["x"] + element.rect["width"]  # noqa: E731
    assert abs(right(total_cell) - right(last_amount)) < 1

    browser.click_through(browser.one("table.data thead a.sort[href*='sort=amount']"))
    assert amounts(browser) == ["80.00", "120.00", "1,500.00"]
    assert "▲" in browser.text("table.data thead th[aria-sort=ascending]")
    browser.click_through(browser.one("table.data thead th[aria-sort] a.sort"))
    assert amounts(browser) == ["1,500.00", "120.00", "80.00"]
    assert f"fund={warmth.pk}" in browser.driver.current_url  # the filter held through the sorting
