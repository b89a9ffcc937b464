"""The hardship archive in a real Chromium, in Chinese and in English: a clerk
files a household of three through the filing page (a member row removed and
one added by unionfunds.js), an approver admits it from her queue, the clerk
asks to close it as out of hardship, the approver approves, and the list's
脱困跟踪 view shows it."""

from decimal import Decimal

import pytest
from django.utils import timezone

from beneficiaries.archive_models import ArchiveEntry, ArchiveStatus, DibaoLine
from tests.browser.test_staff_pages import password
from tests.conftest import synthetic_id

pytestmark = pytest.mark.browser

WORDS = {
    "zh-hans": {
        "filed": "已提交建档，等待审批。",
        "approved": "已批准。",
        "closing": "已申请销档，等待审批。",
        "open": "在档",
        "closed": "已销档",
        "follow_up": "脱困跟踪",
    },
    "en": {
        "filed": "Filed. The entry now waits for an approver.",
        "approved": "Approved.",
        "closing": "Closing asked for. It now waits for an approver.",
        "open": "In the archive",
        "closed": "Closed",
        "follow_up": "Out of hardship, followed up",
    },
}


def row_of(browser, box_id: str):
    return browser.one(f"#{box_id}").find_element("xpath", "./ancestor::tr")


def sign_in(browser, user, language: str) -> None:
    browser.sign_in(user.username, password(user))
    if browser.language != language:
        browser.switch_language(language)
    assert browser.language == language


def approve_waiting(browser, approver, language: str, entry_pk: int) -> None:
    """The approver opens her queue, follows the entry's link and approves what waits."""
    sign_in(browser, approver, language)
    browser.click_through(browser.one("nav.main a[href='/approvals/']"))
    browser.click_through(browser.one(f"table.archive-changes a[href='/archive/{entry_pk}/']"))
    browser.click_through(browser.one("form.decide button[value=approve]"))
    assert WORDS[language]["approved"] in browser.text(".messages")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_household_is_filed_admitted_closed_and_followed_up(browser, tree, alice, bob, language):
    DibaoLine.objects.create(federation=tree["xining"], year=timezone.localdate().year, monthly=Decimal("840.00"))
    words = WORDS[language]

    # 1. The clerk files 王家: two members in the first rows, the child in a row she added.
    sign_in(browser, alice, language)
    browser.click_through(browser.one("nav.main a[href='/archive/']"))
    browser.click_through(browser.one("a[href='/archive/new/']"))
    browser.type("#id_address", "城中区幸福路1号")
    browser.type("#id_members-0-name", "王大明")
    browser.type("#id_members-0-id_number", synthetic_id(11))
    browser.type("#id_members-1-name", "李秀英")
    browser.type("#id_members-1-id_number", synthetic_id(12))
    browser.choose("#id_members-1-relation", "spouse")
    for box in ("id_members-3-name", "id_members-2-name"):
        row_of(browser, box).find_element("css selector", "[data-remove-row]").click()
    assert len(browser.all("table.members tbody tr")) == 2
    browser.one("[data-add-row=members]").click()
    browser.wait().until(lambda _: browser.all("#id_members-4-name"), message="no row added")
    browser.type("#id_members-4-name", "王小明")
    browser.type("#id_members-4-id_number", synthetic_id(13))
    browser.choose("#id_members-4-relation", "child")
    browser.choose("#id_tier", "deep")
    browser.type("#id_income_per_head", "520")
    browser.one("input[name=causes][value=illness]").click()
    browser.click_through(browser.one("form.filing button.primary"))

    entry = ArchiveEntry.objects.get()
    assert browser.path == f"/archive/{entry.pk}/"
    assert words["filed"] in browser.text(".messages")
    members = browser.text("table.members")
    assert "王大明 (6301**********" in members and "王小明" in members and synthetic_id(13) not in members
    assert [m.name for m in entry.household.members.order_by("pk")] == ["王大明", "李秀英", "王小明"]
    assert "840.00" in browser.text("dl.facts")

    # 2. The approver admits it from her queue.
    browser.sign_out()
    approve_waiting(browser, bob, language, entry.pk)
    assert words["open"] in browser.text("h1")
    entry.refresh_from_db()
    assert entry.status == ArchiveStatus.OPEN

    # 3. The clerk asks to close it: the family is out of hardship.
    browser.sign_out()
    sign_in(browser, alice, language)
    browser.visit(f"/archive/{entry.pk}/")
    browser.one("#id_close-reason").find_element("xpath", "./ancestor::details/summary").click()
    browser.choose("#id_close-reason", "out_of_hardship")
    browser.click_through(browser.one("#id_close-reason").find_element("xpath", "./ancestor::form//button"))
    assert words["closing"] in browser.text(".messages")

    # 4. The approver approves the closing; the list's follow-up view shows the family.
    browser.sign_out()
    approve_waiting(browser, bob, language, entry.pk)
    assert words["closed"] in browser.text("h1")
    browser.click_through(browser.one("nav.main a[href='/archive/']"))
    browser.click_through(browser.one("nav.archive-views a[href*='view=follow_up']"))
    assert words["follow_up"] in browser.text("h1")
    assert entry.number in browser.text("table.archive") and "王大明" in browser.text("table.archive")
    entry.refresh_from_db()
    assert (entry.status, entry.close_reason) == (ArchiveStatus.CLOSED, "out_of_hardship")
