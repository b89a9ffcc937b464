"""Request limits counted exactly, across every server process (docs/RELIABILITY.md).

A limit is N requests per window; a client's window starts with its first request
and lasts the rate's period (a minute for "10/minute"); the next request after it
ends starts a new one. The count lives in one `RateWindow` row per client and is
moved by a single INSERT … ON CONFLICT … RETURNING statement, so that requests
arriving at once on different gunicorn workers are counted one after another by
the database: the N+1st is refused however many arrive together. A cache shared
between processes would not be enough: DRF's throttles read the history and then
write it back, and two requests that read together both pass.

Every request is counted, refused ones too, so hammering does not earn a slot back
early; the answer says when the window ends (Retry-After).

The statement must run outside any transaction of the request (the API's
idempotent POSTs open theirs after the throttles): a count inside one would be
undone with a refused request, and its row lock held until that request commits.

On SQLite, whose one write lock a long commit holds for seconds, a request waits
half a second at most for its count and is then let through uncounted.
"""

import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import OperationalError, connection

from unionfunds.models import RateWindow

logger = logging.getLogger(__name__)

SQLITE_WAIT_MS = 500


@dataclass(frozen=True)
class Count:
    hits: int  # this request included
    ends_ms: int

    def seconds_left(self, now_ms: int | None = None) -> float:
        return max(0.0, (self.ends_ms - (now_ms if now_ms is not None else now_in_ms())) / 1000)


def now_in_ms() -> int:
    return time.time_ns() // 1_000_000


def key_for(scope: str, ident: str) -> str:
    """A fixed-length key: an address or username as sent may be long or hold any byte."""
    return f"{scope[:14]}:{hashlib.sha256(ident.encode('utf-8', 'surrogatepass')).hexdigest()[:64]}"


def count(key: str, window_seconds: float, now_ms: int | None = None) -> Count | None:
    """Count one request for `key` and answer how many its window now holds; None
    when SQLite's write lock stays taken (see `_waiting_briefly`)."""
    now_ms = now_in_ms() if now_ms is None else now_ms
    quote = connection.ops.quote_name
    table, key_, hits, ends = (quote(name) for name in (RateWindow._meta.db_table, "key", "hits", "ends_ms"))
    # Both SET expressions read the row as it was before this statement, on
    # PostgreSQL and SQLite alike.
    sql = (
        f"INSERT INTO {table} ({key_}, {hits}, {ends}) VALUES (%s, 1, %s) "
        f"ON CONFLICT ({key_}) DO UPDATE SET "
        f"{hits} = CASE WHEN {table}.{ends} <= %s THEN 1 ELSE {table}.{hits} + 1 END, "
        f"{ends} = CASE WHEN {table}.{ends} <= %s THEN excluded.{ends} ELSE {table}.{ends} END "
        f"RETURNING {hits}, {ends}"
    )
    ends_ms = now_ms + int(window_seconds * 1000)
    with connection.cursor() as cursor, _waiting_briefly(cursor):
        try:
            cursor.execute(sql, [key, ends_ms, now_ms, now_ms])
        except OperationalError as error:
            if connection.vendor != "sqlite" or "locked" not in str(error):
                raise
            logger.warning("request limit %s not counted: the database is locked by a long write", key)
            return None
        counted, window_ends = cursor.fetchone()
    return Count(hits=counted, ends_ms=window_ends)


@contextlib.contextmanager
def _waiting_briefly(cursor):
    """SQLite has one writer for the whole database: while a 100,000-row list
    commits, a count would wait for it (the 20 s busy timeout) and every API
    read with it. A count waits at most SQLITE_WAIT_MS, and a request whose count
    could not be written is let through uncounted. PostgreSQL locks the one row."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    cursor.execute("PRAGMA busy_timeout")
    (usual,) = cursor.fetchone()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_WAIT_MS}")
    try:
        yield
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {int(usual)}")


def prune(older_than: timedelta = timedelta(0), now_ms: int | None = None) -> int:
    """Forget windows that have ended (the job worker does it every few minutes)."""
    now_ms = now_in_ms() if now_ms is None else now_ms
    cutoff = now_ms - int(older_than.total_seconds() * 1000)
    deleted, _ = RateWindow.objects.filter(ends_ms__lt=cutoff).delete()
    return deleted
