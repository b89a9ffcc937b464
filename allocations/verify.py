"""Checking the money against itself, read-only (`manage.py verify_ledger`).

`verify()` walks every fund's hash chain in order (`allocations.ledger`),
recomputing each hash from the live entry, and reports every entry changed,
missing from the chain or gone from under it, every gap and every head that the
chain does not reach; then every approved entry that no chain holds, every fund
whose balance or reservation differs from its entries, and, if asked, every
running total (`allocations.totals`) that differs from what a rebuild would
write, and, if asked, every entry whose entry or decision the audit trail
does not record. It streams the ledger in chunks, so memory stays flat however many
entries there are; it writes nothing.
"""

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import QuerySet
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from allocations import ledger, verify_policy
from allocations.holdings import holdings_sql
from allocations.models import (
    AllocationTotal,
    ContributionTotal,
    Disbursement,
    DisbursementTotal,
    Fund,
    LedgerEntry,
    LedgerKind,
    PersonCount,
    Status,
)
from allocations.totals import ALL_TYPES, ALL_YEARS
from beneficiaries.idnumber import mask
from beneficiaries.models import Beneficiary, Unit
from unionfunds import trail
from unionfunds.models import FEDERATION_AUDITED_FIELDS, AuditEvent, Federation
from unionfunds.money import fen_to_yuan, format_yuan

CHUNK = 2000

CHANGED = _(
    "Fund %(fund)s, ledger entry %(seq)s: %(entry)s does not match its hash: "
    "it, or this ledger entry, was changed after approval."
)
GONE = _("Fund %(fund)s, ledger entry %(seq)s: %(entry)s no longer exists (deleted).")
NOT_APPROVED = _("Fund %(fund)s, ledger entry %(seq)s: %(entry)s is no longer approved (now: %(status)s).")
GAP = _("Fund %(fund)s: ledger entries %(first)s to %(last)s are missing (deleted); the chain is broken there.")
GAP_ONE = _("Fund %(fund)s: ledger entry %(first)s is missing (deleted); the chain is broken there.")
OUT_OF_ORDER = _("Fund %(fund)s: ledger entry %(seq)s appears again or out of order.")
HEAD_SHORT = _(
    "Fund %(fund)s: its ledger ends at entry %(last)s, but the fund records %(head)s entries: "
    "the entries after %(last)s were deleted."
)
HEAD_CHANGED = _(
    "Fund %(fund)s: the hash of its last ledger entry (%(last)s) is not the one the fund recorded: "
    "the ledger or the fund was changed."
)
UNRECORDED = _(
    "%(entry)s is approved but not in the ledger of fund %(fund)s: "
    "it was added or approved behind the application's back."
)
UNAUDITED = _(
    "%(entry)s has no audit record of its entry: it was written behind the application's back, "
    "or its record was removed from the audit trail."
)
UNAUDITED_DECISION = _(
    "%(entry)s is %(status)s, but no audit record says who decided it: it was decided behind the "
    "application's back, or its record was removed from the audit trail."
)
BALANCE = _("Fund %(fund)s: balance %(actual)s yuan, but its approved entries add up to %(expected)s yuan.")
RESERVED = _("Fund %(fund)s: %(actual)s yuan reserved, but its pending entries hold %(expected)s yuan.")
TOTAL = _("Running total %(total)s: %(actual)s, but the entries give %(expected)s.")
PERSONS = _("Person count of %(federation)s (%(scope)s, %(year)s): %(actual)s, but the entries give %(expected)s.")
ANCHOR = _(
    "Fund %(fund)s: ledger entry %(seq)s is not the one in the saved heads (%(hash)s…): "
    "its chain was rewritten or cut since."
)
ANCHOR_GONE = _("Fund #%(id)s of the saved heads no longer exists.")
PAYEE_NUMBER = _(
    "Fund %(fund)s: %(entry)s was paid to ID number %(paid)s, but its person now has another ID number "
    "(changed outside the application)."
)
TRAIL_PROBLEMS = {
    "gap": _("%(trail)s of %(user)s: entry %(seq)s is missing (deleted) or out of place (record #%(id)s)."),
    "changed": _(
        "%(trail)s of %(user)s: entry %(seq)s (record #%(id)s) does not match its hash: changed after it was written."
    ),
    "head": _(
        "%(trail)s of %(user)s: the chain ends at entry %(seq)s, not where its head says: "
        "entries were deleted or added."
    ),
    "unchained": _("%(trail)s of %(user)s: record #%(id)s is in no chain: written behind the application's back."),
}
TRAILS = {"audit": _("Audit trail"), "export": _("Export log")}
NO_USER = _("no user")
PERSON_UNAUDITED = _(
    "Beneficiary #%(id)s: %(field)s is not what the audit trail last recorded (changed outside the application)."
)
FEDERATION_UNAUDITED = _(
    "Federation #%(id)s: %(field)s is not what the audit trail last recorded (changed outside the application)."
)
UNIT_UNAUDITED = _(
    "Unit #%(id)s: %(field)s is not what the audit trail last recorded (changed outside the application)."
)
OWN_FUNDS = _("own funds")
SUBTREE = _("subtree")
ALL_YEARS_LABEL = _("all years")


@dataclass(frozen=True)
class Problem:
    message: str
    params: dict
    fund_id: int | None = None
    entry: tuple[int, int] | None = None  # (LedgerKind, id)

    def render(self, fund_labels: dict[int, str]) -> str:
        params = dict(self.params)
        if self.fund_id is not None:
            params["fund"] = fund_labels.get(self.fund_id, f"#{self.fund_id}")
        if self.entry is not None:
            kind, pk = self.entry
            params["entry"] = f"{ledger.MODELS[kind]._meta.verbose_name} #{pk}"
        return capfirst(str(self.message) % params)


@dataclass
class Report:
    limit: int = 50
    funds: int = 0
    entries: int = 0
    found: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    heads: dict[int, tuple[int, str]] = field(default_factory=dict)  # what the funds record, to save

    @property
    def clean(self) -> bool:
        return self.found == 0

    def add(self, message, *, fund_id: int | None = None, entry: tuple[int, int] | None = None, **params) -> None:
        self.found += 1
        if len(self.problems) < self.limit:
            self.problems.append(Problem(message, params, fund_id, entry))

    def lines(self) -> list[str]:
        """The problems kept, in the active language, funds named."""
        ids = {p.fund_id for p in self.problems if p.fund_id is not None}
        labels = {
            fund.pk: f"#{fund.pk} {fund}"
            for fund in Fund.objects.filter(pk__in=ids).select_related("federation").order_by()
        }
        return [problem.render(labels) for problem in self.problems]


def verify(
    *,
    funds: QuerySet | None = None,
    totals: bool = False,
    audit: bool = False,
    limit: int = 50,
    anchors: dict[int, tuple[int, str]] | None = None,
) -> Report:
    """Every check on the funds of `funds` (all of them by default). Run it in
    one transaction with a stable snapshot (REPEATABLE READ on PostgreSQL), so
    that approvals committed meanwhile do not show as a head ahead of its chain.

    `anchors` are heads saved by an earlier run ({fund id: (position, hash)}),
    kept away from the database: each chain must still pass through its own. A
    hash without a key cannot show a chain rewritten from end to end; these can.
    """
    started = time.perf_counter()
    report = Report(limit=limit)
    scope = funds.order_by() if funds is not None else None
    heads = {}
    owners = {}
    for pk, seq, head, balance, reserved, owner in (
        scope if scope is not None else Fund.objects.order_by()
    ).values_list("pk", "ledger_seq", "ledger_hash", "balance", "reserved", "federation_id"):
        heads[pk] = (seq, head, balance, reserved)
        owners[pk] = owner
    report.funds = len(heads)
    report.heads = {pk: (seq, head) for pk, (seq, head, _balance, _reserved) in heads.items()}
    anchors = anchors or {}
    if scope is None:
        for fund_id in sorted(set(anchors) - set(heads)):
            report.add(ANCHOR_GONE, id=fund_id)
    _check_chains(report, heads, owners, scope, {pk: anchor for pk, anchor in anchors.items() if pk in heads})
    _check_unrecorded(report, scope)
    _check_payees(report, scope)
    if audit:
        _check_audit_trail(report, scope)
        if scope is None:
            _check_people_against_trail(report)
            _check_federations_and_units_against_trail(report)
            _check_trails(report)
    _check_holdings(report, heads, scope)
    if totals:
        _check_totals(report, scope)
        if scope is None:
            _check_person_counts(report)
            verify_policy.check(report)
    report.seconds = time.perf_counter() - started
    return report


# The chains ----------------------------------------------------------------------------


def _check_chains(report: Report, heads: dict, owners: dict, scope: QuerySet | None, anchors: dict) -> None:
    rows = LedgerEntry.objects.order_by("fund_id", "seq")
    if scope is not None:
        rows = rows.filter(fund__in=scope.values("pk"))
    rows = rows.values_list("fund_id", "seq", "kind", "movement_id", "amount", "hash", "version").iterator(
        chunk_size=CHUNK
    )
    walk = _Walk(report, heads, owners, anchors)
    for batch in _batches(rows, CHUNK):
        entries = _entries(batch)
        for row in batch:
            walk.step(*row, entries.get((row[2], row[3])))
    walk.close()
    for fund_id, head in heads.items():
        if fund_id not in walk.seen:
            _check_head(report, fund_id, head, 0, ledger.GENESIS)
            walk.check_anchor(fund_id)


class _Walk:
    """One pass over the ledger in (fund, position) order."""

    def __init__(self, report: Report, heads: dict, owners: dict, anchors: dict):
        self.report, self.heads, self.owners, self.anchors = report, heads, owners, anchors
        self.fund: int | None = None
        self.seen: set[int] = set()
        self.expected, self.prev, self.last = 1, ledger.GENESIS, 0
        self.anchored = False  # the saved head of this fund was passed, as saved

    def step(self, fund_id, seq, kind, movement_id, amount, stored, version, values) -> None:
        if fund_id != self.fund:
            self.close()
            self.fund, self.expected, self.prev, self.last = fund_id, 1, ledger.GENESIS, 0
            self.anchored = False
            self.seen.add(fund_id)
        report = self.report
        report.entries += 1
        entry = (kind, movement_id)
        broken = seq != self.expected
        if seq > self.expected:
            report.add(GAP if seq - 1 > self.expected else GAP_ONE, fund_id=fund_id, first=self.expected, last=seq - 1)
        elif seq < self.expected:
            report.add(OUT_OF_ORDER, fund_id=fund_id, seq=seq)
        if values is None:
            report.add(GONE, fund_id=fund_id, entry=entry, seq=seq)
        elif not ledger.is_approved(kind, values):
            status = values[ledger.FIELDS[kind].index("status")]
            label = Status(status).label if status in Status.values else status
            report.add(NOT_APPROVED, fund_id=fund_id, entry=entry, seq=seq, status=label)
        elif version not in ledger.VERSIONS:
            report.add(CHANGED, fund_id=fund_id, entry=entry, seq=seq)
        elif not broken:
            leg = ledger.legs(kind, values).get(fund_id)
            said = ledger.content_digest(kind, values[: ledger.WIDTH[version][kind]])
            owner = self.owners.get(fund_id)
            if (
                leg is None
                or int(amount * 100) != leg
                or stored
                != ledger.link(self.prev, fund_id, seq, kind, movement_id, leg, said, owner_id=owner, version=version)
            ):
                report.add(CHANGED, fund_id=fund_id, entry=entry, seq=seq)
        anchor = self.anchors.get(fund_id)
        if anchor is not None and anchor == (seq, stored):
            self.anchored = True
        self.prev, self.last = stored, seq
        self.expected = max(self.expected, seq + 1)

    def close(self) -> None:
        if self.fund is None:
            return
        _check_head(self.report, self.fund, self.heads.get(self.fund, (0, ledger.GENESIS)), self.last, self.prev)
        if not self.anchored:
            self.check_anchor(self.fund)
        self.fund = None

    def check_anchor(self, fund_id: int) -> None:
        """Called for a fund whose chain did not pass through its saved head."""
        anchor = self.anchors.get(fund_id)
        if anchor is not None and anchor[0] > 0:
            self.report.add(ANCHOR, fund_id=fund_id, seq=anchor[0], hash=anchor[1][:12])


def _check_head(report: Report, fund_id: int, head: tuple, last: int, last_hash: str) -> None:
    """The fund's head against where its chain ends."""
    seq, head_hash = head[:2]
    if seq != last:
        report.add(HEAD_SHORT, fund_id=fund_id, last=last, head=seq)
    elif head_hash != last_hash:
        report.add(HEAD_CHANGED, fund_id=fund_id, last=last)


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _entries(batch: list) -> dict[tuple[int, int], tuple]:
    """{(kind, id): the values hashed} of the entries a batch of ledger rows names."""
    wanted: dict[int, set[int]] = {}
    for _fund, _seq, kind, movement_id, *_rest in batch:
        wanted.setdefault(kind, set()).add(movement_id)
    found = {}
    for kind, ids in wanted.items():
        model = ledger.MODELS[kind]
        for pk, *values in model.objects.filter(pk__in=ids).order_by().values_list("pk", *ledger.FIELDS[kind]):
            found[(kind, pk)] = values
    return found


# Entries no chain holds ----------------------------------------------------------------


def _check_unrecorded(report: Report, scope: QuerySet | None) -> None:
    """Approved entries without their ledger row in each fund they moved money in:
    inserted as approved, or turned approved, by something other than the services."""
    entry_table = LedgerEntry._meta.db_table
    scope_sql, scope_params = _scope_sql(scope)
    for kind, columns in (
        (LedgerKind.CONTRIBUTION, ("fund_id",)),
        (LedgerKind.ALLOCATION, ("from_fund_id", "to_fund_id")),
        (LedgerKind.DISBURSEMENT, ("fund_id",)),
    ):
        table = ledger.MODELS[kind]._meta.db_table
        for column in columns:
            in_scope = f"AND m.{column} IN ({scope_sql})" if scope_sql else ""
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT m.id, m.{column} FROM {table} m WHERE m.status = %s {in_scope} AND NOT EXISTS "
                    f"(SELECT 1 FROM {entry_table} l WHERE l.fund_id = m.{column} AND l.kind = %s "
                    "AND l.movement_id = m.id) ORDER BY m.id",
                    [Status.APPROVED.value, *scope_params, int(kind)],
                )
                while rows := cursor.fetchmany(CHUNK):
                    for pk, fund_id in rows:
                        report.add(UNRECORDED, fund_id=fund_id, entry=(kind, pk))


OWNING_FUND = {
    LedgerKind.CONTRIBUTION: "fund_id",
    LedgerKind.ALLOCATION: "from_fund_id",
    LedgerKind.DISBURSEMENT: "fund_id",
}


def _check_audit_trail(report: Report, scope: QuerySet | None) -> None:
    """Entries without the audit record of their entry, and decided entries
    without the record of their decision: the services write both in the
    entry's own transaction, so a gap is a write or a removal from outside."""
    audit_table = AuditEvent._meta.db_table
    scope_sql, scope_params = _scope_sql(scope)
    for kind, column in OWNING_FUND.items():
        model = ledger.MODELS[kind]
        name = model._meta.model_name
        content_type = ContentType.objects.get_for_model(model).pk
        recorded = f"SELECT 1 FROM {audit_table} a WHERE a.content_type_id = %s AND a.object_id = m.id AND a.action = "
        in_scope = f"WHERE m.{column} IN ({scope_sql})" if scope_sql else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, fund_id, status, no_entry, no_decision FROM ("
                f"SELECT m.id, m.{column} AS fund_id, m.status, NOT EXISTS ({recorded}%s) AS no_entry, "
                f"(m.status <> %s AND NOT EXISTS ({recorded}%s || m.status)) AS no_decision "
                f"FROM {model._meta.db_table} m {in_scope}) q WHERE no_entry OR no_decision ORDER BY id",
                [content_type, f"{name}.created", Status.PENDING.value, content_type, f"{name}.", *scope_params],
            )
            while rows := cursor.fetchmany(CHUNK):
                for pk, fund_id, status, no_entry, no_decision in rows:
                    if no_entry:
                        report.add(UNAUDITED, fund_id=fund_id, entry=(kind, pk))
                    if no_decision:
                        report.add(UNAUDITED_DECISION, fund_id=fund_id, entry=(kind, pk), status=Status(status).label)


def _check_payees(report: Report, scope: QuerySet | None) -> None:
    """A person's ID number is who they are: no service changes it. A payment's
    own words are in the chain; the person it points at must still be the one."""
    scope_sql, scope_params = _scope_sql(scope)
    in_scope = f"AND d.fund_id IN ({scope_sql})" if scope_sql else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT d.id, d.fund_id, d.payee_id_number FROM {Disbursement._meta.db_table} d "
            f"JOIN {Beneficiary._meta.db_table} b ON b.id = d.beneficiary_id "
            f"WHERE d.payee_id_number <> '' AND d.payee_id_number <> b.id_number {in_scope} ORDER BY d.id",
            [*scope_params],
        )
        while rows := cursor.fetchmany(CHUNK):
            for pk, fund_id, paid in rows:
                report.add(PAYEE_NUMBER, fund_id=fund_id, entry=(LedgerKind.DISBURSEMENT, pk), paid=mask(paid))


def _check_trails(report: Report) -> None:
    """The audit trail's and the export log's chains (`unionfunds.trail`)."""
    checked = trail.verify_trails()
    users = dict(
        get_user_model().objects.filter(pk__in={p.user_id for p in checked.problems}).values_list("pk", "username")
    )
    for problem in checked.problems:
        report.add(
            TRAIL_PROBLEMS[problem.kind],
            trail=TRAILS[problem.trail],
            user=users.get(problem.user_id, NO_USER),
            seq=problem.seq,
            id=problem.row_id,
        )


# What the trail last recorded of each record: its creation, then each change.
PERSON_FIELDS = ("name", "id_number", "federation")
UNIT_FIELDS = ("name", "kind", "federation")


def _check_people_against_trail(report: Report) -> None:
    """Each person's name, ID number and federation as the audit trail last
    recorded them (registration, then edits; ID numbers are recorded masked)."""
    _check_against_trail(
        report,
        Beneficiary,
        ("beneficiary.registered", "beneficiary.edited"),
        PERSON_FIELDS,
        PERSON_UNAUDITED,
        shown={"id_number": lambda number: mask(str(number))},
    )


def _check_federations_and_units_against_trail(report: Report) -> None:
    """Each federation's code, name, level and parent, and each unit's name, kind
    and federation, as the trail last recorded them: a name changed by SQL would
    otherwise show on every page, export and roll-up as if it had always been so."""
    _check_against_trail(
        report,
        Federation,
        ("federation.created", "federation.renamed", "federation.moved"),
        FEDERATION_AUDITED_FIELDS,
        FEDERATION_UNAUDITED,
    )
    _check_against_trail(report, Unit, ("unit.created",), UNIT_FIELDS, UNIT_UNAUDITED)


def _check_against_trail(report: Report, model, actions: tuple[str, ...], fields, message, shown=None) -> None:
    """Report each field of each `model` row that differs from the last value the
    trail's `actions` recorded for it (`shown` turns a value into its recorded form)."""
    shown = shown or {}
    recorded: dict[int, dict[str, object]] = {}
    events = (
        AuditEvent.objects.filter(content_type=ContentType.objects.get_for_model(model), action__in=actions)
        .order_by("id")
        .values_list("object_id", "changes")
    )
    for pk, changes in events.iterator(chunk_size=CHUNK):
        said = recorded.setdefault(pk, {})
        for name in fields:
            if isinstance(changes, dict) and name in changes:
                said[name] = changes[name].get("after")
    columns = [model._meta.get_field(name).attname for name in fields]
    rows = model._base_manager.order_by("pk").values_list("pk", *columns)
    for pk, *values in rows.iterator(chunk_size=CHUNK):
        said = recorded.get(pk, {})
        for name, value in zip(fields, values, strict=True):
            value = shown[name](value) if name in shown else value
            if said.get(name) != value:
                report.add(message, id=pk, field=model._meta.get_field(name).verbose_name)


def _scope_sql(scope: QuerySet | None) -> tuple[str, tuple]:
    if scope is None:
        return "", ()
    return scope.values("pk").query.sql_with_params()


# Balances and reservations ---------------------------------------------------------------


def _check_holdings(report: Report, heads: dict, scope: QuerySet | None) -> None:
    """Each fund's balance against its approved entries (reversals subtracted), and
    its reservation against what its pending entries would take out."""
    expected = _holdings(scope)
    for fund_id, (_seq, _head, balance, reserved) in heads.items():
        held, held_back = expected.get(fund_id, (0, 0))
        if int(balance * 100) != held:
            report.add(BALANCE, fund_id=fund_id, actual=format_yuan(balance), expected=format_yuan(fen_to_yuan(held)))
        if int(reserved * 100) != held_back:
            report.add(
                RESERVED, fund_id=fund_id, actual=format_yuan(reserved), expected=format_yuan(fen_to_yuan(held_back))
            )


def _holdings(scope: QuerySet | None) -> dict[int, tuple[int, int]]:
    """{fund id: (fen held, fen held back for pending outflows)} from the entries."""
    sql, params = holdings_sql(*_scope_sql(scope))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {fund_id: (int(held), int(held_back)) for fund_id, held, held_back in cursor.fetchall()}


# Running totals -------------------------------------------------------------------------------


def _check_totals(report: Report, scope: QuerySet | None) -> None:
    """The running totals of the funds in scope against sums over their approved
    entries: what `totals.rebuild()` would write, computed without writing."""
    signed = "SUM(CASE WHEN reverses_id IS NULL THEN amount ELSE -amount END)"
    times = "SUM(CASE WHEN beneficiary_id IS NULL THEN 0 WHEN reverses_id IS NULL THEN 1 ELSE -1 END)"
    entries = {kind: model._meta.db_table for kind, model in ledger.MODELS.items()}
    scope_sql, scope_params = _scope_sql(scope)
    specs = [
        # (totals table, key columns, total columns, entries table, sums of the entries, fund columns)
        (ContributionTotal, "fund_id, source", "amount", entries[LedgerKind.CONTRIBUTION], signed, ("fund_id",)),
        (
            AllocationTotal,
            "from_fund_id, to_fund_id",
            "amount",
            entries[LedgerKind.ALLOCATION],
            signed,
            ("from_fund_id", "to_fund_id"),
        ),
        (
            DisbursementTotal,
            "fund_id, assistance_type",
            "amount, person_times",
            entries[LedgerKind.DISBURSEMENT],
            f"{signed}, {times}",
            ("fund_id",),
        ),
    ]
    for model, key, columns, table, sums, fund_columns in specs:
        width = key.count(",") + 1
        in_scope, params = "", []
        if scope_sql:
            in_scope = "(" + " OR ".join(f"{column} IN ({scope_sql})" for column in fund_columns) + ")"
            params = list(scope_params) * len(fund_columns)
        wanted = _keyed(
            f"SELECT {key}, {sums} FROM {table} WHERE status = '{Status.APPROVED}' "
            f"{'AND ' + in_scope if in_scope else ''} GROUP BY {key}",
            params,
            width,
        )
        if model is DisbursementTotal:
            # Each fund also has a row for all assistance types together.
            for (fund_id, _type), (amount, person_times) in list(wanted.items()):
                amount_sum, times_sum = wanted.get((fund_id, ALL_TYPES), (0, 0))
                wanted[(fund_id, ALL_TYPES)] = (amount_sum + amount, times_sum + person_times)
        have = _keyed(
            f"SELECT {key}, {columns} FROM {model._meta.db_table} {'WHERE ' + in_scope if in_scope else ''}",
            params,
            width,
        )
        zero = (0,) * (columns.count(",") + 1)
        for k in sorted(set(have) | set(wanted), key=str):
            got, want = have.get(k, zero), wanted.get(k, zero)
            if got != want:
                described = ", ".join(f"{name.strip()}={value}" for name, value in zip(key.split(","), k, strict=True))
                report.add(
                    TOTAL,
                    total=f"{model._meta.db_table} ({described})",
                    actual=_total_text(got),
                    expected=_total_text(want),
                )


def _keyed(sql: str, params: list, width: int) -> dict[tuple, tuple[int, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {tuple(row[:width]): tuple(int(value) for value in row[width:]) for row in cursor.fetchall()}


def _total_text(values: tuple[int, ...]) -> str:
    """Fen as yuan; person-times after a slash."""
    amount = format_yuan(fen_to_yuan(values[0]))
    return amount if len(values) == 1 else f"{amount} / {values[1]}"


def _check_person_counts(report: Report) -> None:
    """Person counts against the people with a standing payment in each scope (a
    federation's own funds, its subtree; each fiscal year, all years), counted
    straight from the approved disbursements. Subtrees are grouped by path
    prefix first and named after: a join of every federation with its
    ancestors before grouping would pair the whole tree with itself."""
    federations = Federation._meta.db_table
    paid = (
        f"FROM {ledger.MODELS[LedgerKind.DISBURSEMENT]._meta.db_table} d "
        f"JOIN {Fund._meta.db_table} f ON f.id = d.fund_id JOIN {federations} fed ON fed.id = f.federation_id "
        f"WHERE d.status = '{Status.APPROVED}' AND d.beneficiary_id IS NOT NULL"
    )
    standing = "SUM(CASE WHEN d.reverses_id IS NULL THEN 1 ELSE -1 END)"
    depth = Federation.objects.order_by("-depth").values_list("depth", flat=True).first() or 0
    # (own funds?, what groups a scope, which payments count, how a group names its federation)
    scopes = [(True, "fed.id", "", "SELECT p.scope, p.year, COUNT(*) FROM ({people}) p GROUP BY p.scope, p.year")]
    for level in range(1, depth + 1):
        scopes.append(
            (
                False,
                f"SUBSTR(fed.path, 1, {level * Federation.steplen})",
                f" AND fed.depth >= {level}",
                f"SELECT anc.id, p.year, COUNT(*) FROM ({{people}}) p JOIN {federations} anc ON anc.path = p.scope "
                "GROUP BY anc.id, p.year",
            )
        )
    expected: dict[tuple, int] = {}
    with connection.cursor() as cursor:
        for own, scope, deep_enough, count in scopes:
            for by_year in (True, False):
                year, grouped = ("f.fiscal_year", ", f.fiscal_year") if by_year else (str(ALL_YEARS), "")
                people = (
                    f"SELECT {scope} AS scope, {year} AS year {paid}{deep_enough} "
                    f"GROUP BY {scope}{grouped}, d.beneficiary_id HAVING {standing} > 0"
                )
                cursor.execute(count.format(people=people))
                for federation_id, fiscal_year, persons in cursor.fetchall():
                    expected[(federation_id, own, int(fiscal_year))] = persons
    have = {
        (federation_id, own, fiscal_year): persons
        for federation_id, own, fiscal_year, persons in PersonCount.objects.values_list(
            "federation_id", "own", "fiscal_year", "persons"
        )
    }
    wrong = sorted(key for key in set(have) | set(expected) if have.get(key, 0) != expected.get(key, 0))
    names = dict(Federation.objects.filter(pk__in={key[0] for key in wrong[: report.limit]}).values_list("pk", "name"))
    for key in wrong:
        federation_id, own, fiscal_year = key
        report.add(
            PERSONS,
            federation=names.get(federation_id, f"#{federation_id}"),
            scope=OWN_FUNDS if own else SUBTREE,
            year=ALL_YEARS_LABEL if fiscal_year == ALL_YEARS else fiscal_year,
            actual=have.get(key, 0),
            expected=expected.get(key, 0),
        )
