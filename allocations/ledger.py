"""Tamper evidence: the approved entries of each fund form a hash chain.

Approving an entry appends one `LedgerEntry` per fund whose money it moves (an
allocation two: out of the sending fund, into the receiving one), in the
approving transaction, under the lock on that fund which the approval already
holds. So each fund has a chain of its own, in the order its entries were
approved, and approvals in different funds never wait on each other.

Each row's hash covers the hash of the fund's previous row, the row's place
(fund, position), the federation that owns the fund, the signed amount and a
digest of everything the entry says (for a payment, also the name and ID number
it was paid to), serialised in a fixed, versioned way (`FIELDS`, `text`). Each
row records its version: rows keep the proof they were written with. The fund keeps the head
of its chain (`Fund.ledger_seq`, `Fund.ledger_hash`), so that deleting the last
rows shows as well as deleting one in the middle. `allocations.verify` checks
it all again from the live rows (`manage.py verify_ledger`).

What it shows is a change made behind the application's back (an UPDATE, INSERT
or DELETE in SQL, a restored old backup of one table). The hash has no secret
key: someone who rewrites an entry and then recomputes every later hash of that
fund and its head is only caught by comparing with heads kept elsewhere.
"""

import hashlib
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import cast

from allocations.models import (
    LEDGER_GENESIS,
    Allocation,
    Contribution,
    Disbursement,
    Fund,
    LedgerEntry,
    LedgerKind,
    Movement,
    Status,
)
from unionfunds.money import fen_to_yuan
from unionfunds.serialise import text

# Version 1 hashed neither the fund's owner nor the payee's words.
VERSION = 2
VERSIONS = (1, 2)
GENESIS = LEDGER_GENESIS
CHUNK = 500

MODELS = {
    LedgerKind.CONTRIBUTION: Contribution,
    LedgerKind.ALLOCATION: Allocation,
    LedgerKind.DISBURSEMENT: Disbursement,
}
KINDS = {model: kind for kind, model in MODELS.items()}

# What an entry says, in the order hashed. Version 1: every column but the id
# (which the chain covers separately). A column added to an entry is not
# covered until a new version lists it (tests/test_ledger_chain.py watches).
COMMON_FIELDS = (
    "amount",
    "date",
    "status",
    "note",
    "reverses_id",
    "reason",
    "created_by_id",
    "created_at",
    "decided_by_id",
    "decided_at",
    "rejection_reason",
)
FIELDS_V1 = {
    LedgerKind.CONTRIBUTION: ("fund_id", "source", "reference", *COMMON_FIELDS),
    LedgerKind.ALLOCATION: ("from_fund_id", "to_federation_id", "to_fund_id", "batch", *COMMON_FIELDS),
    LedgerKind.DISBURSEMENT: (
        "fund_id",
        "beneficiary_id",
        "unit_id",
        "assistance_type",
        "batch",
        "duplicate_confirmed",
        *COMMON_FIELDS,
    ),
}
# Version 2 appends, so that a version 1 row's values are the first ones of these.
FIELDS = {
    **FIELDS_V1,
    LedgerKind.DISBURSEMENT: (*FIELDS_V1[LedgerKind.DISBURSEMENT], "payee_name", "payee_id_number"),
}
# Columns that are not what an entry says. A payment's list (`PaymentList`) says how
# it was sent: migration 0009 set it on rows approved long before, whose proofs would
# then fail; each row's list is in its chained audit record instead. The return for
# correction is empty on every approved entry (CHECK returned_while_pending).
# A payment's archive and rule bookkeeping (the household it helped, the rules it
# was charged to, an override's reason) came after many rows were approved; each
# row's values are in its chained audit record (disbursement.created), and
# `verify_ledger --totals` proves the archive and the caps held.
RETURN_FIELDS = frozenset({"returned_by_id", "returned_at", "return_reason"})
POLICY_FIELDS = frozenset({"household_id", "policy_rules", "policy_override"})
NOT_HASHED = {
    LedgerKind.CONTRIBUTION: RETURN_FIELDS,
    LedgerKind.ALLOCATION: RETURN_FIELDS,
    LedgerKind.DISBURSEMENT: RETURN_FIELDS | POLICY_FIELDS | {"payment_list_id"},
}
WIDTH = {1: {kind: len(fields) for kind, fields in FIELDS_V1.items()}, 2: {kind: len(f) for kind, f in FIELDS.items()}}
_AMOUNT: dict[int, int] = {kind: fields.index("amount") for kind, fields in FIELDS.items()}
_REVERSES: dict[int, int] = {kind: fields.index("reverses_id") for kind, fields in FIELDS.items()}
_STATUS: dict[int, int] = {kind: fields.index("status") for kind, fields in FIELDS.items()}


# The serialisation ---------------------------------------------------------------


def content_prefix(kind: int) -> str:
    return f"{int(kind)}|"


def content_digest(kind: int, values: Sequence[object]) -> str:
    """SHA-256 (hex) of what an entry says: `values` in the order of `FIELDS[kind]`."""
    parts = [content_prefix(kind)]
    for value in values:
        written = text(value)
        parts.append(f"{len(written)}:{written}")
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def money_text(fen: int) -> str:
    """Signed fen as yuan with two decimals: -150 → "-1.50" (as `text` writes a Decimal)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def link(
    prev: str,
    fund_id: int,
    seq: int,
    kind: int,
    movement_id: int,
    amount_fen: int,
    content: str,
    *,
    owner_id: int | None = None,
    version: int = VERSION,
) -> str:
    """The hash of a ledger row: the previous row's hash, the row's place, the
    fund's owner (from version 2), the amount, and the digest of the entry
    (`content_digest` of its first `WIDTH[version][kind]` values)."""
    amount = money_text(amount_fen)
    if version == 1:
        message = f"unionfunds-ledger/1|{prev}|{fund_id}|{seq}|{int(kind)}|{movement_id}|{amount}|{content}"
    else:
        message = f"unionfunds-ledger/2|{prev}|{fund_id}|{owner_id}|{seq}|{int(kind)}|{movement_id}|{amount}|{content}"
    return hashlib.sha256(message.encode()).hexdigest()


def legs(kind: int, values: Sequence[object]) -> dict[int, int]:
    """{fund id: signed fen} that an approved entry moves, from its `FIELDS` values:
    the same effect as `Movement.debited_funds()` and `credited_funds()`."""
    # A row mixes types; `FIELDS` fixes where each is: the amount (a MoneyField,
    # so Decimal), the fund first (the sending one of an allocation), and the
    # receiving fund of an allocation third.
    amount = int(cast(Decimal, values[_AMOUNT[kind]]) * 100)
    if values[_REVERSES[kind]] is not None:
        amount = -amount
    fund_id = cast(int, values[0])
    if kind == LedgerKind.CONTRIBUTION:
        return {fund_id: amount}
    if kind == LedgerKind.DISBURSEMENT:
        return {fund_id: -amount}
    return {fund_id: -amount, cast(int, values[2]): amount}


def is_approved(kind: int, values: Sequence[object]) -> bool:
    return values[_STATUS[kind]] == Status.APPROVED


# Writing -----------------------------------------------------------------------------


def record(movements: Iterable[Movement], funds: dict[int, Fund]) -> None:
    """Chain newly approved entries into the ledgers of the funds they move money
    in, and advance those funds' heads.

    The caller holds the locks of `funds` (every fund the entries touch, as
    `services._lock_funds` returned them) and has set each entry's decision
    (status, decided_by, decided_at) in memory as it saved it.
    """
    rows = []
    for movement in movements:
        kind = KINDS[type(movement)]
        values = [getattr(movement, name) for name in FIELDS[kind]]
        content = content_digest(kind, values)
        for fund_id, amount in sorted(legs(kind, values).items()):
            fund = funds[fund_id]
            fund.ledger_seq += 1
            fund.ledger_hash = link(
                fund.ledger_hash,
                fund_id,
                fund.ledger_seq,
                kind,
                movement.pk,
                amount,
                content,
                owner_id=fund.federation_id,
            )
            rows.append(
                LedgerEntry(
                    fund_id=fund_id,
                    seq=fund.ledger_seq,
                    kind=kind,
                    movement_id=movement.pk,
                    amount=fen_to_yuan(amount),
                    hash=fund.ledger_hash,
                    version=VERSION,
                )
            )
    LedgerEntry.objects.bulk_create(rows, batch_size=CHUNK)
    for fund_id in sorted({row.fund_id for row in rows}):
        funds[fund_id].save(update_fields=["ledger_seq", "ledger_hash"])
