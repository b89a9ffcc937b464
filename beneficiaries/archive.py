"""The hardship archive's services (依档帮扶: 先建档、后帮扶、实名制).

A clerk files a household and asks for its entry to be opened, reviewed,
closed or reopened; each ask is an `ArchiveChange` that an approver other than
the clerk decides, as with money entries. Only an approved change touches the
entry, so the changes are its history, and nothing is deleted.

The money core (`allocations.services`) asks `open_entries` who may be paid by
the archive, locking the entries it relies on: closing an entry locks it too,
so a payment and a closing take turns, never both on stale figures.
"""

import datetime
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from beneficiaries import idnumber
from beneficiaries.archive_models import (
    LIVE_ARCHIVE,
    ArchiveChange,
    ArchiveEntry,
    ArchiveEvidence,
    ArchiveStatus,
    Cause,
    ChangeKind,
    ChangeStatus,
    CloseReason,
    DibaoLine,
    Household,
    HouseholdMember,
    Relation,
    Tier,
)
from beneficiaries.services import PersonLine, cards_for, name_problems, people_known, people_register
from unionfunds import audit, bulkload, text
from unionfunds.bulkload import AnyOf
from unionfunds.errors import INVALID_CHOICE, ListRefused, RowProblem, refuse
from unionfunds.models import Federation, Role
from unionfunds.money import LARGEST, AmountTooLarge, to_yuan
from unionfunds.permissions import require_role

NO_MEMBERS = _("A household has at least one member: its head.")
MEMBERS_MAX = 30
TOO_MANY_MEMBERS = _("A household may have at most %(limit)s members.")
ONE_HEAD = _("A household has exactly one head (户主).")
MEMBER_TWICE = _("%(number)s is listed twice in this household.")
IN_OPEN_HOUSEHOLD = _(
    "%(number)s is in another household's open archive entry; it has to be closed there before this one opens."
)
ARCHIVE_EXISTS = _("This household already has an archive entry that is open or waiting for approval.")
NOT_OPEN = _("Only an open archive entry can be reviewed or closed.")
NOT_CLOSED = _("Only a closed archive entry can be reopened.")
PAID_AFTER_CLOSING = _(
    "A payment to this household stands on %(date)s, after the closing date: close it on that day or later."
)
CHANGE_WAITING = _("A change of this archive entry is already waiting for approval.")
CHANGE_NOT_PENDING = _("This change was already decided.")
MAKER_CANNOT_APPROVE = _("You entered this yourself: another approver has to decide on it.")
ONLY_THE_MAKER = _("Only the clerk who entered it can take it back.")
CAUSE_REQUIRED = _("Give at least one cause of hardship.")
INVALID_INCOME = _("Enter the monthly income per head in yuan, 0 or more, like 650.00.")
VALID_TO_BEFORE_FROM = _("The end of validity comes before its start.")
REASON_REQUIRED = _("Give a reason.")
ADDRESS_LIMIT = Household._meta.get_field("address").max_length or 200
STANDARD_LIMIT = ArchiveEntry._meta.get_field("standard").max_length or 200
# Reviewed every year (复查核查): an entry whose figures are older is due.
REVIEW_EVERY = datetime.timedelta(days=365)
# A household out of hardship is followed up for a year in case it falls back (返困).
FOLLOW_UP_FOR = datetime.timedelta(days=365)

ENTRY_AUDITED = (
    "household",
    "tier",
    "standard",
    "income_per_head",
    "dibao_monthly",
    "causes",
    "valid_from",
    "valid_to",
    "status",
    "opened_on",
    "checked_on",
    "closed_on",
    "close_reason",
    "reopened_on",
)
CHANGE_AUDITED = (
    "entry",
    "kind",
    "status",
    "tier",
    "income_per_head",
    "dibao_monthly",
    "causes",
    "valid_to",
    "close_reason",
    "effective_on",
    "note",
)


@dataclass(frozen=True, slots=True)
class MemberLine:
    person: PersonLine
    relation: str


class OpenEntry(NamedTuple):
    """What the money core needs of a person's open archive entry."""

    entry_id: int
    household_id: int
    federation_id: int
    valid_from: datetime.date
    valid_to: datetime.date | None

    def covers(self, day: datetime.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


# Households ------------------------------------------------------------------


@transaction.atomic
def household_file(*, federation: Federation, members: Sequence[MemberLine], address: str = "", by) -> Household:
    """A household and its members, each by checked ID number; people not in the
    register yet are registered under `federation`, as a payment would."""
    require_role(by, Role.CLERK, federation)
    address = text.clean_line(address, "address", limit=ADDRESS_LIMIT)
    _check_members(members)
    lines = [(row, member.person) for row, member in enumerate(members, 1)]
    known = people_known(line.number for _, line in lines)
    if problems := name_problems(lines, known, by):
        raise ListRefused(problems)
    new = [line for _, line in lines if line.number not in known]
    # Members registered outside the filer's subtree: the federation's own card of them.
    cards_for(
        [(known[line.number].pk, line) for _, line in lines if line.number in known], federation=federation, by=by
    )
    known |= people_register(new, federation=federation, by=by) if new else {}
    household = Household.objects.create(federation=federation, address=address, created_by=by)
    HouseholdMember.objects.bulk_create(
        [
            HouseholdMember(
                household=household,
                beneficiary_id=known[m.person.number].pk,
                name=m.person.name,
                relation=m.relation,
            )
            for m in members
        ]
    )
    audit.log(
        household,
        "household.filed",
        user=by,
        federation=federation,
        changes={
            "address": {"new": address},
            "members": {"new": [[m.person.name, idnumber.mask(m.person.number), m.relation] for m in members]},
        },
    )
    return household


def _check_members(members: Sequence[MemberLine]) -> None:
    if not members:
        raise refuse(NO_MEMBERS, "no_members", field="members")
    if len(members) > MEMBERS_MAX:
        raise refuse(TOO_MANY_MEMBERS, "too_many_members", field="members", limit=MEMBERS_MAX)
    problems: list[RowProblem] = []
    seen: set[str] = set()
    for row, member in enumerate(members, 1):
        if member.relation not in Relation.values:
            problems.append(
                RowProblem(row, "relation", "invalid_choice", str(INVALID_CHOICE % {"value": member.relation}))
            )
        if member.person.number in seen:
            message = MEMBER_TWICE % {"number": idnumber.mask(member.person.number)}
            problems.append(RowProblem(row, "id_number", "member_twice", str(message)))
        seen.add(member.person.number)
    if sum(member.relation == Relation.HEAD for member in members) != 1:
        problems.append(RowProblem(None, "relation", "one_head", str(ONE_HEAD)))
    if problems:
        raise ListRefused(problems)


# Asking for a change ----------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What a filing, a review or a reopening found: checked once, here."""

    tier: str
    income_per_head: Decimal
    causes: tuple[str, ...]

    @classmethod
    def read(cls, *, tier: str, income_per_head: object, causes: Iterable[str]) -> "Figures":
        errors: dict[str, list[ValidationError]] = {}
        if tier not in Tier.values:
            errors["tier"] = [ValidationError(INVALID_CHOICE, code="invalid_choice", params={"value": tier})]
        codes = tuple(dict.fromkeys(causes or ()))
        unknown = [code for code in codes if code not in Cause.values]
        if unknown:
            errors["causes"] = [
                ValidationError(INVALID_CHOICE, code="invalid_choice", params={"value": code}) for code in unknown
            ]
        elif not codes:
            errors["causes"] = [ValidationError(CAUSE_REQUIRED, code="required")]
        income = _income(income_per_head, errors)
        if errors or income is None:
            raise ValidationError(errors)
        return cls(tier, income, codes)


def _income(value: object, errors: dict) -> Decimal | None:
    try:
        income = to_yuan(value)
    except (AmountTooLarge, TypeError, ValueError):
        income = None
    if income is None or income < 0 or income > LARGEST:
        errors["income_per_head"] = [ValidationError(INVALID_INCOME, code="invalid_amount")]
        return None
    return income


@transaction.atomic
def archive_open(
    *,
    household: Household,
    figures: Figures,
    valid_from: datetime.date,
    valid_to: datetime.date | None = None,
    standard: str = "",
    note: str = "",
    by,
) -> ArchiveChange:
    """Ask for the household to be admitted to the archive: a pending entry and
    the filing change that an approver decides."""
    household = Household.objects.select_for_update().select_related("federation").get(pk=household.pk)
    require_role(by, Role.CLERK, household.federation)
    valid_from, valid_to = _validity(valid_from, valid_to)
    if ArchiveEntry.objects.filter(household=household, status__in=LIVE_ARCHIVE).exists():
        raise refuse(ARCHIVE_EXISTS, "archive_exists")
    _refuse_members_open_elsewhere(household)
    entry = ArchiveEntry.objects.create(
        household=household,
        federation=household.federation,
        tier=figures.tier,
        standard=text.clean_line(standard, "standard", limit=STANDARD_LIMIT),
        income_per_head=figures.income_per_head,
        dibao_monthly=dibao_line(household.federation, valid_from.year),
        causes=list(figures.causes),
        valid_from=valid_from,
        valid_to=valid_to,
        created_by=by,
    )
    audit.log(entry, "archive.filed", user=by, federation=entry.federation, changes=_created(entry, ENTRY_AUDITED))
    return _ask(entry, ChangeKind.OPEN, figures=figures, effective_on=valid_from, valid_to=valid_to, note=note, by=by)


@transaction.atomic
def archive_review(
    *,
    entry: ArchiveEntry,
    figures: Figures,
    reviewed_on: datetime.date | None = None,
    valid_to: datetime.date | None = None,
    note: str = "",
    by,
) -> ArchiveChange:
    """Ask to record a review (复查核查): the household's figures now, kept open."""
    entry = _lock_entry(entry, by, Role.CLERK)
    if entry.status != ArchiveStatus.OPEN:
        raise refuse(NOT_OPEN, "not_open")
    day = text.valid_entry_date(reviewed_on or timezone.localdate(), "reviewed_on")
    if valid_to is not None and valid_to < entry.valid_from:
        raise refuse(VALID_TO_BEFORE_FROM, "valid_to_before_from", field="valid_to")
    return _ask(entry, ChangeKind.REVIEW, figures=figures, effective_on=day, valid_to=valid_to, note=note, by=by)


@transaction.atomic
def archive_close(
    *, entry: ArchiveEntry, reason: str, closed_on: datetime.date | None = None, note: str = "", by
) -> ArchiveChange:
    """Ask to close the entry (解困脱困, 退休, 调离, 死亡, 不符合条件)."""
    entry = _lock_entry(entry, by, Role.CLERK)
    if entry.status != ArchiveStatus.OPEN:
        raise refuse(NOT_OPEN, "not_open")
    if reason not in CloseReason.values:
        raise refuse(INVALID_CHOICE, "invalid_choice", field="close_reason", value=reason or "—")
    day = text.valid_entry_date(closed_on or timezone.localdate(), "closed_on")
    _refuse_payments_after(entry, day)
    return _ask(entry, ChangeKind.CLOSE, close_reason=reason, effective_on=day, note=note, by=by)


@transaction.atomic
def archive_reopen(
    *,
    entry: ArchiveEntry,
    figures: Figures,
    reopened_on: datetime.date | None = None,
    valid_to: datetime.date | None = None,
    note: str = "",
    by,
) -> ArchiveChange:
    """Ask to reopen a closed entry: the household fell back into hardship (返困)."""
    entry = _lock_entry(entry, by, Role.CLERK)
    if entry.status != ArchiveStatus.CLOSED:
        raise refuse(NOT_CLOSED, "not_closed")
    if ArchiveEntry.objects.filter(household_id=entry.household_id, status__in=LIVE_ARCHIVE).exists():
        raise refuse(ARCHIVE_EXISTS, "archive_exists")
    day = text.valid_entry_date(reopened_on or timezone.localdate(), "reopened_on")
    _validity(day, valid_to)
    _refuse_members_open_elsewhere(entry.household)
    return _ask(entry, ChangeKind.REOPEN, figures=figures, effective_on=day, valid_to=valid_to, note=note, by=by)


def _ask(
    entry: ArchiveEntry,
    kind: str,
    *,
    effective_on: datetime.date,
    by,
    figures: Figures | None = None,
    valid_to: datetime.date | None = None,
    close_reason: str = "",
    note: str = "",
) -> ArchiveChange:
    if entry.changes.filter(status=ChangeStatus.PENDING).exists():
        raise refuse(CHANGE_WAITING, "change_waiting")
    change = ArchiveChange(
        entry=entry,
        kind=kind,
        effective_on=effective_on,
        valid_to=valid_to,
        close_reason=close_reason,
        note=text.clean_note(note),
        created_by=by,
    )
    if figures is not None:
        change.tier, change.income_per_head, change.causes = figures.tier, figures.income_per_head, list(figures.causes)
        change.dibao_monthly = dibao_line(entry.federation, effective_on.year)
    try:
        with transaction.atomic():
            change.save()
    except IntegrityError:
        # Another change of this entry was asked for meanwhile.
        raise refuse(CHANGE_WAITING, "change_waiting") from None
    audit.log(
        change,
        f"archive.{kind}_requested",
        user=by,
        federation=entry.federation,
        changes=_created(change, CHANGE_AUDITED),
    )
    return change


# Deciding ----------------------------------------------------------------------


@transaction.atomic
def archive_change_approve(*, change: ArchiveChange, by) -> ArchiveChange:
    """Approve a change: only now does the entry take its figures or its state.
    Opening and reopening put the members in the open archive, which the
    database holds to one open household per person."""
    change, entry = _lock_change(change, by)
    before = audit.snapshot(entry, ENTRY_AUDITED)
    day = change.effective_on
    if change.kind in (ChangeKind.OPEN, ChangeKind.REOPEN, ChangeKind.REVIEW):
        entry.tier, entry.income_per_head, entry.causes = change.tier, change.income_per_head, change.causes
        entry.dibao_monthly = change.dibao_monthly
        if change.valid_to is not None or change.kind != ChangeKind.REVIEW:
            entry.valid_to = change.valid_to
    if change.kind == ChangeKind.OPEN:
        entry.status, entry.opened_on, entry.checked_on = ArchiveStatus.OPEN, day, day
    elif change.kind == ChangeKind.REOPEN:
        entry.status, entry.reopened_on, entry.valid_from, entry.checked_on = ArchiveStatus.OPEN, day, day, day
        entry.closed_on, entry.close_reason = None, ""
    elif change.kind == ChangeKind.REVIEW:
        entry.checked_on = day
    else:
        _refuse_payments_after(entry, day)  # paid meanwhile
        entry.status, entry.closed_on, entry.close_reason = ArchiveStatus.CLOSED, day, change.close_reason
    entry.save()
    if change.kind in (ChangeKind.OPEN, ChangeKind.REOPEN, ChangeKind.CLOSE):
        _set_members_open(entry, change.kind != ChangeKind.CLOSE)
    _decided(change, ChangeStatus.APPROVED, by=by)
    audit.log(
        entry,
        f"archive.{change.kind}_approved",
        user=by,
        federation=entry.federation,
        changes=audit.diff(before, audit.snapshot(entry, ENTRY_AUDITED)),
    )
    return change


@transaction.atomic
def archive_change_reject(*, change: ArchiveChange, reason: str, by) -> ArchiveChange:
    change, entry = _lock_change(change, by)
    reason = text.clean_note(reason, "reason")
    if not reason:
        raise refuse(REASON_REQUIRED, "required", field="reason")
    if change.kind == ChangeKind.OPEN:
        entry.status = ArchiveStatus.REJECTED
        entry.save(update_fields=["status"])
    _decided(change, ChangeStatus.REJECTED, by=by, note=reason)
    return change


@transaction.atomic
def archive_change_withdraw(*, change: ArchiveChange, by) -> ArchiveChange:
    """The clerk takes back a change of theirs still waiting; a withdrawn filing
    leaves its entry not admitted, so the household may be filed again."""
    if ArchiveChange.objects.filter(pk=change.pk).values_list("created_by_id", flat=True).get() != by.pk:
        raise PermissionDenied(ONLY_THE_MAKER)
    change, entry = _lock_change(change, by, Role.CLERK)
    if change.kind == ChangeKind.OPEN:
        entry.status = ArchiveStatus.REJECTED
        entry.save(update_fields=["status"])
    _decided(change, ChangeStatus.WITHDRAWN, by=by)
    return change


def _decided(change: ArchiveChange, status: str, *, by, note: str = "") -> None:
    change.status, change.decided_by, change.decided_at, change.decision_note = status, by, timezone.now(), note
    change.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit.log(
        change,
        f"archive.change_{status}",
        user=by,
        federation=change.entry.federation,
        changes={"status": {"old": ChangeStatus.PENDING.value, "new": status}},
        reason=note,
    )


def _lock_change(change: ArchiveChange, by, role: str = Role.APPROVER) -> tuple[ArchiveChange, ArchiveEntry]:
    """The change and its entry locked, checked in the order a money decision
    is: pending, not the decider's own (for an approver), the role where it belongs."""
    change = ArchiveChange.objects.select_for_update().get(pk=change.pk)
    entry = _lock_entry(change.entry, by, None)
    if change.status != ChangeStatus.PENDING:
        raise refuse(CHANGE_NOT_PENDING, "not_pending")
    if role == Role.APPROVER and change.created_by_id == by.pk:
        raise refuse(MAKER_CANNOT_APPROVE, "maker_cannot_approve")
    require_role(by, role, entry.federation)
    change.entry = entry
    return change, entry


def _lock_entry(entry: ArchiveEntry, by, role: str | None) -> ArchiveEntry:
    # The lock a payment relying on the entry takes too (`open_entries`).
    locked = ArchiveEntry.objects.select_for_update(no_key=True).select_related("federation").get(pk=entry.pk)
    if role is not None:
        require_role(by, role, locked.federation)
    return locked


def _set_members_open(entry: ArchiveEntry, is_open: bool) -> None:
    if is_open:
        _refuse_members_open_elsewhere(entry.household)
    try:
        with transaction.atomic():
            HouseholdMember.objects.filter(household_id=entry.household_id).update(in_open_archive=is_open)
    except IntegrityError:
        # Opened elsewhere between the check and the update.
        raise refuse(IN_OPEN_HOUSEHOLD % {"number": "—"}, "in_open_household") from None


def _refuse_payments_after(entry: ArchiveEntry, day: datetime.date) -> None:
    """A closing may not reach back before a payment that stands: the payment was
    made on the archive, and the archive's history must keep saying so."""
    latest = (
        entry.household.disbursements.filter(date__gt=day, reverses__isnull=True)
        .exclude(status__in=("rejected", "withdrawn"))
        .exclude(reversals__status="approved")
        .order_by("-date")
        .values_list("date", flat=True)
        .first()
    )
    if latest is not None:
        raise refuse(PAID_AFTER_CLOSING, "paid_after_closing", field="closed_on", date=latest.isoformat())


def _refuse_members_open_elsewhere(household: Household) -> None:
    """A person is in one open household at most, wherever it was filed. The
    refusal names the number the clerk typed, masked, and nothing of the other
    household."""
    taken = (
        HouseholdMember.objects.filter(beneficiary__memberships__household=household, in_open_archive=True)
        .exclude(household=household)
        .values_list("beneficiary__id_number", flat=True)
        .order_by("beneficiary__id_number")
    )
    if numbers := list(taken):
        raise refuse(IN_OPEN_HOUSEHOLD % {"number": idnumber.mask(numbers[0])}, "in_open_household")


def _validity(valid_from: datetime.date, valid_to: datetime.date | None) -> tuple[datetime.date, datetime.date | None]:
    valid_from = text.valid_entry_date(valid_from, "valid_from")
    if valid_to is not None:
        text.valid_entry_date(valid_to, "valid_to")
        if valid_to < valid_from:
            raise refuse(VALID_TO_BEFORE_FROM, "valid_to_before_from", field="valid_to")
    return valid_from, valid_to


def _created(instance, fields: tuple[str, ...]) -> dict:
    return audit.diff({}, audit.snapshot(instance, fields))


# What the money core and the pages read ------------------------------------------


def dibao_line(federation: Federation, year: int) -> Decimal | None:
    """The 低保 line per person and month that holds at `federation` in `year`:
    its own, or the nearest set above it."""
    steps = range(Federation.steplen, len(federation.path) + 1, Federation.steplen)
    lines = dict(
        DibaoLine.objects.filter(federation__path__in=[federation.path[:end] for end in steps], year=year).values_list(
            "federation__path", "monthly"
        )
    )
    return next((lines[path] for path in sorted(lines, key=len, reverse=True)), None)


# What `OpenEntry` holds, after whose entry it is.
_OPEN_ENTRY_COLUMNS = (
    "household__members__beneficiary_id",
    *("pk", "household_id", "federation_id", "valid_from", "valid_to"),
)


def open_entries(beneficiary_ids: Iterable[int], *, lock: bool) -> dict[int, OpenEntry]:
    """The open archive entry of each of these persons who has one, in one query
    per batch; with `lock`, the entries locked until the transaction ends, as
    closing one locks it."""
    ids = sorted(set(beneficiary_ids))
    found: dict[int, OpenEntry] = {}
    for batch in bulkload.batches(ids):
        # One filter(): the member found by number is the one in the open archive (one join).
        entries = ArchiveEntry.objects.filter(
            AnyOf(F("household__members__beneficiary_id"), batch),
            status=ArchiveStatus.OPEN,
            household__members__in_open_archive=True,
        )
        if lock:
            entries = entries.select_for_update(no_key=True, of=("self",))
        # The rows straight from the cursor: a 100,000-row list would spend more in
        # Django's iteration over them than the database spends finding them.
        sql, params = entries.order_by("pk").values_list(*_OPEN_ENTRY_COLUMNS).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for person, entry_id, household_id, federation_id, valid_from, valid_to in cursor.fetchall():
                found[person] = OpenEntry(entry_id, household_id, federation_id, valid_from, valid_to)
    return found


def due_for_review(entries, *, today: datetime.date | None = None):
    """Open entries whose figures were checked more than a year ago (复查核查)."""
    today = today or timezone.localdate()
    return entries.filter(status=ArchiveStatus.OPEN, checked_on__lt=today - REVIEW_EVERY)


def never_helped(entries):
    """Open entries none of whose payments stands: filed, and never paid."""
    return entries.filter(status=ArchiveStatus.OPEN).exclude(household__disbursements__status="approved")


def to_follow_up(entries, *, today: datetime.date | None = None):
    """Entries closed as out of hardship within the last year: watched in case the
    household falls back (返困)."""
    today = today or timezone.localdate()
    return entries.filter(
        status=ArchiveStatus.CLOSED, close_reason=CloseReason.OUT_OF_HARDSHIP, closed_on__gte=today - FOLLOW_UP_FOR
    )


# Settings a federation keeps -------------------------------------------------------

DIBAO_EXISTS = _("The minimum living standard of %(federation)s for %(year)s is set already; change it instead.")
INVALID_DIBAO = _("Enter the minimum living standard per person and month in yuan, more than 0, like 840.00.")
EVIDENCE_TOO_LARGE = _("A file may have at most %(limit)s MB.")
EVIDENCE_LIMIT_MB = 20


@transaction.atomic
def dibao_line_set(*, federation: Federation, year: int, monthly: object, by) -> DibaoLine:
    """Set (or correct) the local 低保 line per person and month for a year:
    caps tied to it follow from the next check on."""
    require_role(by, Role.CLERK, federation)
    errors: dict = {}
    amount = _income(monthly, errors)
    if amount is None or amount == 0:
        raise refuse(INVALID_DIBAO, "invalid_amount", field="monthly")
    if not 2000 <= int(year) <= 2100:
        raise refuse(_("Enter a year from 2000 to 2100."), "invalid_year", field="year")
    line, created = DibaoLine.objects.select_for_update().get_or_create(
        federation=federation, year=year, defaults={"monthly": amount}
    )
    old = None if created else line.monthly
    if not created:
        line.monthly = amount
        line.save(update_fields=["monthly"])
    audit.log(
        line,
        "dibao_line.set",
        user=by,
        federation=federation,
        changes={"monthly": {"old": str(old) if old is not None else None, "new": str(amount)}, "year": {"new": year}},
    )
    return line


@transaction.atomic
def evidence_add(*, entry: ArchiveEntry, upload, by) -> ArchiveEvidence:
    """Keep a document for an entry (收入证明, 诊断书): stored under a name of the
    system's, with its size and SHA-256, never replaced."""
    entry = _lock_entry(entry, by, Role.CLERK)
    if upload.size > EVIDENCE_LIMIT_MB * 1024 * 1024:
        raise refuse(EVIDENCE_TOO_LARGE, "file_too_large", field="file", limit=EVIDENCE_LIMIT_MB)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    name = text.clean_line(upload.name or "", "file", limit=200) or "file"
    evidence = ArchiveEvidence(entry=entry, name=name, size=upload.size, sha256=digest.hexdigest(), uploaded_by=by)
    evidence.file.save(name, upload, save=False)
    evidence.save()
    audit.log(
        evidence,
        "archive.evidence_added",
        user=by,
        federation=entry.federation,
        changes={"name": {"new": name}, "sha256": {"new": evidence.sha256}},
    )
    return evidence
