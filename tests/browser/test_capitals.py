"""The amount in Chinese capitals (大写) as a clerk types it, and an entry printed
as a voucher, in a real Chromium."""

import pytest

from allocations import services as money
from tests.browser.test_staff_pages import open_allocation_form, password

pytestmark = pytest.mark.browser


def test_the_amount_is_echoed_in_capitals_as_it_is_typed(browser, alice, fund):
    browser.sign_in("alice", password(alice))
    open_allocation_form(browser)
    assert browser.one(".capitals-label").is_displayed() is False

    browser.type("#id_amount", "107000.53")
    browser.until_text(".capitals", "壹拾万柒仟元零伍角叁分")
    assert browser.one(".capitals-label").is_displayed() and browser.text(".capitals-label") == "大写："

    browser.type("#id_amount", "1000.005")
    words = browser.until_text(".capitals", "两位小数")
    assert "bad" in words.get_attribute("class") and not browser.one(".capitals-label").is_displayed()

    browser.one("#id_amount").clear()
    browser.one("#id_amount").send_keys("2")
    browser.until_text(".capitals", "贰元整")
    browser.snap("capitals")


def test_an_entry_prints_as_a_voucher_without_the_site_around_it(browser, alice, fund, tree):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="1680.32", by=alice)
    browser.sign_in("alice", password(alice))
    browser.visit(f"/entries/allocation/{allocation.pk}/")
    assert "壹仟陆佰捌拾元零叁角贰分" in browser.text("dl.facts")
    assert browser.one("header.top").is_displayed()

    browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not browser.one("header.top").is_displayed()
        assert browser.one("dl.facts").is_displayed()
        assert "壹仟陆佰捌拾元零叁角贰分" in browser.text("dl.facts")
        assert all(not form.is_displayed() for form in browser.all("form.actions"))
    finally:
        browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
