"""The API's token authentication (DRF's `DEFAULT_AUTHENTICATION_CLASSES`):
a module of its own, as DRF imports it while its views are being imported."""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from unionfunds import accounts

INVALID_TOKEN = _("Invalid token.")
INACTIVE_USER = _("User inactive or deleted.")


class PasswordChangeRequired(exceptions.PermissionDenied):
    default_detail = accounts.API_PASSWORD_TEMPORARY
    default_code = "password_change_required"


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, refusing a user whose password is still the
    temporary one an administrator handed over: the account is not theirs yet.
    The account is read with the token, in the same query."""

    def authenticate_credentials(self, key):
        model = self.get_model()
        try:
            token = model.objects.select_related("user", "user__account").get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(INACTIVE_USER)
        account = getattr(token.user, "account", None)
        if account is not None and account.must_change_password:
            raise PasswordChangeRequired()
        return (token.user, token)
