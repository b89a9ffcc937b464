"""What the API tests share: clients that hold a token, and the cast of the
suite's conftest (alice, bob, carol, dave) each with a token of their own.

No tests here; the other `test_api_*` modules import from this one."""

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import member
from unionfunds.models import Role

API = "/api/v1/"


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Throttle counters live in the cache, which outlives a test's database."""
    cache.clear()
    yield
    cache.clear()


def client_for(user, *, language: str | None = None) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    if language:
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


@pytest.fixture
def admin_user(tree):
    """An administrator of 青海省总工会."""
    return member("erin", tree["qinghai"], Role.ADMIN)


@pytest.fixture
def outsider(tree):
    """A clerk, approver and auditor of 甘肃: sees nothing of 青海."""
    return member("gus", tree["gansu"], Role.CLERK, Role.APPROVER, Role.AUDITOR)
