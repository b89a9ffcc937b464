"""Real-browser tests: Debian's headless Chromium, driven by Selenium through
chromedriver, against pytest-django's live_server (a transactional database, so
the server thread sees what the test wrote and the other way around).

One Chromium serves the whole session; each test starts without cookies. Where
Chromium cannot be had the tests are skipped with the reason, but under CI=true
they fail instead: a skipped browser test in CI is a hole. `scripts/ensure-chromium`
(run by `make test`) installs it as root.

When a test fails, the pictures and HTML of every page it went through are saved
to a temporary folder named in the report ("browser pages").
"""

import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("UNIONFUNDS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("UNIONFUNDS_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
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
    "--window-size=1280,900",
    # An English browser: the pages must be Chinese all the same until the user switches.
    "--lang=en-US",
]

BROWSER = pytest.StashKey[object]()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def unavailable(reason: str):
    if in_ci():
        pytest.fail(f"browser tests cannot run: {reason} (CI=true: they may not be skipped)", pytrace=False)
    pytest.skip(f"browser tests cannot run: {reason}")


@pytest.fixture(scope="session")
def chromium():
    """The WebDriver for the session (one Chromium, a fresh profile)."""
    if importlib.util.find_spec("selenium") is None:
        unavailable("the selenium package is not installed (pip install -r requirements.txt)")
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        unavailable(
            f"{' and '.join(missing)} not found; as root run scripts/ensure-chromium "
            "(apt-get install chromium chromium-driver fonts-noto-cjk)"
        )

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="unionfunds-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(request, chromium, live_server):
    """A Chromium without cookies, pointed at the live server."""
    from tests.browser.browser import Browser

    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.get("about:blank")
    page = Browser(chromium, live_server.url)
    request.node.stash[BROWSER] = page
    return page


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    page = item.stash.get(BROWSER, None)
    if page is not None and report.failed and report.when in ("setup", "call"):
        page.snap("at-failure")
        folder = Path(tempfile.mkdtemp(prefix=f"unionfunds-browser-{re.sub(r'[^A-Za-z0-9_]+', '-', item.name)[:60]}-"))
        page.save_snapshots(folder)
        report.sections.append(("browser pages", f"{len(page.snapshots)} pages saved to {folder}"))
    return report
