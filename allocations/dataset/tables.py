"""Table surgery for a bulk load on PostgreSQL: consecutive ids taken from a
sequence, secondary indexes and unique constraints dropped and rebuilt around a
large COPY, fund heads written in one statement per thousand, and every foreign
key of the new rows checked with one anti-join when the load skipped the
triggers that would have checked them row by row."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from allocations.models import Fund

CHUNK_ROWS = 20_000


def quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def chunked(rows: list[str]) -> Iterator[str]:
    for start in range(0, len(rows), CHUNK_ROWS):
        yield "".join(rows[start : start + CHUNK_ROWS])


def reserve_ids(table: str, count: int) -> int:
    """The first of `count` consecutive primary keys taken from the table's sequence."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT GREATEST(nextval(%s), (SELECT COALESCE(MAX(id), 0) + 1 FROM {quoted(table)}))", [sequence]
        )
        first = cursor.fetchone()[0]
        if count:
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


@contextmanager
def rebuilt_indexes(table: str, enabled: bool):
    """Drop the table's secondary indexes (not those behind a constraint) for a big
    load and build them again afterwards: sorting once beats millions of inserts."""
    if not enabled:
        yield []
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [table],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield [name for name, _ in indexes]
    with connection.cursor() as cursor:
        for _name, definition in indexes:
            cursor.execute(definition)


@contextmanager
def rebuilt_constraints(table: str, enabled: bool):
    """Drop the table's unique constraints for a big load and add them back
    afterwards, as `rebuilt_indexes` does with plain indexes."""
    if not enabled:
        yield []
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'u'",
            [table],
        )
        constraints = cursor.fetchall()
        for name, _definition in constraints:
            cursor.execute(f"ALTER TABLE {quoted(table)} DROP CONSTRAINT {quoted(name)}")
    yield [name for name, _ in constraints]
    with connection.cursor() as cursor:
        # ALTER TABLE refuses while checks of rows written in this transaction are deferred.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for name, definition in constraints:
            cursor.execute(f"ALTER TABLE {quoted(table)} ADD CONSTRAINT {quoted(name)} {definition}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def set_heads(heads: dict[int, list]) -> int:
    """Write each fund's chain head ({fund id: [position, hash, ...]}); returns how many."""
    items = sorted(heads.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), 1000):
            chunk = items[start : start + 1000]
            cursor.execute(
                f"UPDATE {quoted(Fund._meta.db_table)} f SET ledger_seq = v.seq, ledger_hash = v.hash "
                f"FROM (VALUES {', '.join(['(%s::bigint, %s::bigint, %s)'] * len(chunk))}) AS v(id, seq, hash) "
                "WHERE f.id = v.id",
                [value for pk, (seq, head, *_rest) in chunk for value in (pk, seq, head)],
            )
    return len(items)


def broken_references(table: str, first_id: int) -> tuple[int, list[str]]:
    """Every foreign key of the rows with id >= first_id against the rows it
    names: how many keys were checked, and a line for each that points nowhere."""
    broken = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, c.confrelid::regclass::text, fa.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1] "
            "WHERE c.conrelid = %s::regclass AND c.contype = 'f' AND array_length(c.conkey, 1) = 1",
            [table],
        )
        keys = cursor.fetchall()
        for column, target, target_column in keys:
            cursor.execute(
                f"SELECT count(*) FROM {quoted(table)} t WHERE t.id >= %s AND t.{quoted(column)} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {target} r WHERE r.{quoted(target_column)} = t.{quoted(column)})",
                [first_id],
            )
            count = cursor.fetchone()[0]
            if count:
                broken.append(f"{count} rows of {table} point at no {target} row ({column}).")
    return len(keys), broken
