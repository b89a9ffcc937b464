"""The audit trail and the export log as hash chains, one per user.

Each audit event and each export record carries its place in its author's
chain (`seq`) and a hash over the previous hash and everything the row says;
the chain's head (`TrailHead`) holds the last place and hash. So a row deleted
anywhere (a gap, or a head ahead of its chain), added (out of place) or changed
(its hash) shows in `verify_trails`, which `manage.py verify_ledger --audit` runs.

One chain per user, not one for the country: a writer locks only its own
author's head, so two clerks never wait on each other, and a transaction never
holds two heads (each writes as one user). The services lock the head before
any fund (`lock_head` from `allocations.services._lock_funds`), so two requests
of one user cannot deadlock on the head and a fund.

What the changes say is hashed in a canonical JSON (keys sorted, no spaces),
as the database gives it back whatever it stored: PostgreSQL's jsonb keeps
neither the order nor the spacing written.
"""

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db import models

from unionfunds.models import AuditEvent, ExportRecord, TrailHead
from unionfunds.serialise import text

GENESIS = "0" * 64
AUDIT = "audit"
EXPORT = "export"
CHUNK = 2000

# What a row says, in the order hashed.
FIELDS = {
    AUDIT: ("at", "user_id", "action", "content_type_id", "object_id", "object_repr", "federation_id", "reason"),
    EXPORT: ("at", "user_id", "federation_id", "what", "format", "row_count", "full_id_numbers"),
}
PAYLOAD = {AUDIT: "changes", EXPORT: "filters"}
MODELS: dict[str, type[models.Model]] = {AUDIT: AuditEvent, EXPORT: ExportRecord}


def canonical(value: object) -> str:
    """JSON as hashed: keys sorted, no spaces, non-ASCII as is."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content(values: Sequence[object], payload: str) -> str:
    """A row's words (`FIELDS` order) and its canonical payload, each with its length in front."""
    parts = []
    for value in (*values, payload):
        written = text(value)
        parts.append(f"{len(written)}:{written}")
    return "|".join(parts)


def link(prev: str, trail: str, user_id: int | None, seq: int, said: str) -> str:
    message = f"unionfunds-trail/1|{trail}|{prev}|{user_id or ''}|{seq}|{said}"
    return hashlib.sha256(message.encode()).hexdigest()


def head_key(trail: str, user_id: int | None) -> str:
    return f"{trail}:{user_id or '-'}"


def lock_head(trail: str, user_id: int | None) -> TrailHead:
    """The author's head, locked to the end of the transaction (created at its first row)."""
    key = head_key(trail, user_id)
    # ON CONFLICT DO NOTHING (INSERT OR IGNORE on SQLite): never an error to roll back.
    TrailHead.objects.bulk_create([TrailHead(key=key, seq=0, hash=GENESIS)], ignore_conflicts=True)
    return TrailHead.objects.select_for_update().get(key=key)


def chain(trail: str, user_id: int | None, said: Iterable[str]) -> list[tuple[int, str]]:
    """(seq, hash) for each row, in order, after the author's head; advances
    the head. Call inside the transaction that writes the rows."""
    head = lock_head(trail, user_id)
    places = []
    seq, prev = head.seq, head.hash
    for words in said:
        seq += 1
        prev = link(prev, trail, user_id, seq, words)
        places.append((seq, prev))
    if places:
        head.seq, head.hash = seq, prev
        head.save(update_fields=["seq", "hash"])
    return places


# Checking --------------------------------------------------------------------------


@dataclass
class TrailProblem:
    trail: str
    user_id: int | None
    kind: str  # "gap", "changed", "head", "unchained"
    seq: int | None = None
    row_id: int | None = None


@dataclass
class TrailReport:
    rows: int = 0
    problems: list[TrailProblem] = field(default_factory=list)


def verify_trails() -> TrailReport:
    """Every chain of both trails walked from its start, against its head."""
    report = TrailReport()
    for trail in (AUDIT, EXPORT):
        heads = {head.key: (head.seq, head.hash) for head in TrailHead.objects.filter(key__startswith=f"{trail}:")}
        seen = set()
        for user_id, rows in _chains(trail):
            key = head_key(trail, user_id)
            seen.add(key)
            expected, prev = 1, GENESIS
            for row_id, seq, stored, words in rows:
                report.rows += 1
                if seq is None:
                    report.problems.append(TrailProblem(trail, user_id, "unchained", row_id=row_id))
                    continue
                if seq != expected:
                    report.problems.append(TrailProblem(trail, user_id, "gap", seq=expected, row_id=row_id))
                elif stored != link(prev, trail, user_id, seq, words):
                    report.problems.append(TrailProblem(trail, user_id, "changed", seq=seq, row_id=row_id))
                prev, expected = stored, seq + 1
            if heads.get(key, (0, GENESIS)) != (expected - 1, prev):
                report.problems.append(TrailProblem(trail, user_id, "head", seq=expected - 1))
        for key in sorted(set(heads) - seen):
            if heads[key][0] > 0:
                user = key.split(":", 1)[1]
                report.problems.append(TrailProblem(trail, None if user == "-" else int(user), "head", seq=0))
    return report


def _chains(trail: str) -> Iterator[tuple[int | None, list[tuple[int, int | None, str, str]]]]:
    """Each author's rows in chain order: (id, seq, hash, words)."""
    model = MODELS[trail]
    names = FIELDS[trail]
    rows = (
        model._base_manager.order_by("user_id", "seq", "id")
        .values_list("id", "seq", "hash", PAYLOAD[trail], *names)
        .iterator(chunk_size=CHUNK)
    )
    current: int | object | None = object()
    batch: list[tuple[int, int | None, str, str]] = []
    for row_id, seq, stored, payload, *values in rows:
        user_id = values[names.index("user_id")]
        if user_id != current:
            if batch:
                yield current, batch  # type: ignore[misc]
            current, batch = user_id, []
        batch.append((row_id, seq, stored, content(values, canonical(payload))))
    if batch:
        yield current, batch  # type: ignore[misc]
