"""A clerk learns in the app that her entry was rejected: the 通知 count in the menu,
the notice with the approver's reason, and its link to the entry."""

import pytest

from allocations import services as money
from allocations.models import Notification
from tests.browser.test_staff_pages import password

pytestmark = pytest.mark.browser


def test_a_clerk_sees_the_rejection_of_her_entry_and_opens_it(browser, alice, bob, fund, tree):
    Notification.objects.all().delete()  # the fund's opening contribution was approved: no news here
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="3000", by=alice)

    # The approver is told it waits, and rejects it on its page with a reason.
    browser.sign_in("bob", password(bob))
    assert browser.text("nav.main a[href='/notifications/'] .badge") == "1"
    browser.visit(f"/entries/allocation/{allocation.pk}/")
    browser.type("form.actions textarea[name=reason]", "金额有误，请按批文金额录入")
    browser.click_through(browser.one("form.actions button[name=action][value=reject]"))
    assert "已驳回。" in browser.text(".messages")
    assert browser.all("nav.main a[href='/notifications/'] .badge") == []  # his notice of it is settled

    # The clerk sees the count on every page, opens the notice and lands on the entry.
    browser.sign_out().sign_in("alice", password(alice))
    assert browser.text("nav.main a[href='/notifications/'] .badge") == "1"
    browser.click_through(browser.one("nav.main a[href='/notifications/']"))
    browser.until_text("h1", "通知")
    (row,) = browser.all("table.notifications tbody tr.unread")
    assert "未读" in row.text and "bob：驳回" in row.text and "金额有误，请按批文金额录入" in row.text
    browser.click_through(browser.one("a", row))

    assert browser.path == f"/entries/allocation/{allocation.pk}/"
    assert "已驳回" in browser.text("h1") and "金额有误，请按批文金额录入" in browser.text("dl.facts")
    assert browser.all("nav.main a[href='/notifications/'] .badge") == []
    browser.click_through(browser.one("nav.main a[href='/notifications/']"))
    assert browser.all("table.notifications tbody tr.unread") == [] and len(browser.all("tr.read")) == 1
