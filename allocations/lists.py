"""Real-name disbursement lists as they arrive: rows of text from a sheet or an
API call, read into payments.

Only the reading is here (each cell's syntax, reported with its row and field);
every rule about money, people and duplicates is applied by `services`, which
writes a list of 100,000 rows and a single payment by the same code.
"""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allocations.models import AssistanceType
from beneficiaries import idnumber
from beneficiaries.services import CATEGORY_CODES, EMPLOYER_LIMIT, NAME_LIMIT, NAME_REQUIRED, PHONE_LIMIT, PersonLine
from unionfunds import text
from unionfunds.errors import INVALID_CHOICE, RowProblem, problems_of
from unionfunds.money import valid_amount

LIST_TOO_LONG = _("A list may have at most %(limit)s rows.")
EMPTY_LIST = _("The list has no rows.")
INVALID_DATE = _("Enter a date like 2022-11-03.")

MAX_ROWS = 100_000
# Asked once per row: Choices.values builds its list (and translates its labels) on every call.
ASSISTANCE_TYPES = frozenset(AssistanceType.values)


@dataclass
class ListRow:
    """One line of a disbursement list, as typed (strings are fine)."""

    name: str
    id_number: str
    amount: object
    assistance_type: str | None = None
    date: object = None
    categories: Sequence[str] = ()
    phone: str = ""
    employer: str = ""
    note: str = ""
    confirm_duplicate: bool = False
    # Why the row may go past a rule an approver may override (allocations.policy).
    override_reason: str = ""
    # What the row is called where it came from, when not its place in the list:
    # an imported sheet's line (the header and the lines above it come first).
    line: int | None = None


@dataclass(slots=True)
class Payment:
    """One payment to be checked and written: the row it came from (1 for a
    single entry), and its recipient as a person line (matched by ID number, or
    registered), a registered person or a unit. A None is a value that could not
    be read; its problem is reported already."""

    row: int
    amount: Decimal | None
    assistance_type: str
    date: datetime.date | None
    person: PersonLine | None = None
    beneficiary_id: int | None = None
    unit_id: int | None = None
    note: str = ""
    confirm_duplicate: bool = False
    # Who is paid, as the entry will say: the unit's or registered person's
    # name and number when chosen, the list's words for a person by ID number.
    payee: tuple[str, str] = ("", "")
    # Filled in by the checks:
    name: str = ""
    label: str = ""
    duplicate: bool = False
    # The archive and the rules (allocations.policy): the household helped, where
    # it was filed, the rules charged ("3,7"), and whether one was overridden.
    household_id: int | None = None
    household_federation_id: int | None = None
    policy_rules: str = ""
    override_reason: str = ""
    overridden: bool = False
    # Counted towards its rules' running totals by the checks themselves (under
    # lock, for a known person), so that `policy.charge` leaves it alone.
    policy_counted: bool = False
    # The row as its source numbers it (a sheet's line), for messages that name another row.
    line: int | None = None

    @property
    def recipient_field(self) -> str:
        """Where a problem with the recipient is shown: the ID number typed, or
        the person chosen."""
        return "id_number" if self.person is not None else "beneficiary"


def read_rows(
    rows: Sequence[ListRow], *, assistance_type: str | None, date: datetime.date | None
) -> tuple[list[Payment], list[RowProblem]]:
    """The payments of a list and every problem of its cells. Row values
    override the list's `assistance_type` and `date` (today by default)."""
    if not rows:
        return [], [RowProblem(None, "rows", "empty_list", str(EMPTY_LIST))]
    if len(rows) > MAX_ROWS:
        return [], [RowProblem(None, "rows", "too_many_rows", str(LIST_TOO_LONG % {"limit": MAX_ROWS}))]
    today = timezone.localdate()
    problems: list[RowProblem] = []
    payments = [
        _read(row, number, assistance_type, date or today, today, problems) for number, row in enumerate(rows, 1)
    ]
    return [p for p in payments if p is not None], problems


def _read(
    row: ListRow,
    number: int,
    assistance_type: str | None,
    date: datetime.date,
    today: datetime.date,
    problems: list[RowProblem],
) -> Payment | None:
    def problem(field_name: str, message: object, code: str) -> None:
        problems.append(RowProblem(number, field_name, code, str(message)))

    name = (row.name or "").strip()
    if not name:
        problem("name", NAME_REQUIRED, "required")
    for field, value, limit in (
        ("name", name, NAME_LIMIT),
        ("phone", row.phone, PHONE_LIMIT),
        ("employer", row.employer, EMPLOYER_LIMIT),
    ):
        if fault := text.line_fault(str(value or "").strip(), limit=limit):
            problem(field, fault[1], fault[0])
    resident = None
    try:
        resident = idnumber.parse(row.id_number or "", today=today)
    except ValidationError as error:
        problems.extend(problems_of(error, number, "id_number"))
    amount = None
    try:
        amount = valid_amount(row.amount)
    except ValidationError as error:
        problems.extend(problems_of(error, number, "amount"))
    kind = row.assistance_type or assistance_type or ""
    if kind not in ASSISTANCE_TYPES:
        problem("assistance_type", INVALID_CHOICE % {"value": kind or "—"}, "invalid_choice")
    day = _as_date(row.date or date)
    if day is None:
        problem("date", INVALID_DATE, "invalid_date")
    categories = tuple(dict.fromkeys(row.categories or ()))
    for code in categories:
        if code not in CATEGORY_CODES:
            problem("categories", INVALID_CHOICE % {"value": code}, "invalid_choice")
    if resident is None or not name:
        return None
    person = PersonLine(name, resident, (row.phone or "").strip(), (row.employer or "").strip(), categories)
    return Payment(
        row=number,
        amount=amount,
        assistance_type=kind,
        date=day,
        person=person,
        note=row.note or "",
        confirm_duplicate=bool(row.confirm_duplicate),
        override_reason=(row.override_reason or "").strip(),
        line=row.line,
    )


def _as_date(value: object) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        return None
