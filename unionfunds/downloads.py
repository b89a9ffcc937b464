"""Sending a spreadsheet to the browser or an API client."""

import re
import unicodedata
from collections.abc import Callable, Mapping
from urllib.parse import quote

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from unionfunds import spreadsheets

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
# What Windows, macOS or a shell refuse or misread in a file name.
UNSAFE = re.compile(r'[/\\:*?"<>|]')
NAME_LIMIT = 120  # characters before the extension: Windows allows 255 in all


def safe_filename(name: str, fallback: str = "export") -> str:
    """`name` as a file name every system saves: no path separators, none of
    / \\ : * ? " < > |, no control or format characters, no leading dot, and
    not too long. What is left of nothing is `fallback`."""
    kept = "".join(
        " " if unicodedata.category(char) in ("Zs", "Zl", "Zp") else char
        for char in UNSAFE.sub("_", str(name))
        if not unicodedata.category(char).startswith("C")
    )
    stem, dot, extension = kept.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,5}", extension):
        stem, dot, extension = kept, "", ""
    stem = re.sub(r"\s+", " ", stem).strip(" ._")[:NAME_LIMIT].strip(" ._") or fallback
    return f"{stem}{dot}{extension}"


def export_filename(*parts: str, extension: str) -> str:
    """What an auditor's copy is saved as: whose, what and which period, e.g.
    青海省总工会_资金汇总_2026年度.xlsx. Each part is cleaned on its own, so
    that a "/" in a federation's name cannot make a directory."""
    kept = [safe_filename(part, fallback="") for part in parts if part]
    return safe_filename("_".join(part for part in kept if part) + f".{extension}")


def period(filters: Mapping) -> str:
    """The period a set of filters covers, for a file name: its fiscal year
    and its dates; with neither, the day of export (the figures as of then)."""
    year, start, end = filters.get("fiscal_year"), filters.get("date_from"), filters.get("date_to")
    parts = [_("%(year)s fiscal year") % {"year": year}] if year else []
    if start and end:
        parts.append(_("%(start)s to %(end)s") % {"start": start.isoformat(), "end": end.isoformat()})
    elif start:
        parts.append(_("from %(start)s") % {"start": start.isoformat()})
    elif end:
        parts.append(_("until %(end)s") % {"end": end.isoformat()})
    if not parts:
        parts.append(_("as of %(day)s") % {"day": f"{timezone.localdate():%Y-%m-%d}"})
    return "_".join(str(part) for part in parts)


def cleaned(form) -> dict:
    """A bound form's cleaned data, or nothing when it is unbound or invalid."""
    return form.cleaned_data if form is not None and form.is_bound and form.is_valid() else {}


def attachment(filename: str, fallback: str) -> str:
    """A Content-Disposition header (RFC 6266) for `filename`, which may be
    Chinese: `filename*` (RFC 5987, UTF-8) for the browsers, which all read it,
    after a plain `filename` with the ASCII `fallback` for any client that does not."""
    filename = safe_filename(filename)
    plain = safe_filename(fallback).encode("ascii", "ignore").decode()
    plain = re.sub(r"[^\x21-\x7e ]|\\", "_", plain) or "export"
    header = f'attachment; filename="{plain}"'
    if filename != plain:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


def sheet_response(
    sheet: spreadsheets.Sheet,
    extension: str,
    filename: str,
    *,
    fallback: str | None = None,
    finished: Callable | None = None,
):
    """CSV is streamed as it is written; XLSX is written to a spooled file
    first (a zip cannot be streamed before it is closed). `finished` runs once
    every row has been written, e.g. to log the export with its row count.
    `filename` is what the user's browser saves (Chinese), `fallback` an
    ASCII name for clients that cannot read it."""
    if extension == "csv":

        def lines():
            yield from spreadsheets.csv_lines(sheet)
            if finished:
                finished()

        response = StreamingHttpResponse(lines(), content_type=CSV)
    else:
        output = spreadsheets.xlsx_file(sheet)
        if finished:
            finished()
        response = FileResponse(output, content_type=XLSX)
    response["Content-Disposition"] = attachment(filename, fallback or filename)
    return response


def file_response(file, filename: str, fallback: str, content_type: str) -> FileResponse:
    """An open file (a finished export, a template) as a download named `filename`."""
    response = FileResponse(file, content_type=content_type)
    response["Content-Disposition"] = attachment(filename, fallback)
    return response
