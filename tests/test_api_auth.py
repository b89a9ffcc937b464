"""Tokens (from the API or `issue_token`, revocable) and browser sessions."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api_helpers import API, codes


def get_token(username: str, password: str):
    return APIClient().post(API + "auth/token/", {"username": username, "password": password}, format="json")


@pytest.mark.django_db
def test_a_token_is_obtained_with_a_password_and_then_works(fund, alice):
    response = get_token("alice", "pw-alice")
    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(user=alice).key == key
    assert get_token("alice", "pw-alice").json()["token"] == key  # the same token until revoked
    client = APIClient(headers={"Authorization": f"Token {key}"})
    assert [row["id"] for row in client.get(API + "funds/").json()["results"]] == [fund.pk]


@pytest.mark.django_db
@pytest.mark.parametrize(("username", "password"), [("alice", "wrong"), ("nobody", "pw-alice"), ("alice", "")])
def test_a_wrong_password_gets_no_token(alice, username, password):
    response = get_token(username, password)
    assert response.status_code == 400
    assert codes(response)[0] in {"invalid_credentials", "blank"}
    assert not Token.objects.exists()


@pytest.mark.django_db
def test_an_inactive_user_gets_no_token(alice):
    alice.is_active = False
    alice.save()
    assert get_token("alice", "pw-alice").status_code == 400


@pytest.mark.django_db
def test_a_revoked_token_stops_working(alice):
    assert APIClient().delete(API + "auth/token/").status_code == 401
    key = get_token("alice", "pw-alice").json()["token"]
    client = APIClient(headers={"Authorization": f"Token {key}"})
    assert client.delete(API + "auth/token/").status_code == 204
    response = client.get(API + "funds/")
    assert response.status_code == 401 and codes(response) == ["authentication_failed"]
    assert get_token("alice", "pw-alice").json()["token"] != key


@pytest.mark.django_db
def test_a_token_from_issue_token_works_and_renewing_revokes_it(fund, alice, capsys):
    call_command("issue_token", "alice")
    old = capsys.readouterr().out.strip()
    assert APIClient(headers={"Authorization": f"Token {old}"}).get(API + "funds/").status_code == 200
    call_command("issue_token", "alice", "--renew")
    new = capsys.readouterr().out.strip()
    assert APIClient(headers={"Authorization": f"Token {old}"}).get(API + "funds/").status_code == 401
    assert APIClient(headers={"Authorization": f"Token {new}"}).get(API + "funds/").status_code == 200


@pytest.mark.django_db
def test_token_guessing_is_throttled_per_username(alice):
    rates = {"token": "1000/minute", "login": "1000/minute", "login_username": "3/minute"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        statuses = [get_token("alice", f"guess-{n}").status_code for n in range(3)]
        blocked = get_token("alice", "pw-alice")
        other_user = get_token("bob", "wrong")
    assert statuses == [400, 400, 400]
    assert blocked.status_code == 429 and codes(blocked) == ["throttled"]
    assert other_user.status_code == 400


@pytest.mark.django_db
def test_a_browser_session_works_and_needs_its_csrf_token_to_write(fund, worker, alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(API + "funds/").status_code == 200
    body = {"fund": fund.pk, "beneficiary": worker.pk, "assistance_type": "living", "amount": "10"}
    refused = client.post(API + "disbursements/", body, format="json")
    assert refused.status_code == 403 and codes(refused) == ["permission_denied"]
    secret = "k" * 32  # what the csrftoken cookie of a page would hold
    client.cookies[settings.CSRF_COOKIE_NAME] = secret
    accepted = client.post(API + "disbursements/", body, format="json", headers={"X-CSRFToken": secret})
    assert accepted.status_code == 201
