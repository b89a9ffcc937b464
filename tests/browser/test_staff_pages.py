"""The staff pages in a real browser (headless Chromium): signing in through the
login form, the federation search and the ID-number check run by unionfunds.js,
the approval queue, what an auditor can and cannot reach, the language switch.

The browser asks for English (Accept-Language en-US); the pages are Chinese all
the same until the user switches, as clerks expect."""

from decimal import Decimal

import pytest

from allocations import services as money
from allocations.models import Allocation, Disbursement, Fund, Status
from beneficiaries.models import Beneficiary
from tests.conftest import synthetic_id

pytestmark = pytest.mark.browser

GRASSROOTS = "城中区建筑公司工会"
FUND = ("城中区总工会", "疫情防控专项资金")
EDITING_LINKS = "a[href^='/entries/new/'], a[href^='/approvals/'], a[href^='/admin/']"


def password(user) -> str:
    return "pw-" + user.username


def open_allocation_form(browser):
    browser.click_through(browser.one("nav.main a[href='/entries/new/allocation/']"))
    browser.until_text("h1", "录入资金下拨" if browser.language == "zh-hans" else "New allocation")


def pick_federation(browser, typed: str, name: str, federation) -> None:
    """Type into the federation search, then click the suggestion, as a clerk does."""
    browser.type("#to_federation_search", typed)
    label = f"{name} ({federation.code}) · {federation.parent.name}"  # the parent tells apart the many 城中区
    browser.pick_suggestion("#to_federation_suggestions", label, typed)
    browser.wait().until(lambda _: browser.one("#id_to_federation").get_attribute("value") == str(federation.pk))
    browser.wait().until(lambda _: not browser.all("#to_federation_suggestions li"), message="suggestions stay open")
    assert browser.one("#to_federation_search").get_attribute("value") == name


def test_a_clerk_allocates_through_the_search_and_an_approver_approves_it(browser, alice, bob, fund, tree):
    # 1. The clerk signs in, allocates 2,500 to a grassroots union picked from the suggestions.
    browser.sign_in("alice", password(alice))
    assert browser.language == "zh-hans"
    assert browser.funds_on_home()[FUND] == ("10,000.00", "10,000.00")

    open_allocation_form(browser)
    browser.choose("#id_from_fund", str(fund.pk))
    assert "10,000.00" in browser.one("#id_from_fund option:checked").text
    pick_federation(browser, "建筑", GRASSROOTS, tree["grassroots"])
    browser.type("#id_amount", "2500")
    browser.type("#id_batch", "第一批")
    browser.click_through(browser.one("form.entry button.primary"))

    allocation = Allocation.objects.get()
    assert browser.path == f"/entries/allocation/{allocation.pk}/"
    assert "已保存，等待审批。" in browser.text(".messages")
    assert (allocation.status, allocation.to_federation, allocation.amount) == (
        Status.PENDING,
        tree["grassroots"],
        Decimal("2500.00"),
    )

    browser.click_through(browser.one("a.brand"))
    assert browser.funds_on_home()[FUND] == ("10,000.00", "7,500.00")  # reserved, not yet paid

    # 2. The approver signs in, ticks it in the queue and approves it.
    browser.sign_out().sign_in("bob", password(bob))
    browser.click_through(browser.one("nav.main a[href='/approvals/']"))
    tick = browser.one(f"input[name=allocation][value='{allocation.pk}']")
    assert GRASSROOTS in browser.text("table.data")
    tick.click()
    assert tick.is_selected()
    browser.click_through(browser.one("button[name=action][value=approve]"))
    assert browser.path == "/approvals/"
    assert "已处理 1 笔。" in browser.text(".messages")
    assert browser.all(f"input[name=allocation][value='{allocation.pk}']") == []

    browser.click_through(browser.one("a.brand"))
    on_home = browser.funds_on_home()
    assert on_home[FUND] == ("7,500.00", "7,500.00")
    assert on_home[GRASSROOTS, GRASSROOTS + "疫情防控专项资金"] == ("2,500.00", "2,500.00")

    allocation.refresh_from_db()
    fund.refresh_from_db()
    assert allocation.status == Status.APPROVED and allocation.decided_by == bob
    assert (fund.balance, fund.available) == (Decimal("7500.00"), Decimal("7500.00"))
    assert allocation.to_fund.balance == Decimal("2500.00")


def test_an_approver_rejects_on_the_entry_page_with_a_reason(browser, alice, bob, fund, tree):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="3000", by=alice)
    browser.sign_in("bob", password(bob))
    browser.visit(f"/entries/allocation/{allocation.pk}/")
    assert "待审批" in browser.text("h1")
    browser.type("form.actions textarea[name=reason]", "金额有误")
    browser.click_through(browser.one("form.actions button[name=action][value=reject]"))

    assert browser.path == f"/entries/allocation/{allocation.pk}/"
    assert "已驳回。" in browser.text(".messages")
    assert "已驳回" in browser.text("h1") and "金额有误" in browser.text("dl.facts")
    assert browser.all("form.actions button") == []
    allocation.refresh_from_db()
    fund.refresh_from_db()
    assert (allocation.status, allocation.rejection_reason) == (Status.REJECTED, "金额有误")
    assert fund.available == Decimal("10000.00")


def test_overdrawing_shows_the_chinese_error_next_to_the_amount_and_saves_nothing(browser, alice, fund, tree):
    browser.sign_in("alice", password(alice))
    open_allocation_form(browser)
    browser.choose("#id_from_fund", str(fund.pk))
    pick_federation(browser, "630103-G", GRASSROOTS, tree["grassroots"])
    browser.type("#id_amount", "10000.01")
    browser.click_through(browser.one("form.entry button.primary"))

    assert browser.path == "/entries/new/allocation/"
    amount_field = browser.one("#id_amount").find_element("xpath", "./ancestor::div[contains(@class, 'field')]")
    assert "has-error" in amount_field.get_attribute("class")
    assert (
        browser.one(".error", amount_field).text
        == "资金不足：疫情防控专项资金 可用余额 10,000.00 元，需要 10,000.01 元。"
    )
    assert [field.find_element("css selector", "label").text for field in browser.all(".field.has-error")] == [
        "金额（元）"
    ]
    # What was typed is still there, the chosen recipient too.
    assert browser.one("#id_amount").get_attribute("value") == "10000.01"
    assert browser.one("#to_federation_search").get_attribute("value") == GRASSROOTS

    assert Allocation.objects.count() == 0
    assert not Fund.objects.filter(federation=tree["grassroots"]).exists()
    fund.refresh_from_db()
    assert (fund.balance, fund.available) == (Decimal("10000.00"), Decimal("10000.00"))
    browser.click_through(browser.one("a.brand"))
    assert browser.funds_on_home()[FUND] == ("10,000.00", "10,000.00")


def assert_nothing_to_change(browser) -> None:
    """No link to an entry form, the queue or the admin; no form that posts
    anything but signing out and the language."""
    assert browser.all(EDITING_LINKS) == [], f"{browser.path} offers {browser.all(EDITING_LINKS)[0].text!r}"
    posting = {
        form.get_attribute("action").removeprefix(browser.base_url)
        for form in browser.all("form")
        if (form.get_attribute("method") or "get").lower() == "post"
    }
    assert posting <= {"/accounts/logout/", "/i18n/setlang/"}, f"{browser.path} posts to {posting}"
    # The menu's fold on a phone is a box outside every form: it posts nothing.
    assert browser.all("button[name=action], input[type=checkbox]:not(.menu-toggle)") == []


def test_an_auditor_reads_everything_and_can_change_nothing(browser, carol, qinghai_2022):
    browser.sign_in("carol", password(carol))
    assert "资金汇总" in [link.text for link in browser.all("nav.main a")]
    funds = browser.funds_on_home()
    assert funds["青海省总工会", "疫情防控专项资金"] == ("2,400,000.00", "2,400,000.00")
    assert funds["城中区总工会", "城中区总工会疫情防控专项资金"] == ("497,000.00", "497,000.00")
    assert_nothing_to_change(browser)

    browser.click_through(browser.one("nav.main a[href='/rollup/']"))
    assert "青海省总工会" in browser.text("h1")
    browser.choose("#id_fiscal_year", "2022")  # the page opens on this year; the money is of 2022
    browser.click_through(browser.one("form.filters button[type=submit]"))
    assert_nothing_to_change(browser)
    browser.click_through(browser.one("table.rollup tbody tr:not(.own) td:first-child a"))
    assert "西宁市总工会" in browser.text("h1")
    assert_nothing_to_change(browser)

    allocation = Allocation.objects.get(to_federation__code="630103")
    browser.visit(f"/entries/allocation/{allocation.pk}/")
    assert "500,000.00" in browser.text("dl.facts")
    assert "操作记录" in browser.text("main")
    assert browser.all("table.data tbody tr")  # the history is there to read
    assert_nothing_to_change(browser)

    for path in (
        "/entries/new/contribution/",
        "/entries/new/allocation/",
        "/entries/new/disbursement/",
        "/approvals/",
    ):
        assert browser.status_of(path) == 403, path
    browser.visit("/entries/new/allocation/")
    assert "无权操作" in browser.text("h1") and "只有经办人可以录入资金收支。" in browser.text("main")
    assert browser.all("form.entry") == []


def test_the_id_number_is_checked_as_typed_and_the_worker_is_registered(browser, alice, fund):
    browser.sign_in("alice", password(alice))
    browser.click_through(browser.one("nav.main a[href='/entries/new/disbursement/']"))
    browser.choose("#id_fund", str(fund.pk))

    browser.type("#id_id_number", "110105194912310021")
    browser.until_text("#id_check.bad", "身份证号码无效：校验码不符")

    number = synthetic_id(77)  # a man born 1980-05-17, not yet known
    browser.type("#id_id_number", number)
    check = browser.until_text("#id_check.good", "✓")
    assert check.text == "✓ 男 · 1980-05-17"

    browser.type("#id_name", "王五")
    browser.choose("#id_assistance_type", "living")
    browser.type("#id_amount", "800")
    browser.click_through(browser.one("form.entry button.primary"))

    disbursement = Disbursement.objects.get()
    assert browser.path == f"/entries/disbursement/{disbursement.pk}/"
    assert "已保存，等待审批。" in browser.text(".messages")
    worker = Beneficiary.objects.get(id_number=number)
    assert (worker.name, disbursement.beneficiary, disbursement.status) == ("王五", worker, Status.PENDING)
    assert f"王五 {worker.masked_id_number}" in browser.text("dl.facts")
    assert number not in browser.text("main")  # shown masked

    # The next time the same number is typed, the form knows the worker.
    browser.click_through(browser.one("nav.main a[href='/entries/new/disbursement/']"))
    browser.type("#id_id_number", number)
    assert browser.until_text("#id_check.good", "王五").text == "✓ 男 · 1980-05-17 · 王五"
    assert browser.one("#id_name").get_attribute("value") == "王五"


def test_the_language_switch_turns_the_pages_to_english_and_back(browser, alice, fund):
    browser.visit("/accounts/login/")
    assert browser.language == "zh-hans" and browser.text("h1") == "登录"
    browser.switch_language("en")
    assert browser.path.startswith("/accounts/login/")
    assert browser.language == "en" and browser.text("h1") == "Sign in"

    browser.sign_in("alice", password(alice))
    assert browser.language == "en"
    assert "Available (yuan)" in browser.text("table.data thead")
    assert [link.text for link in browser.all("nav.main a")][:3] == ["Contribution", "Allocation", "Disbursement"]
    open_allocation_form(browser)
    assert "Amount (yuan)" in browser.text("form.entry")

    browser.switch_language("zh-hans")
    assert browser.path == "/entries/new/allocation/"
    assert browser.language == "zh-hans"
    assert "金额（元）" in browser.text("form.entry")
    browser.click_through(browser.one("a.brand"))
    assert "可用余额（元）" in browser.text("table.data thead")


def test_amount_columns_line_up_on_the_right(browser, alice, fund):
    browser.sign_in("alice", password(alice))
    for path in ("/", "/funds/"):
        browser.visit(path)
        aligned = browser.driver.execute_script(
            "return [...document.querySelectorAll('table.data td.num, table.data th.num')]"
            ".map(cell => getComputedStyle(cell).textAlign)"
        )
        assert aligned and set(aligned) == {"right"}, (path, aligned)
