"""`Idempotency-Key` on POST (API.md): a retry returns the first answer and writes
nothing new; the same key with another request answers 409 `idempotency_conflict`.

The key is claimed by inserting its row in the same transaction as the write it
guards, and the answer is stored in that row before the commit. So no one ever
sees a claimed key without its answer:

- a retry after the first request committed fails the insert on the unique
  constraint and reads the stored answer;
- a retry while the first is still running waits on that insert (PostgreSQL
  waits for the other transaction on a unique index; SQLite's IMMEDIATE
  transactions queue the whole request) and then does the same;
- a first request that was refused or failed rolls back, key and all, so the
  same key may be sent again once the cause is fixed. Only 2xx answers are kept.

Keys belong to a user: two systems cannot collide on a key.
"""

import hashlib
import json
import re

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.response import Response

from unionfunds.api.errors import IdempotencyConflict
from unionfunds.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
INVALID_KEY = _("An Idempotency-Key is 1 to 255 visible ASCII characters.")


class Replay(Exception):
    """The stored answer of an earlier request with the same key."""

    def __init__(self, stored: IdempotencyKey):
        self.response = Response(stored.response, status=stored.status_code, headers={REPLAYED_HEADER: "true"})


def wanted(request) -> bool:
    return request.method == "POST" and HEADER in request.headers


def claim(request) -> IdempotencyKey:
    """Insert the key for this request, or raise `Replay` or `IdempotencyConflict`.
    Must run inside the transaction that will also hold the write."""
    key = request.headers[HEADER]
    if not re.match(KEY_PATTERN, key):
        raise exceptions.ValidationError({HEADER: [INVALID_KEY]}, code="invalid_idempotency_key")
    fingerprint = _fingerprint(request)
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                user=request.user, door=IdempotencyKey.Door.API, key=key, fingerprint=fingerprint
            )
    except IntegrityError:
        stored = IdempotencyKey.objects.get(user=request.user, door=IdempotencyKey.Door.API, key=key)
    if stored.fingerprint != fingerprint:
        raise IdempotencyConflict()
    raise Replay(stored)


def finish(claimed: IdempotencyKey, response) -> None:
    """Keep a successful answer with its key; forget the key of anything else."""
    if 200 <= response.status_code < 300:
        claimed.status_code = response.status_code
        claimed.response = response.data
        claimed.save(update_fields=["status_code", "response"])
    else:
        transaction.set_rollback(True)


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()
