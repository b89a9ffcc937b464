"""Screenshots of the staff pages, in Chinese and in English, for the docs.

    make run                                  # in another terminal: the dev server with the demo data
    .venv/bin/python scripts/screenshots.py   # -> docs/screenshots/<lang>-<page>.png, 1280x900
                                              #    and <lang>-phone-<page>.png, 390 wide, the whole page

Signs in through the login form as the demo accounts (password demo-2026, or
UNIONFUNDS_DEMO_PASSWORD), chooses the language with the `django_language` cookie,
and photographs: home (a clerk's, an approver's), a clerk's rejected entries,
the three entry forms (the federation search, the ID-number check and the
amount in capitals in use), a payment to a unit,
the approval queue, a disbursement list waiting, an entry page, the roll-up, a
drill-down, the rows behind a figure, the lists with their export links, the
hardship archive's list, an entry of it and the filing form (their pictures need
archive entries in the database, which the demo data may not hold), the
disbursement-list import and its preview of the demo list, and the admin index.
Then the pages a clerk or an approver opens in the field again on a phone (390
CSS pixels wide, as an iPhone 12; the menu opened once), each photographed whole
from top to bottom.
Needs Debian's chromium and chromium-driver (scripts/ensure-chromium) and
selenium. Moves no money: the entry forms are filled in but never submitted; the
import preview leaves a checked, unconfirmed job behind (the worker started by
`make run` must be running for it).
"""

import argparse
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("UNIONFUNDS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("UNIONFUNDS_CHROMEDRIVER", "/usr/bin/chromedriver")
PASSWORD = os.environ.get("UNIONFUNDS_DEMO_PASSWORD", "demo-2026")
WIDTH, HEIGHT = 1280, 900
PHONE_WIDTH, PHONE_HEIGHT = 390, 844
# A phone picture runs the whole page down, but no further than this.
PHONE_TALLEST = 3200
SIZES = ("desktop", "phone")
# What is used in the field: home, the entry forms, the approvals, the lists and the roll-up.
PHONE_PAGES = (
    "home",
    "menu",
    "contribution",
    "allocation",
    "disbursement",
    "my-entries",
    "notifications",
    "approvals",
    "payment-list",
    "entry",
    "rollup",
    "disbursements",
    "archive",
    "archive-entry",
)
# The menu is folded away on a phone only; opened, it is seen on the first screen.
PHONE_ONLY = ("menu",)
FIRST_SCREEN_ONLY = ("menu",)
LANGUAGES = ("zh-hans", "en")
# A synthetic resident ID number (西宁市城中区, born 1985-03-08): passes the checksum, belongs to nobody.
SAMPLE_ID_BODY = "63010319850308123"
DEMO_LIST = ROOT / "fixtures" / "demo-list-shandong-1000.xlsx"


def check_character(body: str) -> str:
    """ISO 7064 MOD 11-2, as on a resident ID card."""
    total = sum(int(digit) * (2 ** (17 - position) % 11) for position, digit in enumerate(body))
    return "10X98765432"[total % 11]


class Camera:
    def __init__(self, driver: WebDriver, base_url: str, out: Path, language: str, phone: bool = False):
        self.driver, self.base_url, self.out, self.language = driver, base_url.rstrip("/"), out, language
        self.phone = phone
        self.saved: list[Path] = []

    def wait(self) -> WebDriverWait:
        return WebDriverWait(self.driver, 15, ignored_exceptions=(WebDriverException,))

    def loaded(self) -> None:
        self.wait().until(
            lambda driver: driver.execute_script(
                "return document.readyState === 'complete' && window.unionfundsLeaving === undefined;"
            )
        )

    def visit(self, path: str) -> None:
        self.driver.get(path if path.startswith("http") else self.base_url + path)
        self.loaded()

    def follow(self, css: str) -> None:
        """Go where the first link matching `css` leads."""
        link = self.wait().until(EC.presence_of_element_located((By.CSS_SELECTOR, css)), message=f"no {css!r}")
        self.visit(link.get_attribute("href"))

    def sign_in(self, username: str) -> None:
        self.driver.delete_all_cookies()
        self.driver.add_cookie({"name": "django_language", "value": self.language, "path": "/"})
        self.visit("/accounts/login/")
        self.driver.find_element(By.ID, "id_username").send_keys(username)
        self.driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
        self.driver.execute_script("window.unionfundsLeaving = true;")
        self.driver.find_element(By.CSS_SELECTOR, "form.entry button[type=submit]").click()
        self.loaded()
        if self.driver.current_url.rstrip("/") != self.base_url:
            raise SystemExit(f"could not sign in as {username!r} (is the demo data loaded? make run loads it)")

    def shoot(self, page: str) -> None:
        self.driver.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur();")
        path = self.out / f"{self.language}{'-phone' if self.phone else ''}-{page}.png"
        if self.phone and page not in FIRST_SCREEN_ONLY:
            # As tall as the page, so that one picture shows what a thumb would scroll through.
            height = self.driver.execute_script("return document.documentElement.scrollHeight;")
            emulate(self.driver, PHONE_WIDTH, max(PHONE_HEIGHT, min(height, PHONE_TALLEST)), mobile=True)
            try:
                self.driver.save_screenshot(str(path))
            finally:
                emulate(self.driver, PHONE_WIDTH, PHONE_HEIGHT, mobile=True)
        else:
            self.driver.save_screenshot(str(path))
        self.saved.append(path)
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {self.driver.current_url}")


def pages(camera: Camera) -> list[tuple[str, str, Callable[[], None]]]:
    """(page name, account, how to get there), in the order they are taken."""
    driver = camera.driver

    def typed(css: str, text: str, shown: str) -> None:
        box = driver.find_element(By.CSS_SELECTOR, css)
        box.send_keys(text)
        camera.wait().until(EC.visibility_of_element_located((By.CSS_SELECTOR, shown)), message=f"no {shown!r}")

    def allocation() -> None:
        camera.visit("/entries/new/allocation/")
        typed("#id_amount", "107000.53", ".capitals-label:not([hidden])")
        typed("#to_federation_search", "城中", "#to_federation_suggestions li")

    def disbursement() -> None:
        camera.visit("/entries/new/disbursement/")
        typed("input[data-id-check]", SAMPLE_ID_BODY + check_character(SAMPLE_ID_BODY), "#id_check.good")

    def unit_payment() -> None:
        camera.visit("/entries/new/disbursement/")
        driver.find_element(By.CSS_SELECTOR, "input[name='recipient_kind'][value='unit']").click()
        typed("#id_new_unit_name", "城中区第二人民医院", "#id_new_unit_kind")
        typed("#id_amount", "3000", ".capitals-label:not([hidden])")

    def entry() -> None:
        camera.visit("/approvals/")
        camera.follow("table.data a[href^='/entries/']")

    def payment_list() -> None:
        camera.visit("/approvals/")
        camera.follow("table.lists a[href^='/disbursements/lists/']")

    def drill_down() -> None:
        camera.visit("/rollup/")
        camera.follow("table.rollup tbody tr:not(.own) td:first-child a")

    def rows_behind() -> None:
        drill_down()
        camera.follow("table.rollup tfoot td.num a[href*='/disbursed/']")

    def archive_entry() -> None:
        # An entry due for its yearly review shows the most: figures, history, documents, payments.
        camera.visit("/archive/?view=due")
        camera.follow("table.archive tbody a[href^='/archive/']")

    def archive_filing() -> None:
        camera.visit("/archive/new/")
        typed("#id_members-0-name", "马德福", "#id_members-0-name")
        typed("#id_members-0-id_number", SAMPLE_ID_BODY + check_character(SAMPLE_ID_BODY), "#id_members-0-id_number")
        driver.find_element(By.CSS_SELECTOR, "[data-add-row=members]").click()
        camera.wait().until(
            EC.presence_of_element_located((By.CSS_SELECTOR, "#id_members-4-name")), message="no fifth member row"
        )

    def menu() -> None:
        camera.visit("/")
        driver.find_element(By.CSS_SELECTOR, "label[for=menu-toggle]").click()

    def import_form() -> None:
        camera.visit("/disbursements/import/")
        Select(driver.find_element(By.CSS_SELECTOR, "#id_fund")).select_by_index(1)
        Select(driver.find_element(By.CSS_SELECTOR, "#id_assistance_type")).select_by_value("pandemic_subsidy")
        driver.find_element(By.CSS_SELECTOR, "#id_sheet").send_keys(str(DEMO_LIST))

    def import_preview() -> None:
        import_form()
        driver.execute_script("window.unionfundsLeaving = true;")
        driver.find_element(By.CSS_SELECTOR, "form.entry button[type=submit]").click()
        # The worker checks the list; the page refreshes itself until the preview is there.
        WebDriverWait(driver, 120, ignored_exceptions=(WebDriverException,)).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, "table.problems, .errors")), message="no preview"
        )
        camera.loaded()

    return [
        ("home", "clerk", lambda: camera.visit("/")),
        ("menu", "clerk", menu),
        ("contribution", "clerk", lambda: camera.visit("/entries/new/contribution/")),
        ("allocation", "clerk", allocation),
        ("disbursement", "clerk", disbursement),
        ("unit-payment", "clerk", unit_payment),
        ("my-entries", "clerk", lambda: camera.visit("/mine/")),
        ("notifications", "county-approver", lambda: camera.visit("/notifications/")),
        ("approver-home", "county-approver", lambda: camera.visit("/")),
        ("approvals", "approver", lambda: camera.visit("/approvals/")),
        ("payment-list", "approver", payment_list),
        ("entry", "approver", entry),
        ("rollup", "auditor", lambda: camera.visit("/rollup/")),
        ("drilldown", "auditor", drill_down),
        ("rows", "auditor", rows_behind),
        ("disbursements", "auditor", lambda: camera.visit("/disbursements/?fiscal_year=2022")),
        ("archive", "county-approver", lambda: camera.visit("/archive/")),
        ("archive-entry", "county-approver", archive_entry),
        ("archive-filing", "county-clerk", archive_filing),
        ("beneficiaries", "county-clerk", lambda: camera.visit("/beneficiaries/")),
        ("import", "shandong-clerk", import_form),
        ("import-preview", "shandong-clerk", import_preview),
        ("admin", "admin", lambda: camera.visit("/admin/")),
        ("onboard", "admin", lambda: camera.visit("/admin/auth/user/add/")),
    ]


def emulate(driver: WebDriver, width: int, height: int, *, mobile: bool) -> None:
    """The page itself width x height, whatever the window around it takes."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def start_chromium(profile: str, *, phone: bool) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-proxy-server",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if phone:
        emulate(driver, PHONE_WIDTH, PHONE_HEIGHT, mobile=True)
    else:
        emulate(driver, WIDTH, HEIGHT, mobile=False)
    driver.set_page_load_timeout(30)
    return driver


def shoot_all(camera: Camera, only: list[str] | None) -> list[str]:
    """Take the pages of one language and size; the names of those that failed."""
    failed = []
    signed_in_as = None
    name = f"{camera.language}{'-phone' if camera.phone else ''}"
    for page, account, go in pages(camera):
        if only and page not in only:
            continue
        if (page not in PHONE_PAGES) if camera.phone else (page in PHONE_ONLY):
            continue
        try:
            if account != signed_in_as:
                camera.sign_in(account)
                signed_in_as = account
            go()
            camera.shoot(page)
        except (TimeoutException, WebDriverException) as error:
            failed.append(f"{name}-{page}")
            print(f"  {name}-{page}: FAILED at {camera.driver.current_url}: {error.msg}", file=sys.stderr)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the running dev server")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES), choices=LANGUAGES)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    parser.add_argument("--pages", nargs="+", help="only these pages (default: all)")
    args = parser.parse_args()

    try:
        urllib.request.urlopen(args.base_url.rstrip("/") + "/accounts/login/", timeout=5).close()
    except (OSError, urllib.error.URLError) as error:
        print(f"screenshots: no server at {args.base_url} ({error}); start one with `make run`", file=sys.stderr)
        return 1
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            print(f"screenshots: {path} not found; as root run scripts/ensure-chromium", file=sys.stderr)
            return 1

    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for size in args.sizes:
        phone = size == "phone"
        for language in args.languages:
            print(f"{language}, {size}:")
            with tempfile.TemporaryDirectory(prefix="unionfunds-screenshots-") as profile:
                driver = start_chromium(profile, phone=phone)
                try:
                    driver.get(args.base_url)  # cookies can only be set on the site's own origin
                    camera = Camera(driver, args.base_url, args.out, language, phone=phone)
                    failed += shoot_all(camera, args.pages)
                finally:
                    driver.quit()
    if failed:
        print(f"screenshots: {len(failed)} failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
