"""Household sheets (困难职工家庭名单) for the hardship archive: read, preview, commit.

A sheet has one line per member; the lines with the same 户号 are one
household, and the head's line (与户主关系 户主) says what is the household's.
It is read by the same reader as a payment list (`unionfunds.sheetreader`:
hostile files, far cells, NUL bytes and formulas refused the same way) and its
cells by the same converters (an ID number Excel turned into a number, a
formula, a date cell); the rows then take the path of
`beneficiaries.archive_lists`, which files every household or none.
"""

import datetime
import functools
import re
from collections.abc import Callable, Iterable

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from allocations import imports
from allocations.imports import Column, ParsedList
from beneficiaries import idnumber
from beneficiaries.archive_lists import HouseholdRow
from beneficiaries.archive_models import Cause, Relation, Tier
from unionfunds import bulkload
from unionfunds.errors import ListRefused
from unionfunds.sheetreader import Line, SheetError

COLUMNS = (
    Column("household", "户号", "Household", True, ("户编号", "家庭编号", "户序号", "家庭序号", "household key")),
    Column("name", "姓名", "Name", True, ("成员姓名", "家庭成员姓名", "家庭成员")),
    Column("id_number", "身份证号", "ID number", True, ("身份证号码", "公民身份号码", "身份证", "证件号码", "id")),
    Column("relation", "与户主关系", "Relation", True, ("与户主的关系", "家庭关系", "关系", "relation to the head")),
    Column("address", "住址", "Address", False, ("家庭住址", "地址", "现住址", "居住地址")),
    Column("tier", "困难类别", "Tier", True, ("困难类型", "困难程度", "档案类别")),
    Column(
        "income_per_head",
        "月人均收入",
        "Monthly income per head",
        True,
        ("家庭月人均收入", "人均月收入", "月人均收入(元)", "月人均收入（元）", "income per head"),
    ),
    Column("causes", "致困原因", "Causes", True, ("困难原因", "致贫原因", "causes of hardship")),
    Column("valid_from", "有效期自", "Valid from", False, ("有效期起", "有效期开始", "有效期起始")),
    Column("valid_to", "有效期至", "Valid to", False, ("有效期止", "有效期截止", "有效期结束")),
    Column("standard", "认定标准", "Standard", False, ("认定依据", "建档标准", "standard filed under")),
    Column("note", "备注", "Note", False, ()),
)
COLUMN_BY_FIELD = {column.field: column for column in COLUMNS}
ORDER = {name: index for index, name in enumerate(COLUMN_BY_FIELD)}

# What clerks write besides the labels of the choices.
RELATION_WORDS = {
    "其他": Relation.OTHER,
    "妻子": Relation.SPOUSE,
    "丈夫": Relation.SPOUSE,
    "妻": Relation.SPOUSE,
    "夫": Relation.SPOUSE,
    "儿子": Relation.CHILD,
    "女儿": Relation.CHILD,
    "子": Relation.CHILD,
    "女": Relation.CHILD,
    "父亲": Relation.PARENT,
    "母亲": Relation.PARENT,
}
CAUSE_WORDS = {
    "因学": Cause.SCHOOLING,
    "子女就学": Cause.SCHOOLING,
    "疾病": Cause.ILLNESS,
    "残疾": Cause.DISABILITY,
    "灾害": Cause.DISASTER,
    "意外": Cause.ACCIDENT,
    "下岗": Cause.UNEMPLOYMENT,
    "低收入": Cause.LOW_WAGE,
}


# Reading ------------------------------------------------------------------------------


@bulkload.gc_paused()
def parse_households(lines: Iterable[Line], *, progress: Callable[[int], None] | None = None) -> ParsedList:
    """The member lines of a household sheet, plus what is wrong with single cells.

    Raises `SheetError` when the sheet cannot be a household list (no header row)."""
    lines = iter(lines)
    parsed = ParsedList()
    positions: dict[str, int] = {}
    for line in lines:
        positions, headers, ignored = _match_headers(line)
        if all(column.field in positions for column in COLUMNS if column.required):
            parsed.headers, parsed.ignored_columns = headers, ignored
            break
        if line.number >= imports.HEADER_SEARCH_LINES:
            break
    if not parsed.headers:
        wanted = "、".join(f"「{column.header}」" for column in COLUMNS if column.required)
        raise SheetError(str(imports.MISSING_COLUMNS % {"columns": wanted, "lines": imports.HEADER_SEARCH_LINES}))
    columns = [(name, index, CONVERTERS.get(name, imports._text)) for name, index in positions.items()]
    for count, line in enumerate(lines, start=1):
        if progress and count % 1000 == 0:
            progress(count)
        if line.empty:
            continue
        # The payment import's reading of one line: formulas, numbers for ID numbers,
        # totals lines under the list, what a cell said when it could not be read.
        row = imports._row(line, columns, parsed)
        if row is not None:
            parsed.rows.append(row)
    if not parsed.rows:
        raise SheetError(str(imports.NO_ROWS))
    for found in parsed.problems:
        found["column"] = found["column"] or _header(found["field"], parsed.headers)
    return parsed


def household_rows(rows: list[dict]) -> list[HouseholdRow]:
    return [
        HouseholdRow(
            household=row.get("household", ""),
            name=row.get("name", ""),
            id_number=row.get("id_number", ""),
            relation=row.get("relation", ""),
            address=row.get("address", ""),
            tier=row.get("tier", ""),
            income_per_head=row.get("income_per_head", ""),
            causes=row.get("causes") or (),
            valid_from=row.get("valid_from") or None,
            valid_to=row.get("valid_to") or None,
            standard=row.get("standard", ""),
            note=row.get("note", ""),
            line=row.get("line"),
        )
        for row in rows
    ]


def list_problems(refused: ListRefused, rows: list[dict], headers: dict[str, str]) -> list[dict]:
    """The list checks' problems, with list positions turned into sheet lines."""
    return [
        problem(rows[p.row - 1]["line"] if p.row else None, p.field, p.code, p.message, headers)
        for p in refused.problems
    ]


def merge_problems(cell_problems: list[dict], checked_problems: list[dict]) -> list[dict]:
    """One problem per cell, the sheet's own first (see `imports.merge_problems`)."""
    seen = {(p["line"], p["field"]) for p in cell_problems}
    merged = cell_problems + [p for p in checked_problems if (p["line"], p["field"]) not in seen]
    return sorted(merged, key=lambda p: (p["line"] or 0, ORDER.get(p["field"], len(ORDER))))


def problem(line: int | None, field_name: str, code: str, message, headers: dict[str, str]) -> dict:
    column = _header(field_name, headers)
    return {"line": line, "field": field_name, "column": column, "code": code, "message": str(message)}


def _header(field_name: str, headers: dict[str, str]) -> str:
    return headers.get(field_name) or (COLUMN_BY_FIELD[field_name].header if field_name in COLUMN_BY_FIELD else "")


def _known_headers() -> dict[str, str]:
    known = {}
    for column in COLUMNS:
        for name in (column.header, column.english, column.field, *column.aliases):
            known[imports._normalise(name)] = column.field
    return known


KNOWN_HEADERS = _known_headers()


def _match_headers(line: Line) -> tuple[dict[str, int], dict[str, str], list[str]]:
    positions, headers, ignored = {}, {}, []
    for index, cell in enumerate(line.cells):
        text = str(cell.value or "").strip()
        if not text:
            continue
        field_name = KNOWN_HEADERS.get(imports._normalise(text))
        if field_name and field_name not in positions:
            positions[field_name] = index
            headers[field_name] = text
        else:
            ignored.append(text)
    return positions, headers, ignored


# Cells -----------------------------------------------------------------------------------


def _labels(choices, words: dict[str, str]) -> dict[str, str]:
    labels = {imports._normalise(word): str(code) for word, code in words.items()}
    for code, label in choices:
        labels[imports._normalise(code)] = code
        for language in ("zh-hans", "en"):
            with translation.override(language):
                labels[imports._normalise(str(label))] = code
    return labels


@functools.cache
def _relation_labels() -> dict[str, str]:
    return _labels(Relation.choices, RELATION_WORDS)


@functools.cache
def _tier_labels() -> dict[str, str]:
    return _labels(Tier.choices, {})


@functools.cache
def _cause_labels() -> dict[str, str]:
    return _labels(Cause.choices, CAUSE_WORDS)


@functools.lru_cache(maxsize=1024)
def _code(kind: str, text: str) -> str:
    labels = {"relation": _relation_labels, "tier": _tier_labels}[kind]()
    return labels.get(imports._normalise(text), text)


@functools.lru_cache(maxsize=1024)
def _cause_codes(text: str) -> tuple[str, ...]:
    labels = _cause_labels()
    parts = [part.strip() for part in re.split(r"[,，;；、|/]+", text) if part.strip()]
    return tuple(labels.get(imports._normalise(part), part) for part in parts)


def _relation(value, report) -> str:
    text = imports._text(value, report)
    return _code("relation", text) if text else ""


def _tier(value, report) -> str:
    text = imports._text(value, report)
    return _code("tier", text) if text else ""


def _causes(value, report) -> list[str]:
    return list(_cause_codes(imports._text(value, report)))


CONVERTERS = {
    "id_number": imports._id_number,
    "relation": _relation,
    "tier": _tier,
    "income_per_head": imports._amount,
    "causes": _causes,
    "valid_from": imports._date,
    "valid_to": imports._date,
}


# The template ---------------------------------------------------------------------------


def example_rows() -> list[list]:
    """One household for the template: a head with the household's figures, a
    spouse and a child, as a clerk fills them in (synthetic ID numbers)."""
    head, spouse, child = (
        idnumber.build("630103", datetime.date(1980, 5, 17), 11),
        idnumber.build("630103", datetime.date(1982, 9, 3), 22),
        idnumber.build("630103", datetime.date(2008, 3, 1), 33),
    )
    return [
        [
            "1",
            "王大明",
            head,
            "户主",
            "西宁市城中区南关街12号",
            "深度困难",
            520,
            "因病、子女上学",
            datetime.date(2022, 1, 1),
            datetime.date(2022, 12, 31),
            "青海省困难职工认定办法",
            "妻子长期患病",
        ],
        ["1", "李秀英", spouse, "配偶", "", "", None, "", None, None, "", ""],
        ["1", "王小明", child, "子女", "", "", None, "", None, None, "", ""],
    ]


def template_columns() -> list[tuple[str, str]]:
    """(header, what goes in it) for the template and the import page."""
    tiers = "、".join(str(label) for _code, label in Tier.choices)
    causes = "、".join(str(label) for _code, label in Cause.choices)
    relations = "户主、配偶、子女、父母、其他"
    return [
        ("户号", str(_("Required. The same on every line of one household, e.g. 1, 2, 3 or 城中-001."))),
        ("姓名", str(_("Required. The member's name."))),
        ("身份证号", str(_("Required. 18 characters; format the column as text in Excel."))),
        (
            "与户主关系",
            str(_("Required. One of: %(relations)s; exactly one 户主 per household.")) % {"relations": relations},
        ),
        ("住址", str(_("The household's address, on the head's line."))),
        ("困难类别", str(_("Required on the head's line. One of: %(tiers)s")) % {"tiers": tiers}),
        ("月人均收入", str(_("Required on the head's line. The household's monthly income per head, in yuan."))),
        (
            "致困原因",
            str(_("Required on the head's line. One or several, separated by 、 or a comma: %(causes)s"))
            % {"causes": causes},
        ),
        ("有效期自", str(_("On the head's line; may be empty (then the date chosen on the page). Like 2022-01-01."))),
        ("有效期至", str(_("On the head's line; may be empty (no end)."))),
        ("认定标准", str(_("On the head's line; may be empty (then the standard typed on the page)."))),
        ("备注", str(_("On the head's line; may be empty. Goes with the filing to the approver."))),
    ]
