"""Writing many rows at once, as fast as the database allows.

On PostgreSQL, rows go in through COPY with ids taken from the table's own
sequence beforehand, so that related rows (audit events, categories) can point
at them without reading anything back. Elsewhere (SQLite) through Django's
bulk_create. Either way, inside the caller's transaction, with every constraint
and foreign key checked by the database as for any insert.

The values are those the model's fields take (Decimal yuan for money, dates,
dicts for JSON), in the order of `columns`; a concrete field left out gets its
default, as `Model()` would give it.
"""

import contextlib
import gc
import json
from collections.abc import Iterable, Iterator, Sequence

from django.core.exceptions import EmptyResultSet
from django.db import connection, models
from django.db.models.lookups import In

from unionfunds.money import MoneyField

CHUNK_ROWS = 5_000
INSERT_BATCH = 500  # bulk_create batches: under SQLite's limit of bound parameters


@contextlib.contextmanager
def gc_paused():
    """Python's cycle collector paused while a list of 100,000 rows is read,
    checked or written (also as a decorator). Such work makes millions of
    objects and no cycles, and the collector would walk every live object again
    and again as they are made: a quarter of a list's check. Reference counting
    still frees everything; the collector resumes afterwards, unless it was
    already paused by whoever called."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class RawJson(str):
    """A JSONField's value already encoded as JSON text (see `audit.CreatedJson`)."""


def insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence],
    *,
    same: dict[str, object] | None = None,
    ids: bool = True,
) -> list[int]:
    """Insert `rows` into `model`'s table; returns their ids, in order (none
    without `ids`: the database numbers the rows itself, a little faster).

    `same` holds the values every row shares (the author, the time), written
    out once rather than once per row.
    """
    if not rows:
        return []
    same = same or {}
    if connection.vendor != "postgresql":
        created = model.objects.bulk_create(
            [model(**{**dict(zip(columns, map(_decoded, row), strict=True)), **same}) for row in rows],
            batch_size=INSERT_BATCH,
        )
        return [instance.pk for instance in created] if ids else []
    table = model._meta.db_table
    fields = [model._meta.get_field(column) for column in columns]
    shared = [(model._meta.get_field(name), value) for name, value in same.items()]
    given = {field.attname for field in fields} | {field.attname for field, _ in shared}
    shared += [
        (field, field.get_default())
        for field in model._meta.concrete_fields
        if not field.primary_key and field.attname not in given
    ]
    encoders = [_encoder(field) for field in fields]
    fixed = "".join("\t" + _encoder(field)(value) for field, value in shared) + "\n"
    names = [field.column for field in fields] + [field.column for field, _ in shared]

    def cells(row) -> str:
        return "\t".join([encode(value) for encode, value in zip(encoders, row, strict=True)]) + fixed

    if not ids:
        copy_rows(table, names, map(cells, rows))
        return []
    numbers = take_ids(table, len(rows))
    copy_rows(table, ["id", *names], (f"{pk}\t{cells(row)}" for pk, row in zip(numbers, rows, strict=True)))
    return numbers


class AnyOf(In):
    """`column IN (values)` for long lists of values: `filter(AnyOf(F("id_number"), numbers))`.

    On PostgreSQL it is `column = ANY(%s)` with the values as one array
    parameter: a query over 100,000 values is built in milliseconds, where an
    IN list costs Django a placeholder and a conversion per value. Elsewhere it
    is a plain IN, within the database's limit of parameters (see `batches`).
    """

    def as_postgresql(self, compiler, connection):
        values = [value for value in dict.fromkeys(self.rhs) if value is not None]
        if not values:
            raise EmptyResultSet
        column, params = self.process_lhs(compiler, connection)
        return f"{column} = ANY(%s::{self.lhs.output_field.cast_db_type(connection)}[])", (*params, pg_array(values))


def pg_array(values: Sequence) -> str | list:
    """An array parameter as PostgreSQL's own text form, `{1,2,3}`, when every
    value is an int or a str: psycopg2 would quote each element into an
    ARRAY[...] constructor, a third of a 100,000-row list's lookup. Strings are
    double-quoted with their quotes and backslashes escaped, as the array
    grammar asks, so no value reads as NULL or splits the array. Other values go
    as the list."""
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    if all(type(value) is str for value in values):
        return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"
    return list(values)


def batches(values: Sequence) -> Iterator[Sequence]:
    """`values` in slices that one `AnyOf` may take: all at once on PostgreSQL,
    under the limit of parameters per query elsewhere (SQLite)."""
    size = connection.features.max_query_params or len(values) or 1
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _decoded(value):
    return json.loads(value) if isinstance(value, RawJson) else value


def take_ids(table: str, count: int) -> list[int]:
    """`count` fresh primary keys from the table's sequence: unique even while
    others insert, though not always consecutive."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [connection.ops.quote_name(table), count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_rows(table: str, columns: Iterable[str], lines: Iterable[str]) -> int:
    """COPY tab-separated text lines into `table`; returns the number of rows."""
    return copy_chunks(table, columns, _chunks(lines))


def copy_chunks(table: str, columns: Iterable[str], chunks: Iterable[str]) -> int:
    """COPY text made of whole lines into `table` on Django's connection (and in its
    transaction); returns the number of rows."""
    quote = connection.ops.quote_name
    sql = f"COPY {quote(table)} ({', '.join(quote(column) for column in columns)}) FROM STDIN"
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if hasattr(raw, "copy_expert"):  # psycopg2
            raw.copy_expert(sql, _ChunkReader(chunks), size=1 << 20)
        else:  # psycopg 3
            with raw.copy(sql) as copy:
                for chunk in chunks:
                    copy.write(chunk)
        return raw.rowcount


def _chunks(lines: Iterable[str]) -> Iterator[str]:
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == CHUNK_ROWS:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


class _ChunkReader:
    """A file-like object over text chunks, for psycopg2's copy_expert: it pulls the
    next chunk only when asked, so PostgreSQL ingests while Python generates."""

    def __init__(self, chunks: Iterable[str]):
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk.encode()
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def readline(self, size: int = -1) -> bytes:  # pragma: no cover - COPY FROM only calls read
        return self.read(size)


# COPY's text format, one encoder per column --------------------------------------------


def _encoder(field: models.Field):
    # One call per value, None included: a list of 100,000 rows has a million values.
    null = "\\N"
    if isinstance(field, MoneyField):
        to_fen = field.get_prep_value
        return lambda value: null if value is None else str(to_fen(value))
    if isinstance(field, models.BooleanField):
        return lambda value: null if value is None else ("t" if value else "f")
    if isinstance(field, models.JSONField):
        encoder = field.encoder

        def encode_json(value) -> str:
            if value is None:
                return null
            return _text(value if isinstance(value, RawJson) else json.dumps(value, cls=encoder, ensure_ascii=False))

        return encode_json
    if isinstance(field, models.DateField):  # and DateTimeField: aware datetimes carry their offset
        return lambda value: null if value is None else value.isoformat()
    if isinstance(field, models.IntegerField | models.ForeignKey | models.AutoField):
        return lambda value: null if value is None else str(int(value))
    return lambda value: null if value is None else _text(str(value))


def _text(value: str) -> str:
    # Four passes in C beat one str.translate, which looks each character up in a dict.
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
