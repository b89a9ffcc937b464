"""Throttling per token (settings.REST_FRAMEWORK); kept apart from the views
because DRF imports it while defining `APIView`.

The token endpoint is also throttled per client address and per username: the
sign-in lockout (django-axes) counts wrong passwords per username and address
together, so these limits are what slows guessing spread over many addresses.

Every limit is counted in the database (`unionfunds.ratelimit`), exactly and once
for all server processes, not in each process's memory.
"""

import hashlib

from rest_framework import throttling
from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings

from unionfunds import ratelimit


class CountedRateThrottle(throttling.SimpleRateThrottle):
    """DRF's rate syntax and keys; the count is `ratelimit.count`'s, one window
    per key, instead of a history in the cache."""

    count: ratelimit.Count | None = None

    def get_rate(self):
        # Read at request time, not import time, so that settings overrides apply.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        ident = self.get_ident_of(request)
        if ident is None:
            return True
        self.count = ratelimit.count(ratelimit.key_for(self.scope, ident), self.duration)
        return self.count is None or self.count.hits <= self.num_requests

    def wait(self):
        return self.count.seconds_left() if self.count else None

    def get_ident_of(self, request) -> str | None:
        """Who is counted for this request; None to let it through uncounted."""
        raise NotImplementedError


class TokenRateThrottle(CountedRateThrottle):
    """Per token; per user for a browser session; per address without either."""

    scope = "token"

    def get_ident_of(self, request):
        if isinstance(request.auth, Token):
            return "token-" + hashlib.sha256(request.auth.key.encode()).hexdigest()
        if request.user and request.user.is_authenticated:
            return f"user-{request.user.pk}"
        return f"address-{self.get_ident(request)}"


class LoginRateThrottle(CountedRateThrottle):
    scope = "login"

    def get_ident_of(self, request):
        if request.method != "POST":
            return None
        return self.get_ident(request)


class LoginUsernameThrottle(CountedRateThrottle):
    scope = "login_username"

    def get_ident_of(self, request):
        if request.method != "POST" or not isinstance(request.data, dict):
            return None
        return str(request.data.get("username", "")).strip().lower()
