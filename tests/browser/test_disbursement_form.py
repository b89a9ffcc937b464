"""The disbursement form in a real Chromium: a worker's fields or a unit's, one
kind at a time, and a hospital paid."""

import pytest

from allocations.models import Disbursement
from tests.browser.test_staff_pages import password

pytestmark = pytest.mark.browser


def shown(browser, name: str) -> bool:
    return browser.one(f"[name='{name}']").is_displayed()


def test_choosing_a_unit_shows_the_units_fields_and_pays_the_hospital(browser, alice, fund, hospital):
    browser.sign_in("alice", password(alice))
    browser.visit("/entries/new/disbursement/")
    assert shown(browser, "id_number") and shown(browser, "phone") and not shown(browser, "unit")
    assert "confirm_duplicate" not in browser.driver.page_source

    browser.one("input[name='recipient_kind'][value='unit']").click()
    assert shown(browser, "unit") and shown(browser, "new_unit_name")
    assert not shown(browser, "id_number") and not shown(browser, "name") and not shown(browser, "employer")

    browser.choose("select[name='fund']", str(fund.pk))
    browser.choose("select[name='unit']", str(hospital.pk))
    browser.choose("select[name='assistance_type']", "medical")
    browser.type("#id_amount", "3000")
    browser.until_text(".capitals", "叁仟元整")
    browser.snap("unit-payment")
    browser.click_through(browser.one("form.entry button[type='submit']"))
    browser.until_text("dl.facts", "城中区人民医院")
    assert Disbursement.objects.get().unit == hospital
    assert "叁仟元整" in browser.text("dl.facts")
