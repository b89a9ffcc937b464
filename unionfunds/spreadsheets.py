"""Spreadsheets for auditors: XLSX and CSV written the same way for every export.

What auditors count on: Chinese headers, amounts stored as numbers (two
decimals), dates as dates, the filters and the time of export above the
table, a totals row, and text cells that cannot run as formulas in Excel or
WPS. Rows are streamed: CSV is yielded line by line, and XLSX is written by
XlsxWriter in constant-memory mode, so a million rows cost the memory of one.

Two things auditors hit outside the browser (DOMAIN.md, "What the users' own
tools see"):

- A CSV opened by double-click is guessed at: Excel, WPS and LibreOffice turn an
  18-digit ID number into 6.30103196604037E+17 and lose its last digits, and
  drop a phone's leading 0. An IDENTIFIER column's digits-only cell is therefore
  written `="630103196604037890"`, a formula whose result is that text: all
  three show it as text, without stray characters (a leading tab or apostrophe
  stays visible in the cell). Nothing else becomes a formula: only digits go
  between the quotes, and any other text that starts like a formula is still
  neutralised with a leading '.
- An XLSX is printed as the audit copy: one page wide (landscape when the table
  is wide), the header row on every page, a page header with the federation,
  the list, the filters and the amount unit, and "page n of m" in the footer;
  on screen the header row is frozen and filterable.
"""

import csv
import datetime
import io
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import xlsxwriter
from django.utils.translation import gettext as _

TEXT, MONEY, INTEGER, DATE = "text", "money", "integer", "date"
# Text made of digits that must stay text: ID numbers, phones, account and
# reference numbers, codes.
IDENTIFIER = "identifier"
MAX_SHEET_ROWS = 1_048_576  # Excel's limit
# OWASP: a cell that starts with one of these may be read as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
DIGITS = re.compile(r"[0-9]+")
YUAN, WAN = "yuan", "wan"  # amounts in yuan, or in 万元 (10,000 yuan)
# Wider than this (in character widths) a table is printed landscape: about
# what A4 portrait holds at Excel's default margins before it must shrink.
PORTRAIT_WIDTH = 100
A4 = 9  # Excel's paper code
HEADER_LIMIT = 255  # characters Excel allows in a page header


@dataclass
class Column:
    header: str
    kind: str = TEXT
    width: int = 14
    # The most decimal places of a MONEY column, at least 2 always shown: 2 in
    # yuan (to the fen); 6 in 万元, where one fen is 0.000001 万元, so that no
    # fen is rounded away (804万 shows as 804.00, 1.23 元 as 0.000123).
    decimals: int = 2


@dataclass
class Sheet:
    title: str
    columns: list[Column]
    rows: Iterable[list]
    preamble: list[tuple[str, str]] = field(default_factory=list)  # (label, value) lines above the table
    # A last row, bold in XLSX; a callable is asked after the rows were written,
    # so that totals can be summed while the rows stream by.
    totals: list | Callable[[], list] | None = None
    # For the printed page header (XLSX): whose figures these are and how they
    # were chosen. The amount unit is added when the sheet has amounts.
    federation: str = ""
    filters: str = ""
    # The unit its amounts are in, for the printed page header.
    unit: str = YUAN

    def totals_row(self) -> list | None:
        return self.totals() if callable(self.totals) else self.totals


def safe_text(value) -> str:
    """Text as it should appear, never as a formula: a leading ' neutralises it."""
    text = "" if value is None else str(value)
    text = text.replace("\0", "")
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_identifier(value) -> str:
    """An identifier as a CSV cell that Excel, WPS and LibreOffice all open as
    text: digits only are wrapped as ="...", anything else is safe_text."""
    text = "" if value is None else str(value)
    return f'="{text}"' if DIGITS.fullmatch(text) else safe_text(text)


def csv_lines(sheet: Sheet) -> Iterator[str]:
    """The sheet as CSV lines, with a byte-order mark so that Excel reads UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield "\ufeff"
    for label, value in sheet.preamble:
        yield line([safe_text(label), safe_text(value)])
    if sheet.preamble:
        yield line([])
    yield line([safe_text(column.header) for column in sheet.columns])
    for row in sheet.rows:
        yield line(_csv_cells(sheet.columns, row))
    totals = sheet.totals_row()
    if totals is not None:
        yield line(_csv_cells(sheet.columns, totals))


def xlsx_file(sheet: Sheet, output=None):
    """The sheet as an XLSX file, rewound, ready to stream to the client (or
    written into `output`, an open binary file)."""
    if output is None:
        # Handed open to the response, which closes it once sent.
        output = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    book = xlsxwriter.Workbook(output, {"constant_memory": True, "strings_to_formulas": False, "in_memory": False})
    worksheet = book.add_worksheet(sheet.title[:31])
    bold = book.add_format({"bold": True})
    header = book.add_format({"bold": True, "bg_color": "#EEF2F7", "border": 1})
    formats = {
        MONEY: book.add_format({"num_format": "#,##0.00"}),
        **{(MONEY, places): book.add_format({"num_format": _money_format(places)}) for places in _places(sheet)},
        INTEGER: book.add_format({"num_format": "0"}),
        DATE: book.add_format({"num_format": "yyyy-mm-dd"}),
        TEXT: None,
        # "@": a number typed over it in Excel stays text too.
        IDENTIFIER: book.add_format({"num_format": "@"}),
    }
    total_formats = {kind: book.add_format({**spec, "bold": True, "top": 1}) for kind, spec in _TOTAL_SPECS.items()}
    for places in _places(sheet):
        total_formats[MONEY, places] = book.add_format({"num_format": _money_format(places), "bold": True, "top": 1})

    def table_head(worksheet, row_number: int) -> int:
        for index, column in enumerate(sheet.columns):
            worksheet.set_column(index, index, column.width)
            worksheet.write_string(row_number, index, safe_text(column.header), header)
        return row_number + 1

    page_header = _page_header(sheet)
    row_number = 0
    for label, value in sheet.preamble:
        worksheet.write_string(row_number, 0, safe_text(label), bold)
        worksheet.write_string(row_number, 1, safe_text(value))
        row_number += 1
    if sheet.preamble:
        row_number += 1
    head_row = row_number
    row_number = table_head(worksheet, row_number)
    pages = 1
    for row in sheet.rows:
        if row_number >= MAX_SHEET_ROWS - 1:  # keep a row free for the totals
            # A sheet holds 1,048,576 rows; longer lists go on in a second sheet.
            _page_setup(worksheet, sheet, page_header, head_row, row_number - 1)
            pages += 1
            worksheet = book.add_worksheet(f"{sheet.title[:24]} ({pages})")
            head_row = 0
            row_number = table_head(worksheet, 0)
        _write_row(worksheet, row_number, sheet.columns, row, formats)
        row_number += 1
    _page_setup(worksheet, sheet, page_header, head_row, row_number - 1)
    totals = sheet.totals_row()
    if totals is not None:
        _write_row(worksheet, row_number, sheet.columns, totals, total_formats)
    book.close()
    output.seek(0)
    return output


def _money_format(places: int) -> str:
    """Two places always, more only where the amount has them."""
    return "#,##0.00" + "#" * max(places - 2, 0)


def csv_amount(value, places: int = 2) -> str:
    """An amount as CSV text: two places, more only where the amount has them
    (up to `places`); never rounded when it has no more than `places`."""
    text = f"{Decimal(value):.{max(places, 2)}f}"
    whole, _dot, fraction = text.partition(".")
    return f"{whole}.{fraction[:2]}{fraction[2:].rstrip('0')}"


def _places(sheet: Sheet) -> set[int]:
    """The decimal places of its amount columns other than the usual two."""
    return {column.decimals for column in sheet.columns if column.kind == MONEY and column.decimals != 2}


_TOTAL_SPECS = {
    MONEY: {"num_format": "#,##0.00"},
    INTEGER: {"num_format": "0"},
    DATE: {"num_format": "yyyy-mm-dd"},
    TEXT: {},
    IDENTIFIER: {"num_format": "@"},
}


def _page_setup(worksheet, sheet: Sheet, page_header: str, head_row: int, last_row: int) -> None:
    """How the worksheet prints and opens: see the module's docstring."""
    if sum(column.width for column in sheet.columns) > PORTRAIT_WIDTH:
        worksheet.set_landscape()
    worksheet.set_paper(A4)
    worksheet.fit_to_pages(1, 0)  # one page wide, as many tall as it takes
    worksheet.set_margins(left=0.4, right=0.4, top=0.9, bottom=0.6)
    worksheet.repeat_rows(head_row)
    worksheet.set_header(page_header, {"margin": 0.3})
    footer = _("Page &P of &N")
    worksheet.set_footer(f"&L{_escape(sheet.title)}&C{footer}", {"margin": 0.3})
    worksheet.freeze_panes(head_row + 1, 0)
    worksheet.autofilter(head_row, 0, max(head_row, last_row), len(sheet.columns) - 1)


def _page_header(sheet: Sheet) -> str:
    """Federation and list in bold, then the filters and the amount unit;
    the filters are cut short when the whole would pass Excel's limit."""
    title = " ".join(_escape(part) for part in (sheet.federation, sheet.title) if part)
    details = [f"{_('Filters')}: {sheet.filters or _('None')}"]
    if any(column.kind == MONEY for column in sheet.columns):
        details.append(unit_line(sheet.unit))
    head = f'&C&"-,Bold"&12{title}&"-,Regular"&10\n'
    room = HEADER_LIMIT - len(head)
    line = _escape(" · ".join(details))
    if len(line) > room:
        line = line[: room - 1].rstrip("&") + "…"
    return head + line


def unit_line(unit: str) -> str:
    """The line that says which unit a sheet's amounts are in."""
    return str(_("Amounts in 10,000 yuan (万元)") if unit == WAN else _("Amounts in yuan (元)"))


def _escape(text: str) -> str:
    """Text as it should appear in a page header, where & starts a code."""
    return str(text).replace("&", "&&")


def _write_row(worksheet, row_number: int, columns: list[Column], values: list, formats: dict) -> None:
    for index, (column, value) in enumerate(zip(columns, values, strict=True)):
        if value is None or value == "":
            worksheet.write_blank(row_number, index, None, formats[column.kind])
        elif isinstance(value, str) and column.kind not in (TEXT, IDENTIFIER):
            # A label in a number column, as in a totals row.
            worksheet.write_string(row_number, index, safe_text(value), formats[column.kind])
        elif column.kind == MONEY:
            # Excel holds numbers as doubles, with 15 significant digits: amounts
            # below 10^13 yuan keep every fen there, in yuan or in 万元.
            money = formats.get((MONEY, column.decimals), formats[MONEY])
            worksheet.write_number(row_number, index, float(Decimal(value)), money)
        elif column.kind == INTEGER:
            worksheet.write_number(row_number, index, int(value), formats[INTEGER])
        elif column.kind == IDENTIFIER:
            worksheet.write_string(row_number, index, safe_text(value), formats[IDENTIFIER])
        elif column.kind == DATE:
            day = value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value))
            worksheet.write_datetime(row_number, index, datetime.datetime.combine(day, datetime.time()), formats[DATE])
        else:
            worksheet.write_string(row_number, index, safe_text(value), formats[TEXT])


def _csv_cells(columns: list[Column], values: list) -> list[str]:
    cells = []
    for column, value in zip(columns, values, strict=True):
        if value is None or value == "":
            cells.append("")
        elif isinstance(value, str) and column.kind not in (TEXT, IDENTIFIER):
            cells.append(safe_text(value))
        elif column.kind == MONEY:
            cells.append(csv_amount(value, column.decimals))
        elif column.kind == DATE:
            cells.append(value.isoformat() if isinstance(value, datetime.date) else str(value))
        elif column.kind == INTEGER:
            cells.append(str(int(value)))
        elif column.kind == IDENTIFIER:
            cells.append(csv_identifier(value))
        else:
            cells.append(safe_text(value))
    return cells


def describe_filters(form, skip: tuple[str, ...] = ()) -> str:
    """The filters a bound form (or a FilterSet's form) was given, in words, for
    the line above an exported table."""
    if not form.is_bound or not form.is_valid():
        return str(_("None"))
    parts = []
    for name, form_field in form.fields.items():
        value = form.cleaned_data.get(name)
        if value in (None, "", [], ()) or name in skip:
            continue
        choices = dict(getattr(form_field, "choices", ()) or ())
        if isinstance(value, list | tuple):  # a sort by several columns
            shown = "、".join(str(choices.get(item, item)) for item in value)
        else:
            shown = choices.get(value, value)
        parts.append(f"{form_field.label}: {shown}")
    return "; ".join(str(part) for part in parts) or str(_("None"))
