"""Values as the hash chains write them (`allocations.ledger`, `unionfunds.trail`):
fixed once, since every stored hash depends on it."""

import datetime
from decimal import Decimal
from typing import cast

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
MICROSECOND = datetime.timedelta(microseconds=1)


def text(value: object) -> str:
    """One value as hashed: amounts with two decimals, dates ISO, times as
    microseconds since 1970-01-01 UTC, booleans 1/0, None empty (only ids and
    times may be None). Ordered by how often each comes, as it runs millions of
    times in `verify_ledger`."""
    kind = type(value)
    if kind is str:
        return cast(str, value)  # mypy narrows on `type(value) is str`, not on `kind`
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if kind is bool:
        return "1" if value else "0"
    if kind is Decimal:
        return f"{value:.2f}"
    if isinstance(value, datetime.datetime):
        return str((value - EPOCH) // MICROSECOND)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)  # a choice's value


def token(value: object) -> str:
    """A value with its length in front, so that no text can pass for two."""
    written = text(value)
    return f"{len(written)}:{written}"
