"""Throttling per token (settings.REST_FRAMEWORK); kept apart from the views
because DRF imports it while defining `APIView`.

The token endpoint is also throttled per client address and per username: the
sign-in lockout (django-axes) counts wrong passwords per username and address
together, so these limits are what slows guessing spread over many addresses.
"""

import hashlib

from rest_framework import throttling
from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings


class _DynamicRate:
    def get_rate(self):
        # Read at request time, not import time, so that settings overrides apply.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class TokenRateThrottle(_DynamicRate, throttling.SimpleRateThrottle):
    """Per token; per user for a browser session; per address without either."""

    scope = "token"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, Token):
            ident = "token-" + hashlib.sha256(request.auth.key.encode()).hexdigest()[:32]
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"address-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginRateThrottle(_DynamicRate, throttling.SimpleRateThrottle):
    scope = "login"

    def get_cache_key(self, request, view):
        if request.method != "POST":
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(_DynamicRate, throttling.SimpleRateThrottle):
    scope = "login_username"

    def get_cache_key(self, request, view):
        if request.method != "POST" or not isinstance(request.data, dict):
            return None
        username = str(request.data.get("username", "")).strip().lower()
        digest = hashlib.sha256(username.encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": digest}
