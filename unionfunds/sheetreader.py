"""Reading spreadsheets people upload: XLSX, .xls, .ods, and CSV as Chinese Excel saves it.

A file from outside is hostile until proven otherwise. The kind is told by
its first bytes, not its name; an XLSX or .ods is a zip, so its members' sizes
are checked before anything is decompressed; a cell longer than Excel itself
allows stops the reading with a message instead of filling the memory.
Formula cells of an XLSX are reported as such and never evaluated; an .xls or
.ods gives the values its program showed when it saved the file (calamine
reads no formulas there), and is read in a process of its own under a memory
cap (`sheetchild`).
"""

import csv
import datetime
import io
import pickle
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import openpyxl
import python_calamine
from django.utils.translation import gettext_lazy as _

# Excel's own limits: longer cells or more rows cannot come from a real sheet.
MAX_CELL_CHARS = 32_767
MAX_SHEET_ROWS = 1_048_576
# Columns A to BL. A list has about ten; a cell further right is a stray mark,
# or a file made to have its reader lay out 16,384 columns for every row (the
# readers allocate the used range whole: one cell at XFD20000 costs 10 GB).
MAX_COLUMNS = 64
# A 100,000-row list unpacks to about 60 MB of XML; 20x that is no real list.
MAX_UNPACKED_BYTES = 400 * 1024 * 1024
MAX_PACKING_RATIO = 200
# What reading one .xls or .ods may take: a 65,536-row .xls needs about 100 MB.
CHILD_MEMORY = 1024 * 1024 * 1024
CHILD_SECONDS = 300
SHEETCHILD = Path(__file__).with_name("sheetchild.py")

ZIP_MAGIC = b"PK\x03\x04"
OLD_EXCEL_MAGIC = b"\xd0\xcf\x11\xe0"  # any Compound File: .xls, but also .doc
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"

NOT_A_SPREADSHEET = _(
    "This file is not a spreadsheet. Upload an Excel workbook (.xlsx or .xls), "
    "an OpenDocument sheet (.ods) or a CSV file."
)
BROKEN_XLSX = _("This Excel file cannot be read; it may be damaged. Open it in Excel or WPS and save it again.")
BROKEN_SHEET = _(
    "This file cannot be read as a spreadsheet: it may be damaged, claim far more cells than any list, "
    "or not be a sheet at all. Copy the list into a new sheet in Excel, WPS or LibreOffice, "
    "save it as .xlsx and upload that."
)
TOO_BIG_LAID_OUT = _(
    "This sheet claims more cells than any list has (a cell repeated far across or down); it was not read. "
    "Copy the list into a new sheet and upload again."
)
TOO_BIG_UNPACKED = _("This Excel file unpacks to more than %(limit)s MB, far more than any list; it was not opened.")
CELL_TOO_LONG = _("Row %(line)s, column %(column)s holds more than %(limit)s characters, more than Excel allows.")
TOO_MANY_ROWS = _("The sheet has more than %(limit)s rows.")
FAR_CELL = _(
    "Cell %(cell)s is far outside any list (beyond column %(column)s or row %(row)s): delete what is there, "
    "or copy the list into a new sheet, and upload again."
)
UNKNOWN_ENCODING = _("This CSV file is neither UTF-8 nor GBK text. Save it from Excel as CSV again.")
EMPTY_FILE = _("The file is empty.")
NUL_IN_CELL = _("Row %(line)s, column %(column)s holds a NUL character, which no text may contain.")
NUL_IN_LINE = _("Line %(line)s of the file holds a NUL character, which no text may contain.")


class SheetError(ValueError):
    """The file as a whole cannot be read; the message says why, for the user."""


# Named tuples, not dataclasses: a 100,000-row list makes a million cells.
class Cell(NamedTuple):
    value: object  # str, int, float, datetime, or None
    formula: bool = False


class Line(NamedTuple):
    number: int  # as Excel shows it, 1-based
    cells: tuple[Cell, ...]

    @property
    def empty(self) -> bool:
        return all(cell.value in (None, "") for cell in self.cells)


@dataclass
class Reading:
    lines: Iterator[Line]
    size_hint: int  # about how many lines there are, for a progress bar


def read(content: bytes, *, max_rows: int = MAX_SHEET_ROWS, max_unpacked: int = MAX_UNPACKED_BYTES) -> Reading:
    """The lines of the first sheet of an XLSX file, or of a CSV file."""
    if not content:
        raise SheetError(str(EMPTY_FILE))
    if content.startswith(ZIP_MAGIC):
        if _is_ods(content, check_zip(content, max_unpacked=max_unpacked)):
            return _isolated_lines(content, max_rows)
        return _xlsx_lines(content, max_rows, max_unpacked)
    if content.startswith(OLD_EXCEL_MAGIC):
        return _isolated_lines(content, max_rows)
    return read_text(decode(content), max_rows=max_rows)


def read_text(text: str, *, max_rows: int = MAX_SHEET_ROWS) -> Reading:
    """A CSV text, or rows pasted from Excel (tab-separated)."""
    return Reading(_csv_lines(text, max_rows), text.count("\n") + 1)


def column_letter(index: int) -> str:
    """0 -> A, 26 -> AA: how Excel names the column the user must look at."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


# XLSX ---------------------------------------------------------------------------


def check_xlsx(content: bytes, *, max_unpacked: int = MAX_UNPACKED_BYTES) -> None:
    """Refuse what is not an XLSX, or would unpack to far more than any sheet,
    before anything is decompressed."""
    members = check_zip(content, max_unpacked=max_unpacked)
    if not any(member.filename == "xl/workbook.xml" for member in members):
        raise SheetError(str(NOT_A_SPREADSHEET))


def check_zip(content: bytes, *, max_unpacked: int = MAX_UNPACKED_BYTES) -> list[zipfile.ZipInfo]:
    """The members of a zip that does not unpack to far more than any sheet."""
    try:
        members = zipfile.ZipFile(io.BytesIO(content)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        raise SheetError(str(NOT_A_SPREADSHEET)) from error
    unpacked = sum(member.file_size for member in members)
    bomb = any(
        member.file_size > 10 * 1024 * 1024 and member.file_size > MAX_PACKING_RATIO * max(member.compress_size, 1)
        for member in members
    )
    if unpacked > max_unpacked or bomb:
        raise SheetError(str(TOO_BIG_UNPACKED % {"limit": max_unpacked // (1024 * 1024)}))
    return members


def _is_ods(content: bytes, members: list[zipfile.ZipInfo]) -> bool:
    # An OpenDocument file names its kind in a small "mimetype" member.
    mimetype = next((member for member in members if member.filename == "mimetype"), None)
    if mimetype is None or mimetype.file_size > 100:
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as book:
            return book.read(mimetype).strip() == ODS_MIMETYPE
    except (zipfile.BadZipFile, ValueError, EOFError, RuntimeError):  # RuntimeError: encrypted
        return False


def decode(content: bytes) -> str:
    """The text of a CSV file as Excel saves it: UTF-8 (with or without a
    byte-order mark) or the Chinese code page."""
    if b"\0" in content[:4096]:
        raise SheetError(str(NOT_A_SPREADSHEET))
    if (nul := content.find(b"\0")) >= 0:  # further in: a text file with one bad byte
        raise SheetError(str(NUL_IN_LINE % {"line": content.count(b"\n", 0, nul) + 1}))
    # Excel saves "CSV UTF-8" with a byte-order mark and plain "CSV" in the
    # system code page, GBK on Chinese Windows (GB18030 is its superset).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SheetError(str(UNKNOWN_ENCODING))


def _xlsx_lines(content: bytes, max_rows: int, max_unpacked: int) -> Reading:
    check_xlsx(content, max_unpacked=max_unpacked)
    if not _scan_worksheets(content, max_rows):
        return _calamine_lines(content, max_rows)
    # Only openpyxl tells which cells hold formulas; such a sheet is refused
    # anyway, so its slower reading costs little.
    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception as error:  # openpyxl raises anything from KeyError to XML errors on a bad file
        raise SheetError(str(BROKEN_XLSX)) from error
    try:
        size_hint = book.worksheets[0].max_row or 0
        # Rows as the file holds them, not padded to what its <dimension> claims
        # (A1:XFD1048576 would make every row 16,384 cells).
        book.worksheets[0].reset_dimensions()
    except Exception:  # a missing or odd <dimension> only costs the progress bar
        size_hint = 0
    return Reading(_xlsx_rows(book, max_rows), size_hint)


def _xlsx_rows(book, max_rows: int) -> Iterator[Line]:
    try:
        sheet = book.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(), start=1):
            if number > max_rows:
                raise SheetError(str(TOO_MANY_ROWS % {"limit": max_rows - 1}))
            cells = []
            for index, cell in enumerate(row):
                value = getattr(cell, "value", None)
                formula = getattr(cell, "data_type", None) == "f"
                if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                    raise SheetError(
                        str(CELL_TOO_LONG % {"line": number, "column": column_letter(index), "limit": MAX_CELL_CHARS})
                    )
                if isinstance(value, datetime.time | datetime.timedelta):
                    value = str(value)
                cells.append(Cell(value, formula))
            yield Line(number, tuple(cells))
    except SheetError:
        raise
    except Exception as error:
        raise SheetError(str(BROKEN_XLSX)) from error
    finally:
        book.close()


# A formula element in a worksheet's XML, with or without a namespace prefix:
# <f>, <f t="shared" .../>, <x:f>; not <formula1> (data validation) or <font>.
FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
WORKSHEET = re.compile(r"xl/worksheets/[^/]+\.xml")
# A cell reference (r="BM7", however quoted or spaced) beyond column BL, or with a row number of `{digits}`
# digits or more (checked against the limit): what only a stray or hostile cell has.
FAR_REFERENCE = r"""r\s*=\s*["']((?:[A-Z]{{3,}}|[C-Z][A-Z]|B[M-Z])[0-9]+|[A-Z]{{1,2}}[0-9]{{{digits},}})["']"""


def _scan_worksheets(content: bytes, max_rows: int) -> bool:
    """Whether any worksheet holds a formula; refuses a sheet with a cell far
    outside any list before a reader lays out the range up to it. Read in
    chunks (the sizes were checked, but a whole sheet's XML need not sit in
    memory)."""
    overlap = 64
    far = re.compile(FAR_REFERENCE.format(digits=len(str(max_rows))).encode())
    formulas = False
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        for member in book.infolist():
            if not WORKSHEET.fullmatch(member.filename):
                continue
            with book.open(member) as xml:
                tail = b""
                while chunk := xml.read(1 << 20):
                    text = tail + chunk
                    formulas = formulas or FORMULA_TAG.search(text) is not None
                    for match in far.finditer(text):
                        _refuse_far(match.group(1).decode(), max_rows)
                    tail = chunk[-overlap:]
    return formulas


def _refuse_far(reference: str, max_rows: int) -> None:
    letters = reference.rstrip("0123456789")
    row = int(reference[len(letters) :])
    width = 0
    for letter in letters:
        width = width * 26 + ord(letter) - 64
    if width > MAX_COLUMNS or row > max_rows:
        raise SheetError(
            str(FAR_CELL % {"cell": reference, "column": column_letter(MAX_COLUMNS - 1), "row": f"{max_rows:,}"})
        )


def _calamine_lines(content: bytes, max_rows: int) -> Reading:
    """Rust's calamine: about ten times as fast as openpyxl on a big list."""
    try:
        sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0)
    except Exception as error:  # CalamineError, or anything else a damaged file provokes
        raise SheetError(str(BROKEN_XLSX)) from error
    return Reading(_calamine_rows(sheet, max_rows), sheet.total_height)


def _calamine_rows(sheet, max_rows: int) -> Iterator[Line]:
    # Rows come from the sheet's first row, columns from the first one used.
    skipped_columns = (Cell(None),) * sheet.start[1] if sheet.start else ()
    try:
        for number, row in enumerate(sheet.iter_rows(), start=1):
            if number > max_rows:
                raise SheetError(str(TOO_MANY_ROWS % {"limit": max_rows - 1}))
            yield Line(number, skipped_columns + tuple(_calamine_cells(row, number, len(skipped_columns))))
    except SheetError:
        raise
    except Exception as error:
        raise SheetError(str(BROKEN_XLSX)) from error


def _calamine_cells(row: list, number: int, first_column: int) -> list[Cell]:
    cells = []
    for index, value in enumerate(row, start=first_column):
        kind = type(value)  # exact types: this runs once per cell of the sheet
        if kind is str:
            if not value:
                value = None
            elif len(value) > MAX_CELL_CHARS:
                raise SheetError(
                    str(CELL_TOO_LONG % {"line": number, "column": column_letter(index), "limit": MAX_CELL_CHARS})
                )
            elif "\x00" in value:  # XML may not hold one, but calamine passes it through
                raise SheetError(str(NUL_IN_CELL % {"line": number, "column": column_letter(index)}))
        elif kind is float:
            if value.is_integer() and abs(value) < 1e15:
                value = int(value)  # as openpyxl reads <v>1000</v>: a whole number, not 1000.0
        elif kind is datetime.time or kind is datetime.timedelta:
            value = str(value)
        cells.append(Cell(value))
    return cells


# .xls and .ods ------------------------------------------------------------------


def _isolated_lines(content: bytes, max_rows: int) -> Reading:
    """The lines of an .xls or .ods, laid out by calamine in a capped child process."""
    command = [sys.executable, "-I", str(SHEETCHILD), str(max_rows), str(MAX_COLUMNS), str(CHILD_MEMORY)]
    try:
        child = subprocess.run(command, input=content, capture_output=True, timeout=CHILD_SECONDS, check=False)
    except subprocess.TimeoutExpired as error:
        raise SheetError(str(TOO_BIG_LAID_OUT)) from error
    if child.returncode != 0:  # killed or aborted on the memory cap
        raise SheetError(str(TOO_BIG_LAID_OUT))
    try:
        # Our own child's answer: plain values it built, whatever the file held.
        answer = pickle.loads(child.stdout)
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise SheetError(str(BROKEN_SHEET)) from error
    error = answer.get("error")
    if error == "memory":
        raise SheetError(str(TOO_BIG_LAID_OUT))
    if error == "broken":
        raise SheetError(str(BROKEN_SHEET))
    if error == "far":
        reference = f"{column_letter(answer['column'])}{answer['row'] + 1}"
        raise SheetError(
            str(FAR_CELL % {"cell": reference, "column": column_letter(MAX_COLUMNS - 1), "row": f"{max_rows:,}"})
        )
    rows = answer["rows"]
    return Reading(_isolated_rows(rows, answer["first_column"]), len(rows))


def _isolated_rows(rows: list[list], first_column: int) -> Iterator[Line]:
    skipped_columns = (Cell(None),) * first_column
    for number, row in enumerate(rows, start=1):
        yield Line(number, skipped_columns + tuple(_calamine_cells(row, number, first_column)))


# CSV ----------------------------------------------------------------------------


# ="630103196604037890": how an export writes an ID number so that Excel, WPS
# and LibreOffice keep it as text (unionfunds.spreadsheets); read back as the digits.
_TEXT_FORMULA = re.compile(r'="([0-9]+)"')


def _csv_cell(value: str) -> Cell:
    if quoted := _TEXT_FORMULA.fullmatch(value):
        return Cell(quoted.group(1), False)
    # In a CSV a formula is just text that starts with "=".
    return Cell(value, value.startswith("="))


def _csv_lines(text: str, max_rows: int) -> Iterator[Line]:
    first_line = text.split("\n", 1)[0]
    delimiter = max(("\t", ",", ";"), key=first_line.count) if first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    field_limit = csv.field_size_limit()
    csv.field_size_limit(MAX_CELL_CHARS + 1)
    try:
        for number, row in enumerate(reader, start=1):
            if number > max_rows:
                raise SheetError(str(TOO_MANY_ROWS % {"limit": max_rows - 1}))
            for index, value in enumerate(row):
                if len(value) > MAX_CELL_CHARS:
                    raise SheetError(
                        str(CELL_TOO_LONG % {"line": number, "column": column_letter(index), "limit": MAX_CELL_CHARS})
                    )
            yield Line(number, tuple(_csv_cell(value) for value in row))
    except csv.Error as error:
        raise SheetError(
            str(CELL_TOO_LONG % {"line": reader.line_num, "column": "?", "limit": MAX_CELL_CHARS})
            if "field larger" in str(error)
            else str(NOT_A_SPREADSHEET)
        ) from error
    finally:
        csv.field_size_limit(field_limit)
