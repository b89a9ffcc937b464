"""Requests' answers and what is wrong with them: the neighbour's data shown, rows changed."""

import contextlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from unittest import mock
from urllib.parse import unquote

import openpyxl
from django.db import connection
from django.utils.datastructures import MultiValueDict

from tests.probe.world import concrete_models


@dataclass
class Answer:
    route: str
    client: str
    method: str
    url: str
    status: int
    location: str
    problem: str = ""


class QueryReads:
    """The keys a view reads from the query string (MultiValueDict's getters,
    watched for one request): the filters worth pointing at the neighbour."""

    def __init__(self):
        self.keys: set[str] = set()

    @contextlib.contextmanager
    def watching(self) -> Iterator["QueryReads"]:
        def watched(original):
            def read(store, key, *args, **kwargs):
                self.keys.add(key)
                return original(store, key, *args, **kwargs)

            return read

        names = ("get", "getlist", "__getitem__", "__contains__")
        with mock.patch.multiple(MultiValueDict, **{name: watched(getattr(MultiValueDict, name)) for name in names}):
            yield self


def response_text(response) -> str:
    """Everything a response shows: its body (JSON decoded, XLSX opened, every
    sheet's cells) and its Location and Content-Disposition headers."""
    data = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    if data.startswith(b"PK\x03\x04"):
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        text = "\n".join(
            "\t".join("" if cell is None else str(cell) for cell in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    else:
        text = data.decode("utf-8", errors="replace")
        if "json" in response.get("Content-Type", ""):
            with contextlib.suppress(ValueError):
                text = json.dumps(json.loads(text), ensure_ascii=False)
    return "\n".join([text, unquote(response.get("Location", "")), unquote(response.get("Content-Disposition", ""))])


def leaked(text: str, sent: list[str], markers: set[str], public: set[str] = frozenset()) -> list[str]:
    """The markers in `text`, each with what surrounds it, once what the request
    itself sent (and a page may echo, like a search term) and what is `public` are
    taken out."""
    for value in sorted([*sent, *public], key=len, reverse=True):
        if any(marker in value for marker in markers):
            text = text.replace(value, "")
    found = []
    for marker in sorted(markers):
        at = text.find(marker)
        if at >= 0:
            context = " ".join(text[max(at - 80, 0) : at + len(marker) + 40].split())
            found.append(f"{marker} (…{context}…)")
    return found


def sent_values(*parts) -> list[str]:
    values = []
    for part in parts:
        if isinstance(part, dict):
            values += sent_values(*part.values())
        elif isinstance(part, list | tuple):
            values += sent_values(*part)
        elif isinstance(part, bytes):
            values += re.split(r"[,\r\n]+", part.decode("utf-8-sig", errors="replace"))
        elif hasattr(part, "read"):
            part.seek(0)
            values += sent_values(part.read())
            part.seek(0)
        elif part is not None:
            values.append(str(part))
    return [value for value in values if value]


def fingerprint() -> dict[str, dict]:
    """Every row of every table, by primary key (raw SQL: this runs after every write)."""
    state = {}
    with connection.cursor() as cursor:
        for model in concrete_models():
            table = model._meta.db_table
            pk = connection.ops.quote_name(model._meta.pk.column)
            cursor.execute(f"SELECT {pk}, * FROM {connection.ops.quote_name(table)}")
            state[table] = {row[0]: row[1:] for row in cursor.fetchall()}
    return state


def changes(before: dict, after: dict) -> list[tuple[str, object, str]]:
    found = []
    for table, rows in after.items():
        old = before.get(table, {})
        found += [(table, pk, "added") for pk in rows.keys() - old.keys()]
        found += [(table, pk, "removed") for pk in old.keys() - rows.keys()]
        found += [(table, pk, "changed") for pk in rows.keys() & old.keys() if rows[pk] != old[pk]]
    return found


def is_write(sql: str) -> bool:
    return sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "REPLACE"))
