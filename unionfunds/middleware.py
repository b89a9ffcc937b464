from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy as _

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


def refusal(request, message: str, *, code: str, status: int = 400) -> HttpResponse:
    """A refusal in the door's own shape: the API's JSON error body, or a page."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body([Problem(code, message)]), status=status)
    return render(request, "refused.html", {"message": message}, status=status)
