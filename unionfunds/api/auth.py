"""Tokens and throttling.

A token is DRF's `Token` (one per user): obtained here with a username and
password, or printed by `manage.py issue_token`; revoked with DELETE here or with
`issue_token --renew`.

Password guessing here counts towards the same lockout as the login page
(django-axes, per username and address): `authenticate()` is given the request.
"""

from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.views import APIView

from unionfunds import accounts, lockout
from unionfunds.api.throttles import LoginRateThrottle, LoginUsernameThrottle, TokenRateThrottle
from unionfunds.api.tokens import PasswordChangeRequired

INVALID_CREDENTIALS = _("Unable to log in with the username and password given.")


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class LockedOut(exceptions.APIException):
    status_code = lockout.LOCKOUT_STATUS
    default_code = "locked_out"


class TokenView(APIView):
    """`POST /api/v1/auth/token/` gives the user's token (the same one until revoked);
    `DELETE` revokes it, for a token or a browser session alike."""

    throttle_classes = [LoginRateThrottle, LoginUsernameThrottle, TokenRateThrottle]

    def get_permissions(self):
        if self.request.method == "POST":
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]

    @extend_schema(
        operation_id="auth_token_create",
        request=CredentialsSerializer,
        responses={200: TokenSerializer},
        summary="Get an API token",
        description="Answers the same token until it is revoked; a retry is harmless, so no Idempotency-Key is kept.",
        auth=[],
    )
    def post(self, request):
        credentials = CredentialsSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=credentials.validated_data["username"],
            password=credentials.validated_data["password"],
        )
        if getattr(request._request, "axes_locked_out", False):
            minutes = lockout.minutes_left(request._request, credentials.validated_data["username"])
            error = LockedOut(lockout.LOCKED_OUT % {"minutes": minutes})
            error.wait = minutes * 60  # sent as Retry-After
            raise error
        if user is None or not user.is_active:
            raise exceptions.ValidationError({"non_field_errors": [INVALID_CREDENTIALS]}, code="invalid_credentials")
        if accounts.must_change_password(user):
            raise PasswordChangeRequired()
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(operation_id="auth_token_destroy", request=None, responses={204: None}, summary="Revoke your token")
    def delete(self, request):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
