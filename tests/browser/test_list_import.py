"""README's walk-through in a real browser, as written: the clerk uploads the
demo 1,000-row sheet (no 批次), sees the one mistyped ID number flagged by row
and column, corrects it in the preview and enters all 1,000 payments at once;
the approver finds the list as one line of 待我审批 and approves it whole."""

from decimal import Decimal
from pathlib import Path

import pytest

from allocations import demo
from allocations import services as money
from allocations.models import Disbursement, Status
from tests.conftest import member
from unionfunds.models import Role
from unionfunds.services import federation_create

pytestmark = pytest.mark.browser

DEMO_LIST = Path(__file__).resolve().parents[2] / "fixtures" / "demo-list-shandong-1000.xlsx"


@pytest.fixture
def shandong_fund(tree):
    shandong = federation_create(code="37", name="山东省总工会", level="province", parent=tree["nation"])
    clerk = member("sd-clerk", shandong, Role.CLERK)
    approver = member("sd-approver", shandong, Role.APPROVER)
    fund = money.fund_create(
        federation=shandong, name="疫情防控专项资金", purpose="pandemic", fiscal_year=2020, by=clerk
    )
    money.movement_approve(
        movement=money.contribution_create(fund=fund, source="own_funds", amount="9200000", by=clerk), by=approver
    )
    return fund


def test_a_clerk_imports_the_demo_list_and_the_approver_approves_it_as_one(browser, shandong_fund):
    _, correct = demo.demo_list_rows()
    browser.sign_in("sd-clerk", "pw-sd-clerk")
    browser.visit("/disbursements/")
    browser.click_through(browser.one("a[href='/disbursements/import/']"))
    browser.until_text("h1", "导入发放名单")
    browser.choose("#id_fund", str(shandong_fund.pk))
    browser.choose("#id_assistance_type", "pandemic_subsidy")
    browser.one("#id_sheet").send_keys(str(DEMO_LIST))
    browser.click_through(browser.one("form.entry button[type=submit]"))

    browser.until_text(".card .figure", "1000")
    problems = [row.text for row in browser.all("table.problems tbody tr")]
    assert len(problems) == 1 and problems[0].startswith(f"{demo.DEMO_LIST_BAD_LINE} 身份证号")
    assert "校验码" in problems[0]
    assert Disbursement.objects.count() == 0

    field = browser.one(f"#id_row-{demo.DEMO_LIST_BAD_LINE}-id_number")
    field.clear()
    field.send_keys(correct)
    browser.click_through(browser.one("form.fix-rows button[type=submit]"))
    confirm = browser.until_text("button.primary", "录入全部 1000 行")
    browser.snap("preview-clean")
    browser.click_through(confirm)

    browser.until_text(".notice", "已录入 1000 条发放记录")
    written = Disbursement.objects.filter(fund=shandong_fund)
    assert written.count() == 1000 and set(written.values_list("status", flat=True)) == {Status.PENDING}
    shandong_fund.refresh_from_db()
    assert (shandong_fund.balance, shandong_fund.available) == (Decimal("9200000.00"), Decimal("8200000.00"))

    # 4. The approver opens 待我审批: the list is one line, with its fund, type, count and total.
    browser.sign_out().sign_in("sd-approver", "pw-sd-approver")
    browser.click_through(browser.one("nav.main a[href='/approvals/']"))
    (line,) = browser.all("table.lists tbody tr")
    assert "山东省总工会 · 疫情防控专项资金" in line.text and "疫情生活补贴" in line.text
    assert "1,000" in line.text and "1,000,000.00" in line.text
    browser.click_through(browser.one("a[href^='/disbursements/lists/']", line))
    browser.until_text(".restated", "全部 1,000 笔，合计 ¥1,000,000.00")
    browser.snap("list-to-approve")
    browser.click_through(browser.until_text("form.decide-list button.primary", "批准全部 1,000 笔（¥1,000,000.00）"))
    browser.until_text("ul.messages", "已处理 1,000 笔。")
    assert set(written.values_list("status", flat=True)) == {Status.APPROVED}
    shandong_fund.refresh_from_db()
    assert (shandong_fund.balance, shandong_fund.available) == (Decimal("8200000.00"), Decimal("8200000.00"))
