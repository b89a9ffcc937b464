"""The sign-in lockout (django-axes): whose address a failure counts against, and
what a locked-out person sees, on a page or from the API.

Failures are counted per username and client address together (settings.AXES_*),
on the login page, the admin's login and the API's token endpoint alike.
"""

import ipaddress
import math

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import status, throttling

LOCKED_OUT = _(
    "Too many failed sign-ins for this username from your address. "
    "Try again in %(minutes)s minutes, or ask the system administrator to unlock it."
)
LOCKOUT_STATUS = status.HTTP_429_TOO_MANY_REQUESTS


def client_address(request: HttpRequest) -> str | None:
    """The address the API's throttles use (DRF's NUM_PROXIES), so that both count
    the same client; REMOTE_ADDR if that is not an IP address."""
    address = throttling.BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return request.META.get("REMOTE_ADDR")


def minutes_left(request: HttpRequest, username: str | None) -> int:
    """Whole minutes until this username may try again from this address: the
    cool-off counts from the failure that locked it (later tries do not prolong it)."""
    last = AccessAttempt.objects.filter(
        username=username, ip_address=getattr(request, "axes_ip_address", None)
    ).aggregate(last=Max("attempt_time"))["last"]
    ends = (last or timezone.now()) + get_cool_off(request)
    return max(1, math.ceil((ends - timezone.now()).total_seconds() / 60))


def tries_left(request: HttpRequest, username: str | None) -> int:
    """How many more failures this username may have from this address before it
    is locked out (settings.AXES_FAILURE_LIMIT)."""
    failures = (
        AccessAttempt.objects.filter(username=username, ip_address=getattr(request, "axes_ip_address", None)).aggregate(
            failures=Max("failures_since_start")
        )["failures"]
        or 0
    )
    return max(0, settings.AXES_FAILURE_LIMIT - failures)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """settings.AXES_LOCKOUT_CALLABLE. The API's token endpoint has already answered
    in the API's own error shape (`unionfunds.api.auth`); pages get a page."""
    if request.path.startswith("/api/") and original_response is not None:
        return original_response
    username = get_client_username(request, credentials)
    context = {"message": LOCKED_OUT % {"minutes": minutes_left(request, username)}}
    return render(request, "registration/locked_out.html", context, status=LOCKOUT_STATUS)
