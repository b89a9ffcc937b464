"""The Content-Security-Policy in a real browser: walking the pages a clerk and an
administrator use, with their scripts running, Chromium reports no violation (an
inline style or script that the policy refused, which would also leave a page
unstyled or a button dead). tests/test_hardening.py checks the markup; this
catches what scripts do once the page has loaded, Swagger UI's included."""

import pytest

from tests.browser.test_staff_pages import password, pick_federation

pytestmark = pytest.mark.browser

# Registered before any page script runs, on every page: the browser's own report of
# each refusal, kept where the test can read it.
RECORD_VIOLATIONS = """
window.unionfundsCsp = [];
document.addEventListener("securitypolicyviolation", function (event) {
  var where = (event.blockedURI || "inline") + " line " + event.lineNumber;
  window.unionfundsCsp.push(event.violatedDirective + " " + where);
});
"""


@pytest.fixture
def watched(browser):
    driver = browser.driver
    script = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    yield browser
    driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


def violations(browser) -> list[str]:
    return browser.driver.execute_script("return window.unionfundsCsp || ['(the recorder did not run)'];")


def test_a_clerks_pages_run_without_a_policy_violation(watched, alice, fund, tree):
    watched.sign_in("alice", password(alice))
    seen = {"/": violations(watched)}
    for path in ("/rollup/", "/disbursements/", "/disbursements/import/", "/entries/new/disbursement/"):
        watched.visit(path)
        seen[path] = violations(watched)

    watched.visit("/entries/new/allocation/")
    pick_federation(watched, "建筑", "城中区建筑公司工会", tree["grassroots"])  # unionfunds.js at work
    seen["/entries/new/allocation/"] = violations(watched)

    assert seen == {path: [] for path in seen}


def test_the_admin_and_the_api_docs_run_without_a_policy_violation(watched, django_user_model, fund):
    django_user_model.objects.create_superuser("root", password="root-pass")
    watched.sign_in("root", "root-pass")
    seen = {}
    for path in ("/admin/", "/admin/allocations/fund/", "/admin/allocations/fund/export/", "/admin/auth/user/add/"):
        watched.visit(path)
        seen[path] = violations(watched)

    watched.visit("/api/v1/docs/")
    watched.until_text("#swagger-ui", "/api/v1/funds/")  # drawn by Swagger UI's scripts
    seen["/api/v1/docs/"] = violations(watched)

    assert seen == {path: [] for path in seen}
