"""What the API tests share: the API's root and clients that hold a token."""

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

API = "/api/v1/"


def client_for(user, *, language: str | None = None) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    if language:
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]
