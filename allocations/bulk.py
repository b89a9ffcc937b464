"""Real-name disbursement lists: many payments from one fund, all or nothing.

The API's bulk endpoint and the spreadsheet import both call
`disbursements_create_bulk`. Every row is checked before anything is written,
and every problem is reported with its row and field, so that a clerk can fix
the whole sheet at once. The writes are bulk inserts, not a loop of single
entries: a list of 100,000 rows takes seconds, not an hour.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allocations import ledger, services, totals
from allocations.models import AssistanceType, Disbursement, Fund, Status
from beneficiaries import idnumber
from beneficiaries.models import Beneficiary, Category, CategoryCode, person_label
from beneficiaries.services import name_mismatch
from unionfunds import audit, bulkload
from unionfunds.bulkload import AnyOf
from unionfunds.models import AuditEvent, Federation, Role
from unionfunds.permissions import require_role

REPEATED_IN_LIST = _("The same person appears again in row %(row)s for the same assistance type and month.")
LIST_TOO_LONG = _("A list may have at most %(limit)s rows.")
EMPTY_LIST = _("The list has no rows.")
NAME_REQUIRED = _("Enter the name.")
INVALID_DATE = _("Enter a date like 2022-11-03.")
TOTAL_TOO_HIGH = _("The list totals %(total)s yuan but %(fund)s has only %(available)s yuan available.")

MAX_ROWS = 100_000
# Asked once per row: Choices.values builds its list (and translates its labels) on every call.
ASSISTANCE_TYPES = frozenset(AssistanceType.values)
CATEGORY_CODES = frozenset(CategoryCode.values)


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


@dataclass(frozen=True)
class RowProblem:
    row: int | None  # 1-based; None for the list as a whole
    field: str
    code: str
    message: str


class ListRefused(ValidationError):
    """Every problem of a list, by row and field; nothing was written."""

    def __init__(self, problems: list[RowProblem]):
        self.problems = problems
        super().__init__([ValidationError(p.message, code=p.code) for p in problems])


@dataclass
class _Checked:
    row: ListRow
    number: int
    resident: idnumber.ResidentId | None = None
    amount: Decimal | None = None
    assistance_type: str = ""
    date: datetime.date | None = None
    categories: list[str] = field(default_factory=list)
    duplicate: bool = False


class Known(NamedTuple):
    """A registered person, as far as a list needs to know them."""

    pk: int
    name: str


@dataclass
class CheckedList:
    """A list that passed every check: what committing it would write."""

    fund: Fund
    rows: list[_Checked]
    registered: dict[str, Known]
    total: Decimal

    @property
    def new_people(self) -> int:
        return len({c.resident.number for c in self.rows} - set(self.registered))

    @property
    def confirmed_duplicates(self) -> int:
        return sum(1 for c in self.rows if c.duplicate)


@bulkload.gc_paused()
@transaction.atomic
def disbursements_check_bulk(
    *,
    fund: Fund,
    rows: Iterable[ListRow],
    by,
    assistance_type: str | None = None,
    date: datetime.date | None = None,
    home_federation: Federation | None = None,
    lock: bool = False,
) -> CheckedList:
    """Every check of `disbursements_create_bulk`, writing nothing: a preview.

    Raises `ListRefused` with every problem found. With `lock`, the fund stays
    locked until the caller's transaction ends, so what was checked still holds
    when it writes.
    """
    require_role(by, Role.CLERK, fund.federation)
    require_role(by, Role.CLERK, home_federation or fund.federation)
    rows = list(rows)
    problems: list[RowProblem] = []
    if not rows:
        raise ListRefused([RowProblem(None, "rows", "empty_list", str(EMPTY_LIST))])
    if len(rows) > MAX_ROWS:
        raise ListRefused([RowProblem(None, "rows", "too_many_rows", str(LIST_TOO_LONG % {"limit": MAX_ROWS}))])

    today = timezone.localdate()
    checked = [
        _check_row(row, number, assistance_type, date or today, today, problems)
        for number, row in enumerate(rows, start=1)
    ]
    _check_repeats_within_list(checked, problems)
    current = services._lock_funds([fund.pk])[fund.pk] if lock else Fund.objects.order_by().get(pk=fund.pk)
    registered = _registered(c.resident.number for c in checked if c.resident)
    _check_names(checked, registered, problems, by)
    _check_earlier_payments(current, checked, registered, problems)
    total = sum((c.amount for c in checked if c.amount is not None), Decimal("0.00"))
    if not problems and total > current.available:
        problems.append(
            RowProblem(
                None,
                "amount",
                "insufficient_funds",
                str(
                    TOTAL_TOO_HIGH
                    % {"total": f"{total:,.2f}", "fund": current.name, "available": f"{current.available:,.2f}"}
                ),
            )
        )
    if problems:
        raise ListRefused(sorted(problems, key=lambda p: (p.row or 0, p.field)))
    return CheckedList(fund=current, rows=checked, registered=registered, total=total)


class CreatedList(Sequence):
    """What a list wrote: the new disbursements' ids in row order and their total.
    The disbursements themselves are read from the database only if asked for."""

    def __init__(self, fund: Fund, ids: list[int], total: Decimal):
        self.fund, self.ids, self.total = fund, ids, total
        self._loaded: list[Disbursement] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):
        if self._loaded is None:
            found = Disbursement.objects.in_bulk(self.ids)
            self._loaded = [found[pk] for pk in self.ids]
        return self._loaded[index]


@bulkload.gc_paused()
@transaction.atomic
def disbursements_create_bulk(
    *,
    fund: Fund,
    rows: Iterable[ListRow],
    by,
    assistance_type: str | None = None,
    date: datetime.date | None = None,
    batch: str = "",
    home_federation: Federation | None = None,
) -> CreatedList:
    """Create one pending disbursement per row; people unknown by ID number are
    registered under `home_federation` (the fund's federation by default).

    Row values override the list's `assistance_type` and `date`. Raises
    `ListRefused` with every problem found, having written nothing.
    """
    home_federation = home_federation or fund.federation
    checked_list = disbursements_check_bulk(
        fund=fund,
        rows=rows,
        by=by,
        assistance_type=assistance_type,
        date=date,
        home_federation=home_federation,
        lock=True,
    )
    checked, registered, locked = checked_list.rows, checked_list.registered, checked_list.fund
    registered.update(_register_missing(checked, registered, home_federation, by))
    locked.reserved += checked_list.total
    locked.save(update_fields=["reserved"])
    now = timezone.now()
    entries = [
        {
            "fund": locked.pk,
            "beneficiary": registered[c.resident.number].pk,
            "assistance_type": c.assistance_type,
            "amount": c.amount,
            "date": c.date,
            "batch": batch,
            "note": c.row.note or "",
            "duplicate_confirmed": c.duplicate,
        }
        for c in checked
    ]
    ids = bulkload.insert(
        Disbursement,
        [Disbursement._meta.get_field(name).attname for name in entries[0]],
        [tuple(entry.values()) for entry in entries],
        same={"created_by_id": by.pk, "created_at": now},
    )
    audited = [name for name in entries[0] if name in services.AUDITED_FIELDS[Disbursement]]
    changes = audit.CreatedJson(audited, status=Status.PENDING)
    _log_entries(
        Disbursement,
        "disbursement.created",
        [
            (
                pk,
                locked.federation_id,
                _entry_repr(pk, entry["amount"]),
                changes([entry[name] for name in audited]),
            )
            for pk, entry in zip(ids, entries, strict=True)
        ],
        by=by,
        reason=batch,
    )
    return CreatedList(locked, ids, checked_list.total)


@transaction.atomic
def movements_approve_bulk(*, movements: Sequence, by) -> int:
    """Approve many pending entries of one kind at once, with the same rules as
    `services.movement_approve`: all of them or, on the first refusal, none."""
    if not movements:
        return 0
    model = type(movements[0])
    locked = list(model.objects.select_for_update(no_key=True).filter(pk__in=[m.pk for m in movements]).order_by("pk"))
    debits, credits = defaultdict(Decimal), defaultdict(Decimal)
    for movement in locked:
        services._require_pending(movement)
        if movement.created_by_id == by.pk:
            raise services.refuse(services.MAKER_CANNOT_APPROVE, "maker_cannot_approve")
        for pk in movement.debited_funds():
            debits[pk] += movement.amount
        for pk in movement.credited_funds():
            credits[pk] += movement.amount
    owner_of_fund = dict(
        Fund.objects.filter(pk__in={m.owner_fund_id for m in locked}).order_by().values_list("pk", "federation_id")
    )
    for federation in Federation.objects.filter(pk__in=set(owner_of_fund.values())):
        require_role(by, Role.APPROVER, federation)
    funds = services._lock_funds(list(set(debits) | set(credits)))
    for pk, fund in funds.items():
        fund.balance += credits[pk] - debits[pk]
        fund.reserved -= debits[pk]
        fund.save(update_fields=["balance", "reserved"])
    decided_at = timezone.now()
    model.objects.filter(pk__in=[m.pk for m in locked]).update(
        status=Status.APPROVED, decided_by=by, decided_at=decided_at
    )
    for movement in locked:
        movement.status, movement.decided_by_id, movement.decided_at = Status.APPROVED, by.pk, decided_at
    ledger.record(locked, funds)
    totals.record(locked)
    approved = {"status": {"before": Status.PENDING.value, "after": Status.APPROVED.value}}
    _log_entries(
        model,
        f"{model._meta.model_name}.{Status.APPROVED}",
        [(m.pk, owner_of_fund[m.owner_fund_id], _entry_repr(m.pk, m.amount), approved) for m in locked],
        by=by,
    )
    return len(locked)


# Checks ------------------------------------------------------------------------


def _check_row(
    row: ListRow, number: int, assistance_type, date, today: datetime.date, problems: list[RowProblem]
) -> _Checked:
    checked = _Checked(row=row, number=number)

    def problem(field_name: str, error: ValidationError | str, code: str = "invalid") -> None:
        if not isinstance(error, ValidationError):
            problems.append(RowProblem(number, field_name, code, str(error)))
            return
        singles = (
            [e for errors in error.error_dict.values() for e in errors]
            if hasattr(error, "error_dict")
            else error.error_list
        )
        for single in singles:
            problems.append(RowProblem(number, field_name, single.code or code, " ".join(single.messages)))

    if not (row.name or "").strip():
        problem("name", NAME_REQUIRED, "required")
    try:
        checked.resident = idnumber.parse(row.id_number or "", today=today)
    except ValidationError as error:
        problem("id_number", error)
    try:
        checked.amount = services._valid_amount(row.amount)
    except ValidationError as error:
        problem("amount", error)
    checked.assistance_type = row.assistance_type or assistance_type or ""
    if checked.assistance_type not in ASSISTANCE_TYPES:
        problem(
            "assistance_type",
            services.INVALID_CHOICE % {"value": checked.assistance_type or "—"},
            "invalid_choice",
        )
    checked.date = _as_date(row.date or date)
    if checked.date is None:
        problem("date", INVALID_DATE, "invalid_date")
    checked.categories = list(dict.fromkeys(row.categories or ()))
    for code in checked.categories:
        if code not in CATEGORY_CODES:
            problem("categories", services.INVALID_CHOICE % {"value": code}, "invalid_choice")
    return checked


def _check_repeats_within_list(checked: list[_Checked], problems: list[RowProblem]) -> None:
    first_seen: dict[tuple, int] = {}
    for c in checked:
        if c.resident is None or c.date is None:
            continue
        key = (c.resident.number, c.assistance_type, c.date.year, c.date.month)
        if key in first_seen and not c.row.confirm_duplicate:
            problems.append(
                RowProblem(c.number, "id_number", "duplicate_payment", str(REPEATED_IN_LIST % {"row": first_seen[key]}))
            )
        elif key in first_seen:
            c.duplicate = True
        first_seen.setdefault(key, c.number)


def _registered(numbers: Iterable[str]) -> dict[str, Known]:
    found: dict[str, Known] = {}
    for batch in bulkload.batches(list(dict.fromkeys(numbers))):
        for pk, name, number in Beneficiary.objects.filter(AnyOf(F("id_number"), batch)).values_list(
            "pk", "name", "id_number"
        ):
            found[number] = Known(pk, name)
    return found


def _check_names(checked: list[_Checked], registered: dict[str, Known], problems: list[RowProblem], by) -> None:
    mismatches = []
    for c in checked:
        known = registered.get(c.resident.number) if c.resident else None
        given = (c.row.name or "").strip()
        if known is not None and given and known.name != given:
            mismatches.append((c.number, known.pk, given))
    # The message depends on whether the user may see the person: their federation, read once for all.
    people = Beneficiary.objects.select_related("federation").in_bulk({pk for _, pk, _ in mismatches})
    for number, pk, given in mismatches:
        problems.append(RowProblem(number, "name", "name_mismatch", str(name_mismatch(people[pk], given, by))))


def _check_earlier_payments(
    fund: Fund, checked: list[_Checked], registered: dict[str, Known], problems: list[RowProblem]
) -> None:
    """The duplicate-payment rule of `services._check_duplicate`, in one query
    (one per batch of ids on SQLite)."""
    ids = sorted({registered[c.resident.number].pk for c in checked if c.resident and c.resident.number in registered})
    earlier = set()
    for batch in bulkload.batches(ids):
        for beneficiary_id, kind, day in (
            Disbursement.objects.live()
            .filter(AnyOf(F("beneficiary_id"), batch), fund=fund)
            .values_list("beneficiary_id", "assistance_type", "date")
        ):
            earlier.add((beneficiary_id, kind, day.year, day.month))
    for c in checked:
        if c.resident is None or c.date is None or c.resident.number not in registered:
            continue
        key = (registered[c.resident.number].pk, c.assistance_type, c.date.year, c.date.month)
        if key not in earlier:
            continue
        if c.row.confirm_duplicate:
            c.duplicate = True
            continue
        person = registered[c.resident.number]
        problems.append(
            RowProblem(
                c.number,
                "id_number",
                "duplicate_payment",
                str(
                    services.DUPLICATE_PAYMENT
                    % {
                        "name": person.name,
                        "assistance_type": AssistanceType(c.assistance_type).label,
                        "month": f"{c.date:%Y-%m}",
                    }
                ),
            )
        )


# Writes ------------------------------------------------------------------------


def _register_missing(
    checked: list[_Checked], registered: dict[str, Known], federation: Federation, by
) -> dict[str, Known]:
    new: dict[str, tuple[tuple, list[str]]] = {}
    for c in checked:
        number = c.resident.number
        if number in registered or number in new:
            continue
        person = (
            c.row.name.strip(),
            number,
            c.resident.gender,
            c.resident.birth_date,
            (c.row.phone or "").strip(),
            (c.row.employer or "").strip(),
            federation.pk,
        )
        new[number] = (person, c.categories)
    if not new:
        return {}
    ids = bulkload.insert(
        Beneficiary,
        ["name", "id_number", "gender", "birth_date", "phone", "employer", "federation_id"],
        [person for person, _ in new.values()],
    )
    categories = Category.objects.ids(code for _, codes in new.values() for code in codes)
    bulkload.insert(
        Beneficiary.categories.through,
        ["beneficiary_id", "category_id"],
        [(pk, categories[code]) for pk, (_, codes) in zip(ids, new.values(), strict=True) for code in codes],
    )
    _log_entries(
        Beneficiary,
        "beneficiary.registered",
        [
            (pk, federation.pk, person_label(person[0], person[1]), {})
            for pk, (person, _) in zip(ids, new.values(), strict=True)
        ],
        by=by,
    )
    return {number: Known(pk, person[0]) for pk, (number, (person, _)) in zip(ids, new.items(), strict=True)}


def _log_entries(model, action: str, entries: list[tuple[int, int, str, dict]], *, by, reason: str = "") -> None:
    """One audit event per (id, federation id, description, changes), written in bulk."""
    bulkload.insert(
        AuditEvent,
        ["object_id", "federation_id", "object_repr", "changes"],
        [(pk, federation_id, description[:200], changes) for pk, federation_id, description, changes in entries],
        same={
            "at": timezone.now(),
            "user_id": by.pk if by is not None and by.is_authenticated else None,
            "action": action,
            "content_type_id": ContentType.objects.get_for_model(model).pk,
            "reason": reason,
        },
        ids=False,
    )


def _entry_repr(pk: int, amount: Decimal) -> str:
    return f"#{pk} ¥{amount}"


def _as_date(value) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        return None
