"""Real-name disbursement lists from spreadsheets: read, check, preview, commit.

A sheet becomes a list of `lists.ListRow` and then takes exactly the path of
the API's bulk endpoint (`services.disbursements_check` for the preview,
`services.disbursements_create` for the commit), so a rule holds the same
whichever door a list comes through. What only a sheet can get wrong (a
formula instead of a number, an ID number that Excel turned into a float,
a missing column) is found here, and reported by the row and column the user
sees in Excel.
"""

import datetime
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from allocations import lists
from allocations.models import AssistanceType
from beneficiaries.models import CategoryCode
from unionfunds import bulkload
from unionfunds.errors import ListRefused
from unionfunds.sheetreader import Line, SheetError


@dataclass(frozen=True)
class Column:
    field: str
    header: str  # the Chinese header of the template
    english: str
    required: bool = False
    aliases: tuple[str, ...] = ()


COLUMNS = (
    Column("name", "姓名", "Name", True, ("职工姓名", "受助人", "受助人姓名", "人员姓名", "受助对象", "recipient")),
    Column("id_number", "身份证号", "ID number", True, ("身份证号码", "公民身份号码", "身份证", "证件号码", "id")),
    Column(
        "amount",
        "金额",
        "Amount",
        True,
        ("金额(元)", "金额（元）", "发放金额", "救助金额", "补助金额", "amount (yuan)"),
    ),
    Column("assistance_type", "救助类别", "Assistance type", False, ("帮扶类别", "救助类型", "类别")),
    Column("date", "发放日期", "Date", False, ("日期", "发放时间")),
    Column("categories", "人员类别", "Categories", False, ("人员类型", "category")),
    Column("phone", "联系电话", "Phone", False, ("电话", "手机", "手机号", "手机号码")),
    Column("employer", "工作单位", "Employer", False, ("单位", "所在单位", "work unit")),
    Column("note", "备注", "Note", False, ()),
    Column("override_reason", "特批理由", "Override reason", False, ("特批原因", "突破规则理由")),
)
COLUMN_BY_FIELD = {column.field: column for column in COLUMNS}
OVERRIDE_HINT = _("May be empty. Why the row goes past a rule that allows an approver's override (a cap, once a year).")
HEADER_SEARCH_LINES = 10  # a title or a note may stand above the headers
# A totals line under the list (as in our own exports) is not a payment.
TOTAL_PREFIXES = ("合计", "总计", "小计", "total", "行数", "rows", "已批准合计")

MISSING_COLUMNS = _("No header row with the columns %(columns)s was found in the first %(lines)s rows.")
NO_ROWS = _("The sheet has headers but no rows below them.")
FORMULA = _("This cell holds a formula (%(formula)s). Paste the value instead (in Excel: Paste Special → Values).")
ID_NUMBER_AS_NUMBER = _(
    "Excel has stored this ID number as a number and changed its last digits. "
    "Format the column as text and type the number again."
)
AMOUNT_NOT_A_NUMBER = _("Enter the amount as a number of yuan, like 1000 or 1000.50.")


@dataclass
class ParsedList:
    rows: list[dict] = field(default_factory=list)  # JSON-ready: stored between preview and commit
    problems: list[dict] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # field -> header as written in the sheet
    ignored_columns: list[str] = field(default_factory=list)
    skipped_lines: list[int] = field(default_factory=list)  # totals rows under the list


def problem(line: int | None, field_name: str, code: str, message, headers: dict[str, str] | None = None) -> dict:
    column = (headers or {}).get(field_name) or (
        COLUMN_BY_FIELD[field_name].header if field_name in COLUMN_BY_FIELD else ""
    )
    return {"line": line, "field": field_name, "column": column, "code": code, "message": str(message)}


@bulkload.gc_paused()
def parse_list(lines: Iterable[Line], *, progress: Callable[[int], None] | None = None) -> ParsedList:
    """The rows of a sheet as list rows, plus what is wrong with single cells.

    Raises `SheetError` when the sheet cannot be a list at all (no header row).
    """
    lines = iter(lines)
    parsed = ParsedList()
    positions: dict[str, int] = {}
    for line in lines:
        positions, headers, ignored = _match_headers(line)
        if all(column.field in positions for column in COLUMNS if column.required):
            parsed.headers, parsed.ignored_columns = headers, ignored
            break
        if line.number >= HEADER_SEARCH_LINES:
            positions = {}
            break
    if not parsed.headers:
        wanted = "、".join(f"「{column.header}」" for column in COLUMNS if column.required)
        raise SheetError(str(MISSING_COLUMNS % {"columns": wanted, "lines": HEADER_SEARCH_LINES}))

    columns = [(field_name, index, CONVERTERS.get(field_name, _text)) for field_name, index in positions.items()]
    for count, line in enumerate(lines, start=1):
        if progress and count % 1000 == 0:
            progress(count)
        if line.empty:
            continue
        row = _row(line, columns, parsed)
        if row is not None:
            parsed.rows.append(row)
    if not parsed.rows:
        raise SheetError(str(NO_ROWS))
    return parsed


@bulkload.gc_paused()
def list_rows(rows: list[dict]) -> list[lists.ListRow]:
    return [
        lists.ListRow(
            name=row.get("name", ""),
            id_number=row.get("id_number", ""),
            amount=row.get("amount", ""),
            assistance_type=row.get("assistance_type") or None,
            date=row.get("date") or None,
            categories=row.get("categories") or (),
            phone=row.get("phone", ""),
            employer=row.get("employer", ""),
            note=row.get("note", ""),
            confirm_duplicate=bool(row.get("confirm_duplicate")),
            override_reason=row.get("override_reason", ""),
            line=row.get("line"),
        )
        for row in rows
    ]


def list_problems(refused: ListRefused, rows: list[dict], headers: dict[str, str]) -> list[dict]:
    """The bulk checks' problems, with list positions turned into sheet lines."""
    return [
        problem(rows[p.row - 1]["line"] if p.row else None, p.field, p.code, p.message, headers)
        for p in refused.problems
    ]


def merge_problems(cell_problems: list[dict], checked_problems: list[dict]) -> list[dict]:
    """One problem per cell: what the sheet itself got wrong says more than the
    check that then failed on the emptied cell."""
    seen = {(p["line"], p["field"]) for p in cell_problems}
    merged = cell_problems + [p for p in checked_problems if (p["line"], p["field"]) not in seen]
    order = {name: index for index, name in enumerate(COLUMN_BY_FIELD)}
    return sorted(merged, key=lambda p: (p["line"] or 0, order.get(p["field"], len(order))))


# Headers -------------------------------------------------------------------------


def _normalise(text) -> str:
    return re.sub(r"[\s_*:：]+", "", str(text or "")).lower()


def _known_headers() -> dict[str, str]:
    known = {}
    for column in COLUMNS:
        for name in (column.header, column.english, column.field, *column.aliases):
            known[_normalise(name)] = column.field
    return known


KNOWN_HEADERS = _known_headers()


def _match_headers(line: Line) -> tuple[dict[str, int], dict[str, str], list[str]]:
    positions, headers, ignored = {}, {}, []
    for index, cell in enumerate(line.cells):
        text = str(cell.value or "").strip()
        if not text:
            continue
        field_name = KNOWN_HEADERS.get(_normalise(text))
        if field_name and field_name not in positions:
            positions[field_name] = index
            headers[field_name] = text
        else:
            ignored.append(text)
    return positions, headers, ignored


# Cells ---------------------------------------------------------------------------


def _row(line: Line, columns: list[tuple[str, int, Callable]], parsed: ParsedList) -> dict | None:
    """`columns`: (field, position, converter) of each column the list has."""

    def reporter(field_name: str):
        def report(code: str, message) -> None:
            parsed.problems.append(problem(line.number, field_name, code, message, parsed.headers))

        return report

    cells, width = line.cells, len(line.cells)
    if _is_totals_line(line, columns):
        parsed.skipped_lines.append(line.number)
        return None
    row: dict = {"line": line.number}
    for field_name, index, convert in columns:
        value, formula = cells[index] if index < width else (None, False)
        reported = len(parsed.problems)
        if formula:
            reporter(field_name)("formula", FORMULA % {"formula": str(value)[:40]})
            row[field_name] = ""
        else:
            # Most cells are fine: the reporter is made only for one that is not.
            row[field_name] = convert(value, lambda code, message, f=field_name: reporter(f)(code, message))
        if len(parsed.problems) > reported and row[field_name] in ("", None) and value not in (None, ""):
            # What the cell said, for the preview's correction box: a blank box
            # would hide what is to be corrected.
            row.setdefault("as_read", {})[field_name] = _as_read(value)
    return row


def _as_read(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an ID number in a number cell shows the digits Excel kept
    elif isinstance(value, datetime.date):
        value = value.isoformat()
    return str(value).strip()[:100]


def _is_totals_line(line: Line, columns: list[tuple[str, int, Callable]]) -> bool:
    """A line with no ID number and a label like 合计: its sums, formulas or
    not (=SUM(C3:C102) is how clerks write one), are no payment and no problem."""
    id_index = next(index for field_name, index, _convert in columns if field_name == "id_number")
    if id_index < len(line.cells) and line.cells[id_index].value not in (None, ""):
        return False
    return any(_normalise(cell.value).startswith(TOTAL_PREFIXES) for cell in line.cells if isinstance(cell.value, str))


def _text(value, report) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _id_number(value, report) -> str:
    if isinstance(value, float) or (isinstance(value, int) and len(str(value)) > 15):
        # Excel keeps 15 significant digits: an 18-digit number typed into a
        # number cell has already lost its last three.
        report("id_number_not_text", ID_NUMBER_AS_NUMBER)
        return ""
    return _text(value, report).replace(" ", "").upper()


def _amount(value, report) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        report("invalid_amount", AMOUNT_NOT_A_NUMBER)
        return ""
    if isinstance(value, int | float):
        # repr is the shortest text that reads back as the same double:
        # 1234.56 stays 1234.56, and 33.333333 shows that it has too many decimals.
        if isinstance(value, int):
            return str(value)
        amount = Decimal(repr(value))
        return str(int(amount)) if amount == amount.to_integral_value() else str(amount)
    text = str(value).strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").removesuffix("元")
    try:
        Decimal(text)
    except InvalidOperation:
        report("invalid_amount", AMOUNT_NOT_A_NUMBER)
        return ""
    return text


def _date(value, report) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    text = str(value).strip()
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text) or re.fullmatch(
        r"(\d{4})(\d{2})(\d{2})", text
    )
    if match:
        try:
            return datetime.date(*(int(part) for part in match.groups())).isoformat()
        except ValueError:
            pass
    return text  # the list check names it as a bad date


def _choice_labels(choices) -> dict[str, str]:
    labels = {}
    for code, label in choices:
        labels[_normalise(code)] = code
        labels[_normalise(label)] = code
        with translation.override("zh-hans"):
            labels[_normalise(str(label))] = code
        with translation.override("en"):
            labels[_normalise(str(label))] = code
    return labels


@functools.cache
def _assistance_labels() -> dict[str, str]:
    return _choice_labels(AssistanceType.choices)


@functools.cache
def _category_labels() -> dict[str, str]:
    return _choice_labels(CategoryCode.choices)


def _assistance_type(value, report) -> str:
    text = _text(value, report)
    return _assistance_code(text) if text else ""


def _categories(value, report) -> list[str]:
    return list(_category_codes(_text(value, report)))


# A list repeats a handful of types and categories a hundred thousand times.
@functools.lru_cache(maxsize=1024)
def _assistance_code(text: str) -> str:
    return _assistance_labels().get(_normalise(text), text)


@functools.lru_cache(maxsize=1024)
def _category_codes(text: str) -> tuple[str, ...]:
    labels = _category_labels()
    # Not "/": one category is called 工伤/职业病致残.
    parts = [part for part in re.split(r"[,，;；、|]+", text) if part.strip()]
    return tuple(labels.get(_normalise(part), part.strip()) for part in parts)


def _phone(value, report) -> str:
    return _text(value, report)


CONVERTERS = {
    "id_number": _id_number,
    "amount": _amount,
    "date": _date,
    "assistance_type": _assistance_type,
    "categories": _categories,
    "phone": _phone,
}


# The template -----------------------------------------------------------------------


def template_columns() -> list[tuple[str, str]]:
    """(header, what goes in it) for the template and the import page."""
    types = "、".join(str(label) for _code, label in AssistanceType.choices)
    categories = "、".join(str(label) for _code, label in CategoryCode.choices)
    return [
        ("姓名", str(_("Required."))),
        ("身份证号", str(_("Required. 18 characters; format the column as text in Excel."))),
        ("金额", str(_("Required. In yuan, at most two decimals."))),
        ("救助类别", str(_("May be empty (then the type chosen on the page). One of: %(types)s")) % {"types": types}),
        ("发放日期", str(_("May be empty (then the date chosen on the page). Like 2022-11-03."))),
        ("人员类别", str(_("May be empty. Several separated by 、: %(categories)s")) % {"categories": categories}),
        ("联系电话", str(_("May be empty."))),
        ("工作单位", str(_("May be empty."))),
        ("备注", str(_("May be empty."))),
        ("特批理由", str(OVERRIDE_HINT)),
    ]
