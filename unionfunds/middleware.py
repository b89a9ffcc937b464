from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from unionfunds.accounts import API_PASSWORD_TEMPORARY, SESSION_FLAG
from unionfunds.api.errors import Problem, error_body


class ChineseFirstLocaleMiddleware(LocaleMiddleware):
    """Pages are in Simplified Chinese unless the user picked another language.

    Django's own middleware follows the browser's Accept-Language, so a clerk on
    an English-language system would get English pages without asking. The API
    keeps following Accept-Language, as other systems expect.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if request.path.startswith("/api/") or (chosen and translation.check_for_language(chosen)):
            return super().process_request(request)
        translation.activate(settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = translation.get_language()


NUL_CHARACTER = _("The address holds a NUL character (%00), which no text here may contain.")


class RefuseNulMiddleware:
    """A 400 for a NUL character in the path or the query string, for every
    door at once (pages, admin, API, exports).

    PostgreSQL refuses NUL in text and JSON: a filter, a search or the export
    log would otherwise fail with a 500 halfway through the response. Form
    fields and API bodies refuse it themselves (Django's and DRF's CharField).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            return refusal(request, str(NUL_CHARACTER), code="null_character")
        return self.get_response(request)


class TemporaryPasswordMiddleware:
    """Someone signed in with a temporary password (handed over by an
    administrator) reaches only the change-password page until they choose
    their own: every other page leads there, and the API refuses them.

    Sessions only: an API token of such a user is refused by the API's own
    authentication (`unionfunds.api.auth`)."""

    # What they may still do: change the password, sign out, pick a language.
    OPEN = ("password_change", "password_change_done", "logout", "admin:logout", "set_language")

    def __init__(self, get_response):
        self.get_response = get_response
        self.open_paths: frozenset[str] | None = None

    def __call__(self, request):
        # Without a session cookie there is no session to read (and no Vary: Cookie to add).
        signed_in = settings.SESSION_COOKIE_NAME in request.COOKIES
        if signed_in and request.session.get(SESSION_FLAG) and request.user.is_authenticated:
            if self.open_paths is None:
                self.open_paths = frozenset(reverse(name) for name in self.OPEN)
            if request.path not in self.open_paths:
                if request.path.startswith("/api/"):
                    return refusal(request, str(API_PASSWORD_TEMPORARY), code="password_change_required", status=403)
                return redirect("password_change")
        return self.get_response(request)


def refusal(request, message: str, *, code: str, status: int = 400) -> HttpResponse:
    """A refusal in the door's own shape: the API's JSON error body, or a page."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body([Problem(code, message)]), status=status)
    return render(request, "refused.html", {"message": message}, status=status)
