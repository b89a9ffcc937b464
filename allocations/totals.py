"""Running totals behind the roll-ups: written in each approval's transaction,
rebuilt from the entries on demand (after a bulk load, or to check them)."""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction

from allocations.models import (
    Allocation,
    AllocationTotal,
    Contribution,
    ContributionTotal,
    Disbursement,
    DisbursementTotal,
    Fund,
    Movement,
    PersonCount,
    PersonReach,
    RunningTotal,
    Status,
)
from unionfunds.models import Federation

ALL_YEARS = 0  # PersonReach/PersonCount rows for every fiscal year together
# DisbursementTotal rows for every assistance type together: an unfiltered roll-up
# reads one row per fund, however many kinds of help each fund has paid.
ALL_TYPES = ""
CHUNK = 500

# The key columns of a total and their values, in the order of its unique constraint.
Fields = tuple[tuple[str, int | str], ...]
# A person in a scope: (federation id, own funds only, fiscal year or ALL_YEARS, beneficiary id).
Reach = tuple[int, bool, int, int]


@dataclass
class _Delta:
    amount: Decimal = Decimal("0.00")
    times: int = 0


def record(movements: Iterable[Movement]) -> None:
    """Add approved entries (a reversal subtracts) to the totals. The caller holds
    the locks of the funds involved."""
    movements = list(movements)
    deltas: dict[tuple[type[RunningTotal], Fields], _Delta] = defaultdict(_Delta)
    for movement in movements:
        sign = -1 if movement.is_reversal else 1
        keys: list[tuple[type[RunningTotal], Fields]]
        if isinstance(movement, Contribution):
            keys = [(ContributionTotal, (("fund_id", movement.fund_id), ("source", movement.source)))]
        elif isinstance(movement, Allocation):
            keys = [(AllocationTotal, (("from_fund_id", movement.from_fund_id), ("to_fund_id", movement.to_fund_id)))]
        else:
            assert isinstance(movement, Disbursement)  # the third and last kind of entry
            keys = [
                (DisbursementTotal, (("fund_id", movement.fund_id), ("assistance_type", assistance_type)))
                for assistance_type in (movement.assistance_type, ALL_TYPES)
            ]
        for key in keys:
            deltas[key].amount += sign * movement.amount
            if isinstance(movement, Disbursement) and movement.beneficiary_id is not None:
                deltas[key].times += sign
    by_model: dict[type[RunningTotal], list[tuple[Fields, Decimal, int]]] = defaultdict(list)
    for (model, fields), delta in deltas.items():
        by_model[model].append((fields, delta.amount, delta.times))
    for model, rows in by_model.items():
        _add(model, rows)
    _record_persons([m for m in movements if isinstance(m, Disbursement) and m.beneficiary_id is not None])


def _add(model: type[RunningTotal], rows: list[tuple[Fields, Decimal, int]]) -> None:
    """Add each row's amount (and person-times) to its total, creating the total
    if need be: one upsert for all of them."""
    table = model._meta.db_table
    columns = {field.attname: field.column for field in model._meta.concrete_fields}
    keys = [columns[name] for name, _ in rows[0][0]]
    with_times = model is DisbursementTotal
    counted = ["amount", "person_times"] if with_times else ["amount"]
    to_fen = model._meta.get_field("amount").get_prep_value
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(keys + counted)}) VALUES ({', '.join(['%s'] * len(keys + counted))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in counted),
            [
                (*(value for _, value in fields), to_fen(amount), *([times] if with_times else []))
                for fields, amount, times in rows
            ],
        )


@transaction.atomic
def rebuild() -> None:
    """Recompute every total and person count from the approved entries, in the database."""
    for model in (ContributionTotal, AllocationTotal, DisbursementTotal):
        model.objects.all().delete()
    table = {model: model._meta.db_table for model in (Contribution, Allocation, Disbursement)}
    signed = "SUM(CASE WHEN e.reverses_id IS NULL THEN e.amount ELSE -e.amount END)"
    approved = f"e.status = '{Status.APPROVED}'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ContributionTotal._meta.db_table} (fund_id, source, amount) "
            f"SELECT e.fund_id, e.source, {signed} FROM {table[Contribution]} e WHERE {approved} "
            "GROUP BY e.fund_id, e.source"
        )
        cursor.execute(
            f"INSERT INTO {AllocationTotal._meta.db_table} (from_fund_id, to_fund_id, amount) "
            f"SELECT e.from_fund_id, e.to_fund_id, {signed} FROM {table[Allocation]} e WHERE {approved} "
            "GROUP BY e.from_fund_id, e.to_fund_id"
        )
        for assistance_type, group_by in (("e.assistance_type", ", e.assistance_type"), (f"'{ALL_TYPES}'", "")):
            cursor.execute(
                f"INSERT INTO {DisbursementTotal._meta.db_table} (fund_id, assistance_type, amount, person_times) "
                f"SELECT e.fund_id, {assistance_type}, {signed}, "
                "SUM(CASE WHEN e.beneficiary_id IS NULL THEN 0 WHEN e.reverses_id IS NULL THEN 1 ELSE -1 END) "
                f"FROM {table[Disbursement]} e WHERE {approved} GROUP BY e.fund_id{group_by}"
            )
    rebuild_persons()


# Persons ---------------------------------------------------------------------------


def _record_persons(payments: list[Disbursement]) -> None:
    """Count each paid person once in every scope above the paying fund: the
    subtrees of its federation and all its ancestors, and that federation's own
    funds; for the fund's fiscal year and for all years."""
    if not payments:
        return
    funds = {
        pk: (year, federation_id, path)
        # order_by(): the default ordering by federation path would make PostgreSQL
        # walk the whole tree to find a few funds.
        for pk, year, federation_id, path in Fund.objects.filter(pk__in={p.fund_id for p in payments})
        .order_by()
        .values_list("pk", "fiscal_year", "federation_id", "federation__path")
    }
    prefixes = {path[:end] for _, _, path in funds.values() for end in _prefix_ends(path)}
    federation_ids = dict(Federation.objects.filter(path__in=prefixes).values_list("path", "pk"))
    deltas: Counter[Reach] = Counter()
    for payment in payments:
        year, federation_id, path = funds[payment.fund_id]
        assert payment.beneficiary_id is not None  # record() passes the payments to persons only
        sign = -1 if payment.is_reversal else 1
        for each_year in (year, ALL_YEARS):
            deltas[(federation_id, True, each_year, payment.beneficiary_id)] += sign
            for end in _prefix_ends(path):
                deltas[(federation_ids[path[:end]], False, each_year, payment.beneficiary_id)] += sign
    _apply_reach({key: delta for key, delta in deltas.items() if delta})


def _apply_reach(deltas: dict[Reach, int]) -> None:
    """Upsert the reach rows in one sorted pass (a fixed lock order, so two
    approvals touching the same people cannot deadlock), then move the counts
    of the scopes a person entered or left."""
    if not deltas:
        return
    reach, count = PersonReach._meta.db_table, PersonCount._meta.db_table
    keys = sorted(deltas)
    with connection.cursor() as cursor:
        # A payment adds (the row may be new); a reversal subtracts from a row that
        # its payment made. Kept apart because the CHECK on `payments` applies to
        # the proposed row of an upsert too.
        cursor.executemany(
            f"INSERT INTO {reach} (federation_id, own, fiscal_year, beneficiary_id, payments) "
            "VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (federation_id, own, fiscal_year, beneficiary_id) "
            f"DO UPDATE SET payments = {reach}.payments + excluded.payments",
            [(*key, deltas[key]) for key in keys if deltas[key] > 0],
        )
        cursor.executemany(
            f"UPDATE {reach} SET payments = payments + %s "
            "WHERE federation_id = %s AND own = %s AND fiscal_year = %s AND beneficiary_id = %s",
            [(deltas[key], *key) for key in keys if deltas[key] < 0],
        )
    now: dict[Reach, int] = {}
    beneficiaries = sorted({key[3] for key in keys})
    for start in range(0, len(beneficiaries), CHUNK):
        for row in PersonReach.objects.filter(beneficiary_id__in=beneficiaries[start : start + CHUNK]).values_list(
            "federation_id", "own", "fiscal_year", "beneficiary_id", "payments"
        ):
            now[row[:4]] = row[4]
    changes: Counter[tuple[int, bool, int]] = Counter()
    for key in keys:
        delta, payments = deltas[key], now.get(key, 0)
        if delta > 0 and payments == delta:
            changes[key[:3]] += 1
        elif delta < 0 and payments == 0:
            changes[key[:3]] -= 1
    moved = {scope: n for scope, n in changes.items() if n}
    scopes = sorted(moved)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {count} (federation_id, own, fiscal_year, persons) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (federation_id, own, fiscal_year) "
            f"DO UPDATE SET persons = {count}.persons + excluded.persons",
            [(*scope, moved[scope]) for scope in scopes if moved[scope] > 0],
        )
        cursor.executemany(
            f"UPDATE {count} SET persons = persons + %s WHERE federation_id = %s AND own = %s AND fiscal_year = %s",
            [(moved[scope], *scope) for scope in scopes if moved[scope] < 0],
        )


def _prefix_ends(path: str) -> range:
    return range(Federation.steplen, len(path) + 1, Federation.steplen)


_PAID = (
    "FROM {disbursement} d JOIN {fund} f ON f.id = d.fund_id JOIN {federation} fed ON fed.id = f.federation_id "
    "WHERE d.status = 'approved' AND d.beneficiary_id IS NOT NULL"
)
_STANDING = "SUM(CASE WHEN d.reverses_id IS NULL THEN 1 ELSE -1 END)"


@transaction.atomic
def recount_moved(sender: type[Federation], *, federations: Iterable[Federation], **kwargs: object) -> None:
    """`unionfunds.signals.federation_moved`: the subtrees that gained or lost a
    federation count their people again."""
    rebuild_persons(federations)


def rebuild_persons(federations: Iterable[Federation] | None = None) -> None:
    """Recompute who was paid in each subtree (all of them, or those of
    `federations` after a move) and, for a full rebuild, in each federation's
    own funds; then the counts."""
    tables = {
        "disbursement": Disbursement._meta.db_table,
        "fund": Fund._meta.db_table,
        "federation": Federation._meta.db_table,
        "reach": PersonReach._meta.db_table,
        "count": PersonCount._meta.db_table,
    }
    paid = _PAID.format(**tables)
    insert = f"INSERT INTO {tables['reach']} (federation_id, own, fiscal_year, beneficiary_id, payments) "
    with connection.cursor() as cursor:
        if federations is None:
            PersonCount.objects.all().delete()
            PersonReach.objects.all().delete()
            postgres = connection.vendor == "postgresql"
            if postgres:
                # Tens of millions of rows at national scale: aggregate in memory
                # and build the unique index once at the end, not row by row.
                cursor.execute("SET LOCAL work_mem = '256MB'")
                cursor.execute(f"ALTER TABLE {tables['reach']} DROP CONSTRAINT person_reach_key")
            depth = Federation.objects.order_by("-depth").values_list("depth", flat=True).first() or 0
            for level in range(1, depth + 1):
                ancestor = (
                    f"JOIN {tables['federation']} anc ON anc.path = SUBSTR(fed.path, 1, {level * Federation.steplen})"
                )
                subtree = paid.replace("WHERE", f"{ancestor} WHERE fed.depth >= {level} AND")
                cursor.execute(
                    f"{insert} SELECT anc.id, FALSE, f.fiscal_year, d.beneficiary_id, {_STANDING} {subtree} "
                    f"GROUP BY anc.id, f.fiscal_year, d.beneficiary_id HAVING {_STANDING} > 0"
                )
                cursor.execute(
                    f"{insert} SELECT anc.id, FALSE, {ALL_YEARS}, d.beneficiary_id, {_STANDING} {subtree} "
                    f"GROUP BY anc.id, d.beneficiary_id HAVING {_STANDING} > 0"
                )
            cursor.execute(
                f"{insert} SELECT fed.id, TRUE, f.fiscal_year, d.beneficiary_id, {_STANDING} {paid} "
                f"GROUP BY fed.id, f.fiscal_year, d.beneficiary_id HAVING {_STANDING} > 0"
            )
            cursor.execute(
                f"{insert} SELECT fed.id, TRUE, {ALL_YEARS}, d.beneficiary_id, {_STANDING} {paid} "
                f"GROUP BY fed.id, d.beneficiary_id HAVING {_STANDING} > 0"
            )
            if postgres:
                cursor.execute(
                    f"ALTER TABLE {tables['reach']} ADD CONSTRAINT person_reach_key "
                    "UNIQUE (federation_id, own, fiscal_year, beneficiary_id)"
                )
            scopes = ""
        else:
            ids = sorted({federation.pk for federation in federations})
            if not ids:
                return
            PersonCount.objects.filter(federation_id__in=ids, own=False).delete()
            PersonReach.objects.filter(federation_id__in=ids, own=False).delete()
            for federation in Federation.objects.filter(pk__in=ids):
                subtree = f"{paid} AND fed.path LIKE %s"
                cursor.execute(
                    f"{insert} SELECT %s, FALSE, f.fiscal_year, d.beneficiary_id, {_STANDING} {subtree} "
                    f"GROUP BY f.fiscal_year, d.beneficiary_id HAVING {_STANDING} > 0",
                    [federation.pk, federation.path + "%"],
                )
                cursor.execute(
                    f"{insert} SELECT %s, FALSE, {ALL_YEARS}, d.beneficiary_id, {_STANDING} {subtree} "
                    f"GROUP BY d.beneficiary_id HAVING {_STANDING} > 0",
                    [federation.pk, federation.path + "%"],
                )
            scopes = f"WHERE own = FALSE AND federation_id IN ({', '.join(str(pk) for pk in ids)})"
        cursor.execute(
            f"INSERT INTO {tables['count']} (federation_id, own, fiscal_year, persons) "
            f"SELECT federation_id, own, fiscal_year, COUNT(*) FROM {tables['reach']} {scopes} "
            "GROUP BY federation_id, own, fiscal_year"
        )
