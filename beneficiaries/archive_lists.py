"""Households filed from a list (a sheet, an API call): checked, then written
together, all or nothing.

A list has one line per member; the lines that share a household key (户号)
are one household, and the head's line (户主) carries what is the household's:
its address and the figures its archive entry is asked to open on. Each
household is filed as `archive.household_file` files one, and its entry asked
to open as `archive.archive_open` asks: the same rows, the same refusals, the
same audit records, but written set-based, so that a sheet of 10,000 households
costs a few queries per table rather than twenty per household. The openings
wait for an approver, each on its own, as any other.

`households_check` is the preview (nothing written), `households_file_many`
the commit. A list is refused as a whole with every problem by row and field
(`ListRefused`), as a payment list is.
"""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from beneficiaries import archive, idnumber
from beneficiaries.archive_models import (
    LIVE_ARCHIVE,
    ArchiveChange,
    ArchiveEntry,
    ArchiveStatus,
    ChangeKind,
    ChangeStatus,
    Household,
    HouseholdMember,
    Relation,
)
from beneficiaries.services import PersonLine, cards_for, name_problems, people_known, people_register, person_line
from unionfunds import audit, bulkload, text
from unionfunds.bulkload import AnyOf
from unionfunds.errors import INVALID_CHOICE, ListRefused, RowProblem, problems_of
from unionfunds.models import Federation, Role
from unionfunds.permissions import require_role

MAX_ROWS = 100_000
KEY_LIMIT = 50
# The fields that are the household's, said on its head's line.
# Asked once per line: Choices.values builds its list on every call.
RELATIONS = frozenset(Relation.values)
HOUSEHOLD_FIELDS = ("address", "tier", "income_per_head", "causes", "valid_from", "valid_to", "standard", "note")

EMPTY_LIST = _("The list has no rows.")
LIST_TOO_LONG = _("A list may have at most %(limit)s rows.")
KEY_REQUIRED = _("Give the household's key (户号): the lines of one household share it.")
NO_HEAD = _("Household %(household)s has no head: mark one member's relation as 户主.")
SECOND_HEAD = _("Household %(household)s has its head (户主) on line %(line)s already.")
IN_TWO_HOUSEHOLDS = _(
    "%(number)s is listed in household %(other)s too (line %(line)s): a person belongs to one household."
)
IN_PENDING_HOUSEHOLD = _(
    "%(number)s is in another household whose filing waits for approval: that filing is decided (or withdrawn) first."
)
HEAD_ONLY = _(
    "This is the household's, given on its head's line (line %(line)s): leave it empty here, or the same as there."
)
INVALID_DATE = _("Enter a date like 2022-01-01.")
TIER_REQUIRED = _("Give the household's tier (困难类别) on its head's line.")


@dataclass
class HouseholdRow:
    """One member's line of a household list, as typed (strings are fine). The
    household's own fields count on the head's line only."""

    household: str
    name: str
    id_number: str
    relation: str
    address: str = ""
    tier: str = ""
    income_per_head: object = None
    causes: Sequence[str] = ()
    valid_from: object = None
    valid_to: object = None
    standard: str = ""
    note: str = ""
    # What the line is called where it came from (a sheet's line), for messages.
    line: int | None = None


@dataclass
class _Plan:
    """A household as the list makes it: its members' rows and, read from its
    head's line, what its filing needs. None where a value could not be read
    (its problem is reported already)."""

    key: str
    rows: list[int] = field(default_factory=list)
    members: list[tuple[int, archive.MemberLine]] = field(default_factory=list)
    head: int | None = None
    address: str = ""
    figures: archive.Figures | None = None
    valid_from: datetime.date | None = None
    valid_to: datetime.date | None = None
    standard: str = ""
    note: str = ""


@dataclass(frozen=True)
class Checked:
    households: int
    members: int
    new_people: int


@dataclass(frozen=True)
class Filed:
    households: list[int]
    entries: list[int]
    changes: list[int]  # the filings waiting for an approver


def households_check(
    *,
    federation: Federation,
    rows: Sequence[HouseholdRow],
    by,
    valid_from: datetime.date | None = None,
    standard: str = "",
) -> Checked:
    """What filing the list would do, or every problem of it; nothing written.
    `valid_from` and `standard` stand for a head's line that leaves them empty."""
    plans, known, _dibao = _checked(federation, rows, by, valid_from, standard)
    numbers = {line.person.number for plan in plans for _row, line in plan.members}
    return Checked(len(plans), sum(len(plan.members) for plan in plans), len(numbers - set(known)))


@transaction.atomic
def households_file_many(
    *,
    federation: Federation,
    rows: Sequence[HouseholdRow],
    by,
    valid_from: datetime.date | None = None,
    standard: str = "",
) -> Filed:
    """File every household of the list under `federation` and ask for each
    entry to be opened: all of it, or nothing and a `ListRefused`."""
    plans, known, dibao = _checked(federation, rows, by, valid_from, standard)
    lines = {line.person.number: line.person for plan in plans for _row, line in plan.members}
    new = [line for number, line in lines.items() if number not in known]
    # Members registered outside the filer's subtree: the federation's own card of them, as household_file makes.
    cards_for([(known[n].pk, line) for n, line in lines.items() if n in known], federation=federation, by=by)
    known |= people_register(new, federation=federation, by=by) if new else {}
    now = timezone.now()
    household_ids = bulkload.insert(
        Household,
        ["address"],
        [(plan.address,) for plan in plans],
        same={"federation_id": federation.pk, "created_by_id": by.pk, "created_at": now},
    )
    bulkload.insert(
        HouseholdMember,
        ["household_id", "beneficiary_id", "name", "relation"],
        [
            (pk, known[line.person.number].pk, line.person.name, line.relation)
            for pk, plan in zip(household_ids, plans, strict=True)
            for _row, line in plan.members
        ],
        ids=False,
    )
    entries = [_entry(pk, plan, federation, dibao, by, now) for pk, plan in zip(household_ids, plans, strict=True)]
    entry_ids = bulkload.insert(ArchiveEntry, ENTRY_COLUMNS, _values(entries, ENTRY_COLUMNS))
    for entry, pk in zip(entries, entry_ids, strict=True):
        entry.pk = pk
    changes = [_change(entry, plan, by, now) for entry, plan in zip(entries, plans, strict=True)]
    change_ids = bulkload.insert(ArchiveChange, CHANGE_COLUMNS, _values(changes, CHANGE_COLUMNS))
    for change, pk in zip(changes, change_ids, strict=True):
        change.pk = pk
    _audit(federation, plans, household_ids, entries, changes, by)
    return Filed(household_ids, [entry.pk for entry in entries], [change.pk for change in changes])


# Reading the rows -------------------------------------------------------------------


def _checked(
    federation: Federation,
    rows: Sequence[HouseholdRow],
    by,
    valid_from: datetime.date | None,
    standard: str,
) -> tuple[list[_Plan], dict, dict[int, Decimal | None]]:
    require_role(by, Role.CLERK, federation)
    if not rows:
        raise ListRefused([RowProblem(None, "rows", "empty_list", str(EMPTY_LIST))])
    if len(rows) > MAX_ROWS:
        raise ListRefused([RowProblem(None, "rows", "too_many_rows", str(LIST_TOO_LONG % {"limit": MAX_ROWS}))])
    plans, problems = read_households(rows, valid_from=valid_from or timezone.localdate(), standard=standard)
    members = [(row, line.person) for plan in plans for row, line in plan.members]
    known = people_known(person.number for _row, person in members)
    problems += name_problems(members, known, by)
    problems += _in_live_households(members, known)
    if problems:
        raise ListRefused(problems)
    years = {plan.valid_from.year for plan in plans if plan.valid_from is not None}
    return plans, known, {year: archive.dibao_line(federation, year) for year in years}


def read_households(
    rows: Sequence[HouseholdRow], *, valid_from: datetime.date, standard: str = ""
) -> tuple[list[_Plan], list[RowProblem]]:
    """The households of a list and every problem of its cells and of how its
    lines make households; nothing is looked up."""
    problems: list[RowProblem] = []
    plans: dict[str, _Plan] = {}
    seen: dict[str, tuple[int, str]] = {}  # ID number -> (row, household key)
    today = timezone.localdate()
    for number, row in enumerate(rows, 1):
        key = str(row.household or "").strip()
        if not key:
            problems.append(RowProblem(number, "household", "required", str(KEY_REQUIRED)))
        elif fault := text.line_fault(key, limit=KEY_LIMIT):
            problems.append(RowProblem(number, "household", *fault))
        plan = plans.setdefault(key, _Plan(key)) if key else None
        line = _member(row, number, problems)
        if plan is None:
            continue
        plan.rows.append(number)
        if line is None:
            continue
        earlier = seen.get(line.person.number)
        if earlier is not None:
            problems.append(_twice(line, number, earlier, key, rows))
            continue
        seen[line.person.number] = (number, key)
        plan.members.append((number, line))
    for plan in plans.values():
        _read_household(plan, rows, valid_from, standard, today, problems)
    return list(plans.values()), problems


def _member(row: HouseholdRow, number: int, problems: list[RowProblem]) -> archive.MemberLine | None:
    relation = str(row.relation or "").strip()
    if relation not in RELATIONS:
        message = INVALID_CHOICE % {"value": relation or "—"}
        problems.append(RowProblem(number, "relation", "invalid_choice", str(message)))
    try:
        person = person_line(name=row.name, id_number=row.id_number or "")
    except ValidationError as error:
        problems.extend(problems_of(error, number, "id_number"))
        return None
    # Kept whatever its relation says, so that the person is looked up too: every
    # problem of the list at once.
    return archive.MemberLine(person, relation)


def _twice(line: archive.MemberLine, number: int, earlier: tuple[int, str], key: str, rows) -> RowProblem:
    masked = idnumber.mask(line.person.number)
    first_row, other = earlier
    if other == key:
        return RowProblem(number, "id_number", "member_twice", str(archive.MEMBER_TWICE % {"number": masked}))
    message = IN_TWO_HOUSEHOLDS % {"number": masked, "other": other, "line": _line(rows, first_row)}
    return RowProblem(number, "id_number", "in_two_households", str(message))


def _read_household(
    plan: _Plan,
    rows: Sequence[HouseholdRow],
    valid_from: datetime.date,
    standard: str,
    today: datetime.date,
    problems: list[RowProblem],
) -> None:
    heads = [number for number in plan.rows if str(rows[number - 1].relation or "").strip() == Relation.HEAD]
    if not heads:
        message = NO_HEAD % {"household": plan.key}
        problems.append(RowProblem(plan.rows[0], "relation", "one_head", str(message)))
        return
    plan.head = head = heads[0]
    if len(plan.rows) > archive.MEMBERS_MAX:
        message = archive.TOO_MANY_MEMBERS % {"limit": archive.MEMBERS_MAX}
        problems.append(RowProblem(plan.rows[archive.MEMBERS_MAX], "relation", "too_many_members", str(message)))
    for extra in heads[1:]:
        message = SECOND_HEAD % {"household": plan.key, "line": _line(rows, head)}
        problems.append(RowProblem(extra, "relation", "one_head", str(message)))
    row = rows[head - 1]

    def fault(field_name: str, found: tuple[str, str] | None) -> bool:
        if found is not None:
            problems.append(RowProblem(head, field_name, *found))
        return found is not None

    plan.address = str(row.address or "").strip()
    fault("address", text.line_fault(plan.address, limit=archive.ADDRESS_LIMIT))
    tier = str(row.tier or "").strip()
    try:
        plan.figures = archive.Figures.read(tier=tier, income_per_head=row.income_per_head, causes=row.causes)
    except ValidationError as error:
        for found in problems_of(error, head, "tier"):
            # An empty cell is a missing value, not a wrong one.
            problems.append(
                RowProblem(head, "tier", "required", str(TIER_REQUIRED))
                if found.field == "tier" and not tier
                else found
            )
    plan.valid_from = _date(row.valid_from, "valid_from", head, today, problems, default=valid_from)
    plan.valid_to = _date(row.valid_to, "valid_to", head, today, problems)
    if plan.valid_from and plan.valid_to and plan.valid_to < plan.valid_from:
        problems.append(RowProblem(head, "valid_to", "valid_to_before_from", str(archive.VALID_TO_BEFORE_FROM)))
        plan.valid_to = None
    plan.standard = str(row.standard or "").strip() or standard.strip()
    fault("standard", text.line_fault(plan.standard, limit=archive.STANDARD_LIMIT))
    plan.note = str(row.note or "").strip()
    fault("note", text.note_fault(plan.note))
    said = {name: _said(getattr(row, name)) for name in HOUSEHOLD_FIELDS}
    for number in plan.rows:
        if number == head:
            continue
        other = rows[number - 1]
        for name in HOUSEHOLD_FIELDS:
            value = _said(getattr(other, name))
            if value and value != said[name]:
                message = HEAD_ONLY % {"line": _line(rows, head)}
                problems.append(RowProblem(number, name, "household_field_differs", str(message)))


def _date(
    value: object,
    field_name: str,
    row: int,
    today: datetime.date,
    problems: list[RowProblem],
    *,
    default: datetime.date | None = None,
) -> datetime.date | None:
    if value in (None, ""):
        return default
    if isinstance(value, datetime.datetime):
        day = value.date()
    elif isinstance(value, datetime.date):
        day = value
    else:
        try:
            day = datetime.date.fromisoformat(str(value).strip())
        except ValueError:
            problems.append(RowProblem(row, field_name, "invalid_date", str(INVALID_DATE)))
            return None
    if found := text.date_fault(day, today=today):
        problems.append(RowProblem(row, field_name, *found))
        return None
    return day


def _said(value: object) -> str:
    """A household field as a member's line says it, to compare with the head's."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "、".join(sorted(str(part) for part in value))
    if isinstance(value, datetime.date):
        return value.isoformat()
    written = str(value).strip()
    try:
        return str(Decimal(written).normalize()) if written else ""
    except ArithmeticError:
        return written


def _line(rows: Sequence[HouseholdRow], number: int) -> int:
    return rows[number - 1].line or number


def _in_live_households(members: list[tuple[int, PersonLine]], known: dict) -> list[RowProblem]:
    """People already in a household whose entry is open (as `archive_open`
    refuses them) or waiting for approval: a sheet sent twice files nobody twice.
    The refusal names the number typed, masked, and nothing of the other household."""
    ids = {known[person.number].pk: person.number for _row, person in members if person.number in known}
    if not ids:
        return []
    statuses: dict[str, str] = {}
    for batch in bulkload.batches(sorted(ids)):
        found = (
            HouseholdMember.objects.filter(AnyOf(F("beneficiary_id"), batch))
            .filter(household__entries__status__in=LIVE_ARCHIVE)
            .values_list("beneficiary_id", "household__entries__status")
        )
        for person, status in found:
            if statuses.get(ids[person]) != ArchiveStatus.OPEN:
                statuses[ids[person]] = status
    problems = []
    for row, person in members:
        status = statuses.get(person.number)
        if status is None:
            continue
        masked = idnumber.mask(person.number)
        if status == ArchiveStatus.OPEN:
            problems.append(
                RowProblem(row, "id_number", "in_open_household", str(archive.IN_OPEN_HOUSEHOLD % {"number": masked}))
            )
        else:
            message = IN_PENDING_HOUSEHOLD % {"number": masked}
            problems.append(RowProblem(row, "id_number", "in_pending_household", str(message)))
    return problems


# Writing --------------------------------------------------------------------------

ENTRY_COLUMNS = [
    "household_id",
    "federation_id",
    "tier",
    "standard",
    "income_per_head",
    "dibao_monthly",
    "causes",
    "valid_from",
    "valid_to",
    "status",
    "created_by_id",
    "created_at",
]
CHANGE_COLUMNS = [
    "entry_id",
    "kind",
    "status",
    "tier",
    "income_per_head",
    "dibao_monthly",
    "causes",
    "valid_to",
    "effective_on",
    "note",
    "created_by_id",
    "created_at",
]


def _entry(household_id: int, plan: _Plan, federation: Federation, dibao: dict, by, now) -> ArchiveEntry:
    """The entry as `archive_open` makes it, not saved."""
    assert plan.figures is not None and plan.valid_from is not None  # a list with problems stops before
    return ArchiveEntry(
        household_id=household_id,
        federation=federation,
        tier=plan.figures.tier,
        standard=plan.standard,
        income_per_head=plan.figures.income_per_head,
        dibao_monthly=dibao[plan.valid_from.year],
        causes=list(plan.figures.causes),
        valid_from=plan.valid_from,
        valid_to=plan.valid_to,
        status=ArchiveStatus.PENDING,
        created_by=by,
        created_at=now,
    )


def _change(entry: ArchiveEntry, plan: _Plan, by, now) -> ArchiveChange:
    """The filing as `archive_open` asks for it, not saved."""
    return ArchiveChange(
        entry=entry,
        kind=ChangeKind.OPEN,
        status=ChangeStatus.PENDING,
        tier=entry.tier,
        income_per_head=entry.income_per_head,
        dibao_monthly=entry.dibao_monthly,
        causes=list(entry.causes),
        valid_to=entry.valid_to,
        effective_on=entry.valid_from,
        note=plan.note,
        created_by=by,
        created_at=now,
    )


def _values(instances: list, columns: list[str]) -> list[tuple]:
    return [tuple(getattr(instance, column) for column in columns) for instance in instances]


def _audit(
    federation: Federation,
    plans: list[_Plan],
    household_ids: list[int],
    entries: list[ArchiveEntry],
    changes: list[ArchiveChange],
    by,
) -> None:
    """What `household_file` and `archive_open` record, one insert per action."""
    filed = []
    for pk, plan in zip(household_ids, plans, strict=True):
        head = next(line for row, line in plan.members if row == plan.head)
        members = [[line.person.name, idnumber.mask(line.person.number), line.relation] for _row, line in plan.members]
        changes_said = {"address": {"new": plan.address}, "members": {"new": members}}
        filed.append((pk, federation.pk, str(_("Household of %(head)s") % {"head": head.person.name}), changes_said))
    audit.log_many(Household, "household.filed", filed, user=by)
    audit.log_many(
        ArchiveEntry,
        "archive.filed",
        [
            (entry.pk, federation.pk, str(entry), audit.diff({}, audit.snapshot(entry, archive.ENTRY_AUDITED)))
            for entry in entries
        ],
        user=by,
    )
    audit.log_many(
        ArchiveChange,
        "archive.open_requested",
        [
            (change.pk, federation.pk, str(change), audit.diff({}, audit.snapshot(change, archive.CHANGE_AUDITED)))
            for change in changes
        ],
        user=by,
    )
