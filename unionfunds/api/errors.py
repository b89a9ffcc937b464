"""One error shape for the whole API.

Every refusal, whichever layer raised it (a service's `ValidationError`, a
disbursement list's `ListRefused`, a role check's `PermissionDenied`, DRF's own
parsing, authentication and throttling), answers

    {"code": "...", "message": "...", "errors": [{"code", "message", "field", "row"}, ...]}

where `code` and `message` repeat the first error, `field` names the input that is
wrong (null for the request as a whole) and `row` the 1-based row of a list.
Messages follow the request's language, because the services' messages are lazy
translations formatted here, under the language the middleware activated.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from unionfunds.errors import ListRefused

NOT_FOUND = _("Not found.")
BODY_TOO_LARGE = _("The request body is larger than %(limit)s MB.")
IDEMPOTENCY_CONFLICT = _("This Idempotency-Key was already used with another request.")

# Refusals because of what is already there, not because of what was sent.
CONFLICT_CODES = frozenset(
    {
        "insufficient_funds",
        "not_pending",
        "list_decided",
        "list_changed",
        "returned_for_correction",
        "not_returned",
        "not_reversible",
        "already_reversed",
        "duplicate_payment",
        "already_registered",
        "code_taken",
        "unique",
        "idempotency_conflict",
        # The archive and the policy rules (依档帮扶): who is in an open entry, what
        # waits, what a household was paid this year, which 低保 line is set.
        "not_in_archive",
        "cap_exceeded",
        "once_per_year",
        "no_dibao_line",
        "in_open_household",
        "archive_exists",
        "not_open",
        "not_closed",
        "change_waiting",
    }
)
FORBIDDEN_CODES = frozenset({"maker_cannot_approve", "permission_denied"})
# Request lists whose items an error names by `row`: a payment list's rows, a household's members.
ROW_LISTS = ("rows", "members")


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    field: str | None = None
    row: int | None = None


class NotFoundInBody(exceptions.NotFound):
    """An id in the request body that the user may not touch: 404, as for a URL."""

    def __init__(self, field: str):
        super().__init__(NOT_FOUND, "not_found")
        self.field = field


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


class IdempotencyConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = IDEMPOTENCY_CONFLICT
    default_code = "idempotency_conflict"


def status_for(problems: list[Problem]) -> int:
    codes = {problem.code for problem in problems}
    if codes and codes <= FORBIDDEN_CODES:
        return status.HTTP_403_FORBIDDEN
    if codes and codes <= CONFLICT_CODES:
        return status.HTTP_409_CONFLICT
    return status.HTTP_400_BAD_REQUEST


def error_body(problems: list[Problem]) -> dict:
    first = problems[0]
    return {
        "code": first.code,
        "message": first.message,
        "errors": [{"code": p.code, "message": p.message, "field": p.field, "row": p.row} for p in problems],
    }


def exception_handler(exc: Exception, context: dict) -> Response | None:
    headers = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(NOT_FOUND, "not_found")
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(BODY_TOO_LARGE % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)})
    if isinstance(exc, ListRefused):
        problems = [Problem(p.code, p.message, p.field, p.row) for p in exc.problems]
        code = status_for(problems)
    elif isinstance(exc, DjangoValidationError):
        problems = list(_from_django(exc))
        code = status_for(problems)
    elif isinstance(exc, DjangoPermissionDenied):
        problems = [Problem("permission_denied", str(exc) or str(exceptions.PermissionDenied.default_detail))]
        code = status.HTTP_403_FORBIDDEN
    elif isinstance(exc, exceptions.ValidationError):
        problems = list(_from_drf(exc.detail)) or [Problem("invalid", str(exc.default_detail))]
        code = status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, exceptions.APIException):
        problems = list(_from_drf(exc.detail, field=getattr(exc, "field", None)))
        code = exc.status_code
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    else:
        return None  # a server error: Django's 500 handling and logging
    set_rollback()
    return Response(error_body(problems), status=code, headers=headers)


def _from_django(error: DjangoValidationError, field: str | None = None) -> Iterator[Problem]:
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            for single in errors:
                yield from _from_django(single, None if name == NON_FIELD_ERRORS else name)
        return
    for single in error.error_list:
        yield Problem(single.code or "invalid", " ".join(single.messages), field)


def _from_drf(detail, path: tuple = (), field: str | None = None) -> Iterator[Problem]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _from_drf(value, (*path, key), field)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            yield from _from_drf(value, (*path, index) if isinstance(value, (dict, list)) else path, field)
    else:
        yield _problem(detail, path, field)


def _problem(detail, path: tuple, field: str | None) -> Problem:
    code = getattr(detail, "code", None) or "invalid"
    row = None
    # A list's rows are numbered from 1, as a clerk counts them in a spreadsheet.
    if len(path) >= 2 and path[0] in ROW_LISTS and isinstance(path[1], int):
        row, path = path[1] + 1, path[2:]
    names = [
        str(part) for part in path if part not in (NON_FIELD_ERRORS, serializers.api_settings.NON_FIELD_ERRORS_KEY)
    ]
    if names:
        field = ".".join(names)
    return Problem(str(code), str(detail), field, row)
