"""Hardening: the sign-in lockout (django-axes) on every door that takes a password,
a Content-Security-Policy without inline code, API tokens that can be revoked and
never reach a log, and secrets only from the environment.

Alice is 城中区's clerk (conftest); failures come from the test client's address,
127.0.0.1, unless a test says otherwise."""

import datetime
import logging
import os
import re
import runpy
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.core.management import CommandError, call_command
from django.db.models import F
from django.test import override_settings
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from allocations.models import Contribution
from tests.api_helpers import API, client_for, codes
from tests.test_admin_import_export import FEDERATIONS, preview
from unionfunds import lockout

ROOT = Path(__file__).resolve().parent.parent
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
HOME_ADDRESS, OTHER_ADDRESS = "127.0.0.1", "10.20.30.40"


def sign_in(client, username: str, password: str, *, path: str = LOGIN, address: str = HOME_ADDRESS):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client, username: str, times: int, **kwargs) -> list[int]:
    return [sign_in(client, username, f"guess-{n}", **kwargs).status_code for n in range(times)]


def locked_out_text(minutes: int, language: str = "zh-hans") -> str:
    with translation.override(language):
        return str(lockout.LOCKED_OUT % {"minutes": minutes})


def signed_in_user_id(client):
    return client.session.get(SESSION_KEY)


# The sign-in lockout -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_fifth_wrong_password_locks_the_login_page_with_a_message_in_chinese(client, alice):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert fail(client, "alice", 4) == [200, 200, 200, 200]

    locked = sign_in(client, "alice", "guess-5")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "登录已锁定" in page and "请 15 分钟后再试" in page
    assert locked_out_text(15) in page

    # Now even the right password is refused from this address, and nobody is signed in.
    right = sign_in(client, "alice", "pw-alice")
    assert right.status_code == 429 and signed_in_user_id(client) is None


@pytest.mark.django_db
def test_each_wrong_password_says_how_many_tries_are_left(client, alice):
    pages = [sign_in(client, "alice", f"guess-{n}").content.decode() for n in range(4)]
    for n, page in enumerate(pages):
        assert f"再失败 {4 - n} 次，此用户名将在您的地址上被暂时锁定。" in page, n
    # Another address has its own count.
    other = sign_in(client, "alice", "guess", address=OTHER_ADDRESS).content.decode()
    assert "再失败 4 次" in other


@pytest.mark.django_db
def test_the_lockout_page_is_in_english_for_who_chose_english(client, alice):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    fail(client, "alice", 5)
    locked = sign_in(client, "alice", "pw-alice")
    assert locked.status_code == 429
    assert "Sign-in locked" in locked.content.decode()
    assert "Try again in 15 minutes" in locked.content.decode()


@pytest.mark.django_db
def test_a_lockout_holds_one_username_at_one_address_only(client, alice, bob):
    fail(client, "alice", 5)

    # Alice herself, from her office: an attacker elsewhere cannot lock her out.
    from_elsewhere = sign_in(client, "alice", "pw-alice", address=OTHER_ADDRESS)
    assert from_elsewhere.status_code == 302 and from_elsewhere["Location"] == "/"
    assert signed_in_user_id(client) == str(alice.pk)
    client.logout()

    # Bob, from the very address that is locked for alice.
    assert sign_in(client, "bob", "pw-bob").status_code == 302
    assert signed_in_user_id(client) == str(bob.pk)


@pytest.mark.django_db
def test_the_lockout_ends_after_the_cool_off_and_the_page_counts_down(client, alice):
    fail(client, "alice", 5)
    attempts = AccessAttempt.objects.filter(username="alice", ip_address=HOME_ADDRESS)
    assert attempts.count() == 1

    attempts.update(attempt_time=F("attempt_time") - datetime.timedelta(minutes=10))
    still = sign_in(client, "alice", "pw-alice")
    assert still.status_code == 429 and locked_out_text(5) in still.content.decode()  # tries do not prolong it

    attempts.update(attempt_time=F("attempt_time") - datetime.timedelta(minutes=6))
    assert sign_in(client, "alice", "pw-alice").status_code == 302
    assert signed_in_user_id(client) == str(alice.pk)


@pytest.mark.django_db
def test_an_administrator_unlocks_a_username_at_once(client, alice):
    fail(client, "alice", 5)
    assert sign_in(client, "alice", "pw-alice").status_code == 429

    call_command("axes_reset_username", "alice")

    assert sign_in(client, "alice", "pw-alice").status_code == 302


@pytest.mark.django_db
def test_a_successful_sign_in_forgets_earlier_mistakes(client, alice):
    fail(client, "alice", 4)
    assert sign_in(client, "alice", "pw-alice").status_code == 302
    client.logout()
    assert fail(client, "alice", 4) == [200, 200, 200, 200]  # four more, not one


@pytest.mark.django_db
def test_the_admin_login_counts_towards_the_same_lockout(client, olga):
    assert fail(client, "olga", 3, path=ADMIN_LOGIN) == [200, 200, 200]
    assert fail(client, "olga", 1) == [200]

    locked = sign_in(client, "olga", "guess-x", path=ADMIN_LOGIN)
    assert locked.status_code == 429 and locked_out_text(15) in locked.content.decode()
    assert sign_in(client, "olga", "pw-olga", path=ADMIN_LOGIN).status_code == 429
    assert sign_in(client, "olga", "pw-olga", path=ADMIN_LOGIN, address=OTHER_ADDRESS).status_code == 302
    assert signed_in_user_id(client) == str(olga.pk)


def ask_token(username: str, password: str, *, address: str = HOME_ADDRESS, **headers):
    return APIClient().post(
        API + "auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=address, **headers
    )


@pytest.mark.django_db
def test_the_token_endpoint_locks_out_in_the_apis_own_error_shape(alice):
    assert [ask_token("alice", f"guess-{n}").status_code for n in range(4)] == [400, 400, 400, 400]

    locked = ask_token("alice", "guess-5", HTTP_ACCEPT_LANGUAGE="en")
    assert locked.status_code == 429 and locked["Content-Type"] == "application/json"
    assert codes(locked) == ["locked_out"]
    assert locked.json()["message"] == locked_out_text(15, "en")
    assert locked["Retry-After"] == "900"

    refused = ask_token("alice", "pw-alice")
    assert refused.status_code == 429 and not Token.objects.exists()

    elsewhere = ask_token("alice", "pw-alice", address=OTHER_ADDRESS)
    assert elsewhere.status_code == 200 and elsewhere.json()["token"] == Token.objects.get(user=alice).key


@pytest.mark.django_db
def test_the_login_page_and_the_token_endpoint_share_one_count(client, alice):
    fail(client, "alice", 3)
    assert [ask_token("alice", "guess").status_code for _ in range(2)] == [400, 429]
    assert sign_in(client, "alice", "pw-alice").status_code == 429


@pytest.mark.django_db
def test_a_client_cannot_escape_the_lockout_by_inventing_forwarded_addresses(client, alice):
    statuses = [
        client.post(
            LOGIN, {"username": "alice", "password": "guess"}, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}"
        ).status_code
        for n in range(6)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]


@pytest.mark.django_db
def test_behind_a_proxy_the_lockout_counts_the_address_the_proxy_saw(client, alice):
    proxy = "10.0.0.1"
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}):
        # Whatever the client claims comes first; the proxy appends the address it saw.
        for n in range(5):
            client.post(
                LOGIN,
                {"username": "alice", "password": "guess"},
                REMOTE_ADDR=proxy,
                HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.9",
            )
        locked = client.post(
            LOGIN, {"username": "alice", "password": "pw-alice"}, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9"
        )
        other_office = client.post(
            LOGIN, {"username": "alice", "password": "pw-alice"}, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.50"
        )
    assert locked.status_code == 429
    assert other_office.status_code == 302
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.9"]


@pytest.mark.django_db
def test_a_failed_attempt_is_recorded_without_its_password(client, alice):
    sign_in(client, "alice", "hunter2-very-secret")
    attempt = AccessAttempt.objects.get(username="alice")
    assert "hunter2-very-secret" not in attempt.post_data + attempt.get_data


# Content-Security-Policy -------------------------------------------------------------


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


class InlineCode(HTMLParser):
    """What a strict Content-Security-Policy refuses: inline scripts and styles,
    style attributes, event handler attributes and javascript: links."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.assets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        script_type = (attributes.get("type") or "text/javascript").lower()
        if tag == "script" and "src" not in attributes and script_type in {"text/javascript", "module"}:
            self.found.append(f"<script> without src at line {self.getpos()[0]}")
        if tag == "style":
            self.found.append(f"<style> at line {self.getpos()[0]}")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f'<{tag} {name}="{value}">')
            if name == "href" and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f'<{tag} href="{value}">')
        if tag == "script" and attributes.get("src"):
            self.assets.append(attributes["src"])
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.assets.append(attributes["href"])


def inline_code(html: str) -> InlineCode:
    parser = InlineCode()
    parser.feed(html)
    return parser


def assert_strict_page(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, url
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    page = inline_code(response.content.decode())
    assert page.found == [], f"{url}: {page.found}"
    for asset in page.assets:
        assert client.get(asset).status_code == 200, f"{url}: {asset}"


@pytest.mark.django_db
def test_pages_without_a_sign_in_carry_a_strict_policy_and_no_inline_code(client):
    for url in (LOGIN, ADMIN_LOGIN):
        assert_strict_page(client, url)


@pytest.mark.django_db
def test_the_lockout_page_carries_the_policy_too(client, alice):
    fail(client, "alice", 5)
    locked = sign_in(client, "alice", "pw-alice")
    assert locked.status_code == 429 and policy(locked)["script-src"] == ["'self'"]
    assert inline_code(locked.content.decode()).found == []


@pytest.mark.django_db
def test_the_staff_pages_have_no_inline_code_even_with_a_chart(client, qinghai_2022, tree, clerk):
    client.force_login(clerk)
    qinghai = tree["qinghai"].pk
    entry = Contribution.objects.filter(fund=qinghai_2022["province"]).first()
    person = qinghai_2022["workers"][0]
    pages = [
        "/",
        f"/rollup/{qinghai}/?fiscal_year=2022",
        f"/rollup/{qinghai}/disbursed/",
        "/entries/new/contribution/",
        "/entries/new/allocation/",
        "/entries/new/disbursement/",
        f"/entries/contribution/{entry.pk}/",
        f"/funds/{qinghai_2022['province'].pk}/",
        f"/beneficiaries/{person.pk}/",
        "/disbursements/",
        "/funds/",
        "/disbursements/import/",
        "/jobs/",
        "/accounts/password_change/",
    ]
    chart = client.get(f"/rollup/{qinghai}/?fiscal_year=2022").content.decode()
    assert "<svg" in chart  # the chart is drawn inline, as SVG
    for url in pages:
        assert_strict_page(client, url)


@pytest.mark.django_db
def test_the_approval_queue_has_no_inline_code(client, qinghai_2022, approver):
    client.force_login(approver)
    assert_strict_page(client, "/approvals/")


@pytest.mark.django_db
def test_the_admin_pages_have_no_inline_code(client, fund, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    for url in (
        "/admin/",
        "/admin/allocations/fund/",
        f"/admin/allocations/fund/{fund.pk}/change/",
        "/admin/allocations/fund/add/",
        "/admin/allocations/fund/import/",
        "/admin/allocations/fund/export/",  # django-import-export's page, overridden without its inline code
        "/admin/allocations/disbursement/",
        "/admin/auth/user/add/",
        "/admin/axes/accessattempt/",
    ):
        assert_strict_page(client, url)


@pytest.mark.django_db
def test_the_admin_import_preview_marks_changes_without_style_attributes(client, olga):
    client.force_login(olga)
    previewed = preview(client, FEDERATIONS, "code,name,level,parent\n630103,城中区总工会（新）,county,6301\n")
    assert previewed.status_code == 200
    html = previewed.content.decode()
    assert "<ins>（新）</ins>" in html
    assert inline_code(html).found == []


@pytest.mark.django_db
def test_the_api_docs_load_their_script_from_a_url_and_only_widen_images(client):
    response = client.get(API + "docs/")
    assert response.status_code == 200
    directives = policy(response)
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    page = inline_code(response.content.decode())
    assert page.found == []
    start_up = next(asset for asset in page.assets if "script" in asset and asset.startswith(API + "docs/"))
    script = client.get(start_up.replace("&amp;", "&"))
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


# API tokens ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_revokes_a_leaked_token_from_a_browser_session(fund, alice):
    script = client_for(alice)
    assert script.get(API + "funds/").status_code == 200

    browser = APIClient()
    browser.force_login(alice)
    assert browser.delete(API + "auth/token/").status_code == 204

    refused = script.get(API + "funds/")
    assert refused.status_code == 401 and codes(refused) == ["authentication_failed"]
    assert not Token.objects.filter(user=alice).exists()
    assert browser.get(API + "funds/").status_code == 200  # the session itself goes on


@pytest.mark.django_db
def test_tokens_and_passwords_never_reach_the_logs(fund, alice, caplog):
    caplog.set_level(logging.DEBUG)
    issued = ask_token("alice", "pw-alice")
    key = issued.json()["token"]
    holder = APIClient(headers={"Authorization": f"Token {key}"})

    responses = [
        holder.get(API + "funds/"),
        holder.get(API + f"funds/?token={key}"),
        holder.get(API + "no-such-thing/"),
        APIClient(headers={"Authorization": f"Token {key[::-1]}"}).get(API + "funds/"),
        ask_token("alice", "wrong-password-on-purpose"),
        holder.delete(API + "auth/token/"),
        holder.get(API + "funds/"),
    ]

    assert [response.status_code for response in responses] == [200, 200, 404, 401, 400, 204, 401]
    assert any("Unauthorized" in record.getMessage() for record in caplog.records)  # the 401s were logged
    for secret in (key, key[::-1], "pw-alice", "wrong-password-on-purpose"):
        for record in caplog.records:
            assert secret not in record.getMessage(), record.getMessage()
            assert secret not in repr(record.__dict__), record.name


def access_log_line(log_format: str, tmp_path: Path, *, token: str) -> str:
    """One line of gunicorn's access log, as its workers write it, for a request
    carrying a token in the Authorization header and in the query string."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("access_log_format", log_format)
    logger = Logger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/v1/funds/?token={token}",
        "PATH_INFO": "/api/v1/funds/",
        "QUERY_STRING": f"token={token}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.1",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "HTTP_USER_AGENT": "curl/8",
        "HTTP_REFERER": f"https://funds.example.cn/api/v1/funds/?token={token}",
    }
    request = SimpleNamespace(
        headers=[("AUTHORIZATION", f"Token {token}"), ("X-FORWARDED-FOR", "203.0.113.9"), ("USER-AGENT", "curl/8")]
    )
    response = SimpleNamespace(status="200 OK", sent=1234, headers=[])
    logger.access(response, request, environ, datetime.timedelta(milliseconds=12))
    for handler in logger.access_log.handlers:
        handler.flush()
    return (tmp_path / "access.log").read_text()


def test_gunicorns_access_log_never_holds_a_token(tmp_path):
    token = "9f" * 20
    ours = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["access_log_format"]

    line = access_log_line(ours, tmp_path, token=token)
    assert '"GET /api/v1/funds/ HTTP/1.1" 200' in line and "203.0.113.9" in line
    assert token not in line

    # gunicorn's default format would have written it, with the query string.
    (tmp_path / "access.log").unlink()
    default = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
    assert token in access_log_line(default, tmp_path, token=token)


# Passwords and secrets --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "complaint"), [("12345678", "entirely numeric"), ("password", "too common"), ("a1b2", "too short")]
)
def test_add_member_refuses_a_password_the_validators_refuse(tree, password, complaint):
    with translation.override("en"), pytest.raises(CommandError, match=complaint):
        call_command("add_member", "lin", "630103", "clerk", "--password", password)
    assert not get_user_model().objects.filter(username="lin").exists()


def test_production_settings_refuse_to_start_without_a_secret_key():
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "UNIONFUNDS_", "DATABASE"))
    }
    environment["DJANGO_ALLOWED_HOSTS"] = "funds.example.cn"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr
    assert re.search(r"ImproperlyConfigured", result.stderr)
