"""A thin layer over Selenium for the browser tests: go to a page, click through to
the next one, wait for what a user would wait for. Every page arrived at is
photographed (kept in memory), so that a failing test can leave the pictures of
its whole walk behind."""

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT_SECONDS = 10


@dataclass
class Snapshot:
    label: str
    url: str
    png: bytes
    html: str


class Browser:
    def __init__(self, driver: WebDriver, base_url: str):
        self.driver = driver
        self.base_url = base_url.rstrip("/")
        self.snapshots: list[Snapshot] = []

    # Moving around ---------------------------------------------------------------

    def visit(self, path: str) -> "Browser":
        self.driver.get(self.base_url + path)
        self._arrived()
        return self

    def click_through(self, element: WebElement) -> "Browser":
        """Click a link or a submit button and wait until the next page has loaded."""
        # A mark on the current page's window: the next page is the one without it. (Waiting for
        # the old <html> to go stale is not enough: Chromium sometimes answers "node does not
        # belong to the document" instead of "stale element", and the wait gives up.)
        self.driver.execute_script("window.unionfundsLeaving = true;")
        element.click()
        self._arrived()
        return self

    def _arrived(self) -> None:
        self.wait().until(
            lambda driver: driver.execute_script(
                "return document.readyState === 'complete' && window.unionfundsLeaving === undefined;"
            ),
            message=f"the next page did not load (still on {self.path})",
        )
        self.snap()

    def snap(self, label: str = "") -> None:
        with contextlib.suppress(WebDriverException):  # a picture is a help, never a reason to fail
            self.snapshots.append(
                Snapshot(
                    label=label or self.path,
                    url=self.driver.current_url,
                    png=self.driver.get_screenshot_as_png(),
                    html=self.driver.page_source,
                )
            )

    def save_snapshots(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for number, shot in enumerate(self.snapshots, start=1):
            name = f"{number:02d}-{re.sub(r'[^A-Za-z0-9]+', '-', shot.label).strip('-') or 'home'}"
            (folder / f"{name}.png").write_bytes(shot.png)
            (folder / f"{name}.html").write_text(f"<!-- {shot.url} -->\n{shot.html}", encoding="utf-8")

    @property
    def path(self) -> str:
        url = self.driver.current_url
        return url[len(self.base_url) :] if url.startswith(self.base_url) else url

    # Waiting ---------------------------------------------------------------------

    def wait(self, seconds: float = WAIT_SECONDS) -> WebDriverWait:
        # While a page is being replaced, Chromium can answer any command with a passing error.
        return WebDriverWait(self.driver, seconds, ignored_exceptions=(WebDriverException,))

    def until_text(self, css: str, text: str) -> WebElement:
        """The element once its text contains `text`."""
        self.wait().until(
            EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text),
            message=f"{css!r} never showed {text!r}",
        )
        return self.one(css)

    # Reading ---------------------------------------------------------------------

    def one(self, css: str, within: WebElement | None = None) -> WebElement:
        return (within or self.driver).find_element(By.CSS_SELECTOR, css)

    def all(self, css: str, within: WebElement | None = None) -> list[WebElement]:
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str = "body") -> str:
        return self.one(css).text

    @property
    def language(self) -> str:
        return self.one("html").get_attribute("lang")

    def status_of(self, path: str) -> int:
        """The HTTP status the browser gets for a page, with its own cookies."""
        return self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {credentials: 'same-origin', redirect: 'manual'})"
            ".then(response => done(response.status), error => done(String(error)));",
            self.base_url + path,
        )

    def funds_on_home(self) -> dict[tuple[str, str], tuple[str, str]]:
        """The home page's fund table: (federation, fund) -> (balance, available)."""
        funds = {}
        for row in self.all("table.data tbody tr"):
            cells = [cell.text for cell in self.all("td", row)]
            if len(cells) == 6:
                funds[cells[0], cells[1]] = (cells[4], cells[5])
        return funds

    # Filling in ------------------------------------------------------------------

    def type(self, css: str, text: str) -> WebElement:
        box = self.one(css)
        box.clear()
        box.send_keys(text)
        return box

    def choose(self, css: str, value: str) -> None:
        Select(self.one(css)).select_by_value(value)

    def pick_suggestion(self, list_css: str, label: str, typed: str = "") -> None:
        """Click the suggestion reading `label` once a search box has offered it."""

        def click(_) -> bool:  # the list may be redrawn under us: try again until it holds still
            for item in self.all(f"{list_css} li"):
                if item.text == label:
                    item.click()
                    return True
            return False

        self.wait().until(click, message=f"no suggestion {label!r}" + (f" for {typed!r}" if typed else ""))

    def sign_in(self, username: str, password: str) -> "Browser":
        """Through the real login form, as a person would."""
        self.visit("/accounts/login/")
        self.type("#id_username", username)
        self.type("#id_password", password)
        self.click_through(self.one("form.entry button[type=submit]"))
        assert self.path == "/", f"signing in as {username} ended on {self.path}: {self.text('main')}"
        return self

    def sign_out(self) -> "Browser":
        self.click_through(self.one("form[action='/accounts/logout/'] button"))
        return self

    def switch_language(self, code: str) -> "Browser":
        form = self.one("form[action='/i18n/setlang/']")
        Select(self.one("select[name=language]", form)).select_by_value(code)
        return self.click_through(self.one("button", form))
