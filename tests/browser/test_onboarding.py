"""Onboarding in a real browser: 城中区's administrator opens an account for a
new clerk in the admin, picking the federation from its search box; the clerk
signs in with the temporary password, is sent to change it, and then reaches
the home page."""

import pytest
from django.contrib.auth import get_user_model

from unionfunds.models import Account, Membership, Role

pytestmark = pytest.mark.browser


def pick_in_search_box(browser, field: str, typed: str, label: str) -> None:
    """The admin's autocomplete (select2): open it, type, click the suggestion."""
    browser.one(f"#id_{field} + .select2 .select2-selection").click()
    browser.type(".select2-container--open .select2-search__field", typed)

    def click_suggestion(_) -> bool:
        for option in browser.all(".select2-results__option"):
            if option.text == label:
                option.click()
                return True
        return False

    browser.wait().until(click_suggestion, message=f"no suggestion {label!r} for {typed!r}")
    browser.wait().until(lambda _: browser.one(f"#id_{field}").get_attribute("value"))


def test_an_administrator_onboards_a_clerk_who_must_change_the_temporary_password(browser, tree, olga):
    browser.sign_in("olga", "pw-olga")
    browser.click_through(browser.one("nav.main a[href='/admin/']"))
    browser.visit("/admin/auth/user/add/")
    browser.until_text("h1", "增加 用户")
    browser.type("#id_username", "lin.xiaohong")
    browser.type("#id_first_name", "林小红")
    pick_in_search_box(browser, "federation", "城中", "城中区总工会")
    browser.choose("#id_role", Role.CLERK)
    browser.click_through(browser.one("input[name=_save]"))

    browser.until_text("h1", "账号已开通")
    password = browser.one("code.temporary-password").text
    assert len(password) == 14
    assert "城中区总工会 · 经办人" in browser.text("#temporary-passwords")
    lin = get_user_model().objects.get(username="lin.xiaohong")
    assert Membership.objects.filter(user=lin, federation=tree["chengzhong"], role=Role.CLERK).exists()
    browser.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})

    # The clerk signs in with it and is sent to choose her own.
    browser.visit("/accounts/login/")
    browser.type("#id_username", "lin.xiaohong")
    browser.type("#id_password", password)
    browser.click_through(browser.one("form.entry button[type=submit]"))
    assert browser.path == "/accounts/password_change/"
    assert "临时密码" in browser.text("main")
    browser.visit("/rollup/")
    assert browser.path == "/accounts/password_change/"

    browser.type("#id_old_password", password)
    browser.type("#id_new_password1", "lin-own-password-2024")
    browser.type("#id_new_password2", "lin-own-password-2024")
    browser.click_through(browser.one("form.entry button[type=submit]"))
    browser.until_text("h1", "密码已修改")
    browser.click_through(browser.one("main a[href='/']"))
    assert browser.path == "/"
    assert "lin.xiaohong" in browser.text("header")
    assert not Account.objects.get(user=lin).must_change_password
