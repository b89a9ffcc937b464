"""The pages a clerk, an approver and an auditor open in the field, on a phone
(headless Chromium emulating a 390 and a 360 CSS-pixel-wide screen): the page
never scrolls sideways, table headers stay on one or two lines, the buttons are
big enough for a thumb, the menu folds behind one button, and the roll-up's
charts are drawn for the phone's width. And on a desk all of it stays as it was."""

import pytest

from allocations import services as money
from tests.browser.test_staff_pages import password

pytestmark = pytest.mark.browser

# What a page looks like to a thumb: how far it reaches sideways, its table headers
# taller than two lines, and the height of what one taps.
MEASURE = """
const shown = element => element.getClientRects().length > 0 && getComputedStyle(element).visibility !== 'hidden';
const lineHeight = element => {
  const style = getComputedStyle(element);
  return style.lineHeight === 'normal' ? 1.2 * parseFloat(style.fontSize) : parseFloat(style.lineHeight);
};
const tap = arguments[0] ? Array.from(document.querySelectorAll(arguments[0])).filter(shown) : [];
// A phone shrinks a page too wide for it until it fits: the window then reports the
// shrunk page's width, the screen its own.
return {
  pageWidth: Math.max(document.documentElement.scrollWidth, window.innerWidth),
  screenWidth: screen.width,
  tallHeaders: Array.from(document.querySelectorAll('th')).filter(shown)
    .filter(th => th.getBoundingClientRect().height >= 3 * lineHeight(th))
    .map(th => th.textContent.trim() + ' (' + Math.round(th.getBoundingClientRect().height) + 'px)'),
  tapHeights: tap.map(element => Math.round(element.getBoundingClientRect().height)),
};
"""

# The chart shown (there is one drawn for a desk and one for a phone): its width on
# screen, and the size its labels are read at, in screen pixels.
CHARTS = """
return Array.from(document.querySelectorAll('svg.chart')).filter(svg => svg.getClientRects().length > 0)
  .map(svg => ({
    kind: svg.classList.contains('phone') ? 'phone' : 'desk',
    right: svg.getBoundingClientRect().right,
    labelPixels: svg.getBoundingClientRect().width / svg.viewBox.baseVal.width
      * parseFloat(svg.getAttribute('font-size')),
  }));
"""

# The clerk's pages and, on each, what her thumb presses.
CLERK_PAGES = {
    "/": "label.menu-button",
    "/entries/new/contribution/": "form.entry button.primary",
    "/entries/new/allocation/": "form.entry button.primary",
    "/entries/new/disbursement/": "form.entry button.primary",
    "/mine/": "label.menu-button",
    "/funds/": ".filters button",
    "/disbursements/": ".filters button",
    "/allocations/": ".filters button",
}
PHONES = [("zh-hans", 390), ("en", 390), ("zh-hans", 360), ("en", 360)]


@pytest.fixture
def phone(browser):
    """The session's Chromium as a phone `width` CSS pixels wide, for this test only."""

    def hold(width: int) -> None:
        browser.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 844, "deviceScaleFactor": 2, "mobile": True},
        )

    yield hold
    browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def sign_in_in(browser, user, language: str) -> None:
    """Sign in, then choose the language through the folded menu, as on a phone."""
    browser.sign_in(user.username, password(user))
    if language != browser.language:
        open_menu(browser)
        browser.switch_language(language)
    assert browser.language == language


def open_menu(browser) -> None:
    assert not browser.one("nav.main").is_displayed()  # folded away until asked for
    browser.one("label.menu-button").click()
    assert browser.one("nav.main").is_displayed()


def assert_fits_a_thumb(browser, tap: str) -> None:
    measured = browser.driver.execute_script(MEASURE, tap)
    where = f"{browser.path} at {measured['screenWidth']}px"
    assert measured["pageWidth"] <= measured["screenWidth"], f"{where} scrolls sideways to {measured['pageWidth']}px"
    assert measured["tallHeaders"] == [], f"{where}: headers broken over three lines or more"
    assert measured["tapHeights"], f"{where}: no {tap!r} to press"
    assert min(measured["tapHeights"]) >= 44, f"{where}: {tap!r} is {measured['tapHeights']} px tall"


@pytest.mark.parametrize(("language", "width"), PHONES)
def test_a_clerks_pages_fit_a_phone(browser, phone, alice, fund, tree, language, width):
    phone(width)
    money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="2500", by=alice)
    sign_in_in(browser, alice, language)

    open_menu(browser)
    menu_links = browser.driver.execute_script(MEASURE, "nav.main a")["tapHeights"]
    assert len(menu_links) >= 7 and min(menu_links) >= 44, menu_links
    assert_fits_a_thumb(browser, "label.menu-button")

    for path, tap in CLERK_PAGES.items():
        browser.visit(path)
        assert_fits_a_thumb(browser, tap)
    browser.visit("/")  # the fund's card tells what is still available, without a swipe
    available = browser.one("table.stack td.num:last-child")
    assert available.text == "7,500.00"
    assert available.rect["x"] + available.rect["width"] <= width


@pytest.mark.parametrize(("language", "width"), PHONES)
def test_an_approver_decides_on_a_phone(browser, phone, alice, bob, fund, tree, worker, language, width):
    phone(width)
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="2500", by=alice)
    money.disbursement_create(fund=fund, assistance_type="living", amount="800", beneficiary=worker, by=alice)
    sign_in_in(browser, bob, language)

    browser.visit("/approvals/")
    assert_fits_a_thumb(browser, ".actions button")
    ticks = browser.driver.execute_script(MEASURE, "table.data tbody input[type=checkbox]")["tapHeights"]
    assert len(ticks) == 2 and min(ticks) >= 20, ticks  # boxes a thumb can hit, one per entry
    amounts = [cell.text for cell in browser.all("table.data tbody td.num")]
    assert amounts == ["2,500.00", "800.00"]
    assert all(cell.is_displayed() for cell in browser.all("table.data tbody td.num"))

    browser.visit(f"/entries/allocation/{allocation.pk}/")
    assert_fits_a_thumb(browser, "form.actions button")


@pytest.mark.parametrize(("language", "width"), PHONES)
def test_the_rollup_and_its_charts_fit_a_phone(browser, phone, carol, qinghai_2022, language, width):
    phone(width)
    sign_in_in(browser, carol, language)

    browser.visit("/rollup/?fiscal_year=2022")
    assert_fits_a_thumb(browser, "form.filters button")
    table = browser.one("table.rollup")
    assert table.rect["x"] + table.rect["width"] <= width  # it scrolls inside its own box
    browser.driver.execute_script("arguments[0].scrollLeft = arguments[0].scrollWidth;", table)
    assert browser.driver.execute_script("return arguments[0].scrollLeft;", table) > 0
    federation = browser.one("table.rollup tbody tr:not(.own) td:first-child")
    assert abs(federation.rect["x"] - table.rect["x"]) <= 2  # the federation stays in view as the figures scroll
    charts = browser.driver.execute_script(CHARTS)
    assert [chart["kind"] for chart in charts] == ["phone", "phone"]
    for chart in charts:
        assert chart["right"] <= width, chart
        assert chart["labelPixels"] >= 11, chart  # read at nearly their own size, not shrunk to a third


def test_on_a_desk_the_menu_is_open_and_the_charts_are_wide(browser, carol, qinghai_2022):
    browser.sign_in("carol", password(carol))
    assert browser.one("nav.main").is_displayed() and not browser.one("label.menu-button").is_displayed()
    browser.visit("/")
    assert browser.one("table.stack thead").is_displayed()  # a table with its header row, as before
    browser.visit("/rollup/?fiscal_year=2022")
    assert [chart["kind"] for chart in browser.driver.execute_script(CHARTS)] == ["desk", "desk"]
