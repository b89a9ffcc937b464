"""The roll-up page's charts in a real browser (headless Chromium): long federation
names are drawn whole inside the chart, the federation's own money (本级) is a bar,
and the spending chart is there. A picture of the page is left in the test's
temporary folder (rollup-charts.png)."""

import pytest

from tests.conftest import member
from tests.factories import FundFactory, approved_contribution
from unionfunds.models import Role
from unionfunds.services import federation_create

pytestmark = pytest.mark.browser

LONG_NAMES = ("新疆生产建设兵团总工会", "内蒙古自治区总工会")

# Each label of the chart shown (of the one drawn for a desk and the one for a phone):
# its text as drawn, its box and the chart's, in screen pixels, and where the bars begin.
LABELS = """
return Array.from(document.querySelectorAll(arguments[0] + ' svg.chart'))
  .filter(svg => svg.getClientRects().length > 0).flatMap(svg => {
  const chart = svg.getBoundingClientRect();
  const bars = Math.min(...Array.from(svg.querySelectorAll('rect[height="12"], rect[height="16"]'))
    .map(rect => rect.getBoundingClientRect().left));
  return Array.from(svg.querySelectorAll('text.label')).map(label => {
    const box = label.getBoundingClientRect();
    const lines = Array.from(label.querySelectorAll('tspan')).map(line => line.textContent);
    return {text: lines.join(''), left: box.left, right: box.right, top: box.top, bottom: box.bottom,
            chartLeft: chart.left, chartRight: chart.right, chartTop: chart.top, chartBottom: chart.bottom,
            bars: bars, visible: getComputedStyle(label).visibility};
  });
});
"""


@pytest.fixture
def national_auditor(tree, clerk, approver, qinghai_2022):
    """An auditor of the whole country, where two provinces with long names hold money,
    and so does 全国总工会 itself."""
    for code, name in zip(("65-B", "15"), LONG_NAMES, strict=True):
        federation = federation_create(code=code, name=name, level="province", parent=tree["nation"])
        approved_contribution(FundFactory(federation=federation, by=clerk), "1200000", by=clerk, approver=approver)
    approved_contribution(FundFactory(federation=tree["nation"], by=clerk), "50000000", by=clerk, approver=approver)
    return member("nation-auditor", tree["nation"], Role.AUDITOR)


def test_long_names_and_the_own_level_are_drawn_whole(browser, national_auditor, tmp_path):
    browser.sign_in("nation-auditor", "pw-nation-auditor")
    browser.click_through(browser.one("nav.main a[href='/rollup/']"))
    browser.choose("#id_fiscal_year", "2022")
    browser.click_through(browser.one("form.filters button[type=submit]"))
    assert "中华全国总工会 资金汇总 · 2022 年度" in browser.text("h1")

    labels = browser.driver.execute_script(LABELS, ".chart-box.holdings")
    assert [label["text"] for label in labels] == ["本级", "青海省总工会", *LONG_NAMES]
    for label in labels:
        assert label["visible"] == "visible"
        assert label["chartLeft"] <= label["left"] and label["right"] <= label["bars"], label  # inside, uncut
        assert label["chartTop"] <= label["top"] and label["bottom"] <= label["chartBottom"], label
    assert "1 个下级没有筹集、下拨、发放或结余，未列出。" in browser.text("main")  # 甘肃, with nothing

    spending = browser.driver.execute_script(LABELS, ".spending")
    assert [label["text"] for label in spending] == ["2022-04", "2022-05"]
    assert "生活救助" in browser.text(".spending") and "5,000.00" in browser.text(".spending table")

    browser.driver.set_window_size(1280, 2400)
    try:
        (tmp_path / "rollup-charts.png").write_bytes(browser.driver.get_screenshot_as_png())
    finally:
        browser.driver.set_window_size(1280, 900)
