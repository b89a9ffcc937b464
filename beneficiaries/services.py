"""Registering and changing beneficiaries and units: the checks live here once.

Registration is set-based: `people_register` writes many people at once (a
real-name list of 100,000 rows registers its new people in one insert), and
`beneficiary_register` is its one-row case. Either way each person gets the same
audit record, with the ID number and the phone masked: the full number is on the
person's row, and the trail is read by more people than may see it.

The register is national (one person per ID number), but it is no oracle
(docs/DOMAIN.md, rule 3): a federation that registers or pays a person whose
home federation lies outside the user's subtree gets its own card of the person
(`cards_for`), with what it typed, and is answered as for a new registration.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from beneficiaries import idnumber
from beneficiaries.models import (
    Beneficiary,
    Category,
    CategoryCode,
    PersonCard,
    Unit,
    UnitKind,
    mask_phone,
    person_label,
)
from unionfunds import audit, bulkload, text
from unionfunds.bulkload import AnyOf
from unionfunds.errors import INVALID_CHOICE, RowProblem, refuse
from unionfunds.models import Federation, Role
from unionfunds.permissions import has_role, has_role_anywhere, require_role, sees_everything, subtree_q

NAME_LIMIT = Beneficiary._meta.get_field("name").max_length or 50
PHONE_LIMIT = Beneficiary._meta.get_field("phone").max_length or 20
EMPLOYER_LIMIT = Beneficiary._meta.get_field("employer").max_length or 100
UNIT_NAME_LIMIT = Unit._meta.get_field("name").max_length or 100

ALREADY_REGISTERED = _("A beneficiary with this ID number is already registered.")
NAME_MISMATCH = _("The ID number is registered to %(registered)s, not %(given)s.")
NAME_REQUIRED = _("Enter the name.")

BENEFICIARY_FIELDS = ("name", "id_number", "phone", "employer", "federation", "categories")
# Shown masked wherever the audit trail is read: stored masked.
MASKED_IN_AUDIT = {"id_number": idnumber.mask, "phone": mask_phone}
CATEGORY_CODES = frozenset(CategoryCode.values)


@dataclass(frozen=True, slots=True)
class PersonLine:
    """A worker as a list row or a form names them: by a checked ID number, with
    what registering them needs if they are new."""

    name: str
    resident: idnumber.ResidentId
    phone: str = ""
    employer: str = ""
    categories: tuple[str, ...] = ()

    @property
    def number(self) -> str:
        return self.resident.number


class Known(NamedTuple):
    """A registered person, as far as a payment needs to know them."""

    pk: int
    name: str
    id_number: str

    @property
    def label(self) -> str:
        return person_label(self.name, self.id_number)


def person_line(
    *, name: str, id_number: str, phone: str = "", employer: str = "", categories: Iterable[str] = ()
) -> PersonLine:
    """A person typed into a single form: refused as a list row would be."""
    errors: dict[str, list[ValidationError]] = {}
    resident = None
    try:
        resident = idnumber.parse(id_number or "")
    except ValidationError as error:
        errors["id_number"] = error.error_list
    given = (name or "").strip()
    if not given:
        errors["name"] = [ValidationError(NAME_REQUIRED, code="required")]
    texts = {"name": (given, NAME_LIMIT), "phone": (phone, PHONE_LIMIT), "employer": (employer, EMPLOYER_LIMIT)}
    for field, (value, limit) in texts.items():
        fault = text.line_fault(str(value or "").strip(), limit=limit)
        if fault is not None and field not in errors:
            errors[field] = [ValidationError(fault[1], code=fault[0])]
    codes = tuple(dict.fromkeys(categories))
    unknown = [code for code in codes if code not in CATEGORY_CODES]
    if unknown:
        errors["categories"] = [
            ValidationError(INVALID_CHOICE, code="invalid_choice", params={"value": code}) for code in unknown
        ]
    if errors or resident is None:
        raise ValidationError(errors)
    return PersonLine(given, resident, (phone or "").strip(), (employer or "").strip(), codes)


def people_known(numbers: Iterable[str]) -> dict[str, Known]:
    """The registered people among these ID numbers, in one query (a few on SQLite)."""
    found: dict[str, Known] = {}
    for batch in bulkload.batches(list(dict.fromkeys(numbers))):
        for pk, name, number in Beneficiary.objects.filter(AnyOf(F("id_number"), batch)).values_list(
            "pk", "name", "id_number"
        ):
            found[number] = Known(pk, name, number)
    return found


def name_problems(lines: Iterable[tuple[int, PersonLine]], known: dict[str, Known], by) -> list[RowProblem]:
    """A known ID number typed with another name: one of the two is wrong. Only
    for people the user may see, and against the name the user sees: the
    register's within the user's subtree, the card's for a person the subtree
    holds a card of (docs/DOMAIN.md, rule 3). That a number is registered
    elsewhere, and under which name, is not theirs to learn: a person the user
    does not see is paid under the name typed, which the payment keeps."""
    typed = [(row, line, known[line.number].pk) for row, line in lines if line.number in known]
    if not typed:
        return []
    seen: dict[int, str] = {}
    for batch in bulkload.batches(sorted({typed_pk for _row, _line, typed_pk in typed})):
        seen.update(
            Beneficiary.objects.visible_to(by).filter(AnyOf(F("pk"), batch)).order_by().values_list("pk", "seen_name")
        )
    return [
        RowProblem(row, "name", "name_mismatch", str(NAME_MISMATCH % {"registered": seen[pk], "given": line.name}))
        for row, line, pk in typed
        if pk in seen and seen[pk] != line.name
    ]


def people_register(lines: Sequence[PersonLine], *, federation: Federation, by) -> dict[str, Known]:
    """Register people not registered yet (each ID number once) under
    `federation`, in one insert, each with its audit record. Someone else
    registering one of them meanwhile refuses the whole call."""
    require_role(by, Role.CLERK, federation)
    new = list({line.number: line for line in lines}.values())
    if not new:
        return {}
    people = [
        (
            line.name,
            line.number,
            line.resident.gender,
            line.resident.birth_date,
            line.phone,
            line.employer,
            federation.pk,
        )
        for line in new
    ]
    try:
        with transaction.atomic():
            ids = bulkload.insert(
                Beneficiary,
                ["name", "id_number", "gender", "birth_date", "phone", "employer", "federation_id"],
                people,
            )
    except IntegrityError:
        # Registered by someone else between the check and the insert.
        raise refuse(ALREADY_REGISTERED, "already_registered", field="id_number") from None
    categories = Category.objects.ids(code for line in new for code in line.categories)
    bulkload.insert(
        Beneficiary.categories.through,
        ["beneficiary_id", "category_id"],
        [(pk, categories[code]) for pk, line in zip(ids, new, strict=True) for code in line.categories],
    )
    changes = audit.CreatedJson(BENEFICIARY_FIELDS)
    masked = [idnumber.mask(line.number) for line in new]
    audit.log_many(
        Beneficiary,
        "beneficiary.registered",
        [
            (
                pk,
                federation.pk,
                f"{line.name} ({number})",  # person_label, with the number masked once
                changes(
                    [line.name, number, mask_phone(line.phone), line.employer, federation.pk, sorted(line.categories)]
                ),
            )
            for pk, line, number in zip(ids, new, masked, strict=True)
        ],
        user=by,
    )
    return {line.number: Known(pk, line.name, line.number) for pk, line in zip(ids, new, strict=True)}


@transaction.atomic
def beneficiary_register(
    *,
    name: str,
    id_number: str,
    federation: Federation,
    phone: str = "",
    employer: str = "",
    categories: Iterable[str] = (),
    by,
) -> Beneficiary:
    require_role(by, Role.CLERK, federation)
    resident = idnumber.parse(id_number)
    line = person_line(
        name=_required_name(name),
        id_number=resident.number,
        phone=phone,
        employer=employer,
        categories=_categories(categories),
    )
    visible = Beneficiary.objects.visible_to(by).select_related("federation")
    if visible.filter(id_number=resident.number).exists():
        raise refuse(ALREADY_REGISTERED, "already_registered", field="id_number")
    # A person registered outside the user's subtree gets the federation's card,
    # answered as a new registration: the register says nothing it was not told.
    registered = Beneficiary.objects.filter(id_number=resident.number).values_list("pk", flat=True)
    elsewhere = registered.first()
    if elsewhere is None:
        try:
            people_register([line], federation=federation, by=by)
        except ValidationError:
            # Registered by someone else meanwhile: then as any number registered before.
            elsewhere = registered.first()
            if elsewhere is None or visible.filter(pk=elsewhere).exists():
                raise
    if elsewhere is not None:
        cards_for([(elsewhere, line)], federation=federation, by=by)
    return visible.get(id_number=resident.number)


@transaction.atomic
def beneficiary_update(*, beneficiary: Beneficiary, by, categories: list[str] | None = None, **changes) -> Beneficiary:
    """Change contact details, employer, home federation or categories. The ID
    number is the person: a wrong one is a new registration, not an edit. The
    register's row is changed, read again here: a person read through a card
    (`visible_to`) carries the card's words, and is changed with `card_update`."""
    beneficiary = Beneficiary.objects.select_for_update().select_related("federation").get(pk=beneficiary.pk)
    require_role(by, Role.CLERK, beneficiary.federation)
    allowed = {"name", "phone", "employer", "federation"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(unknown)}")
    before = _audited(beneficiary)
    if "federation" in changes:
        require_role(by, Role.CLERK, changes["federation"])
    if "name" in changes:
        changes["name"] = _required_name(changes["name"])
    for field, limit in (("phone", PHONE_LIMIT), ("employer", EMPLOYER_LIMIT)):
        if field in changes:
            changes[field] = text.clean_line(changes[field], field, limit=limit)
    for field, value in changes.items():
        setattr(beneficiary, field, value.strip() if isinstance(value, str) else value)
    beneficiary.save()
    if categories is not None:
        beneficiary.categories.set(
            Category.objects.filter(pk__in=Category.objects.ids(_categories(categories)).values())
        )
    audit.log(
        beneficiary,
        "beneficiary.edited",
        user=by,
        federation=beneficiary.federation,
        changes=_masked(audit.diff(before, _audited(beneficiary))),
    )
    return beneficiary


def cards_for(people: Iterable[tuple[int, PersonLine]], *, federation: Federation, by) -> int:
    """Give `federation` its card of each of these registered people (by id, with
    what was typed for them) whose home federation lies outside `by`'s subtree:
    the federation registered or paid them, and from now on sees them as it
    typed them. A card the federation holds already is left as it is. Set-based:
    a list of 100,000 rows makes its cards in one insert (a few on SQLite), each
    audited as a registration is, with the ID number and the phone masked.
    Returns how many cards were made."""
    require_role(by, Role.CLERK, federation)
    if sees_everything(by):  # sees every home federation: never a card
        return 0
    wanted = dict(people)  # the last line of a person, as `people_register` keeps
    if not wanted:
        return 0
    for last_try in (False, True):
        missing = _cards_missing(wanted, federation, by)
        try:
            with transaction.atomic():
                _cards_insert([(pk, number, wanted[pk]) for pk, number in missing], federation, by)
            return len(missing)
        except IntegrityError:
            # The same federation carded one of them meanwhile (another clerk's list).
            if last_try:
                raise
    return 0


def _cards_missing(wanted: dict[int, PersonLine], federation: Federation, by) -> list[tuple[int, str]]:
    """Of these people, those registered outside `by`'s subtree that `federation` holds no card of."""
    held = PersonCard.objects.filter(beneficiary=OuterRef("pk"), federation=federation)
    missing: list[tuple[int, str]] = []
    for batch in bulkload.batches(sorted(wanted)):
        missing += (
            Beneficiary.objects.filter(AnyOf(F("pk"), batch))
            .exclude(subtree_q(by, "federation__path"))
            .exclude(Exists(held))
            .order_by("pk")
            .values_list("pk", "id_number")
        )
    return missing


def _cards_insert(cards: list[tuple[int, str, PersonLine]], federation: Federation, by) -> None:
    if not cards:
        return
    lines = [line for _pk, _number, line in cards]
    ids = bulkload.insert(
        PersonCard,
        ["beneficiary_id", "name", "phone", "employer"],
        [(pk, line.name, line.phone, line.employer) for pk, _number, line in cards],
        same={"federation_id": federation.pk, "created_by_id": by.pk, "created_at": timezone.now()},
    )
    categories = Category.objects.ids(code for line in lines for code in line.categories)
    bulkload.insert(
        PersonCard.categories.through,
        ["personcard_id", "category_id"],
        [(card, categories[code]) for card, line in zip(ids, lines, strict=True) for code in line.categories],
        ids=False,
    )
    # Filed on the person, at the card's federation: the person's page and the
    # recent activity show it to that subtree as a registration, and to no one else.
    changes = audit.CreatedJson(BENEFICIARY_FIELDS)
    events = []
    for pk, number, line in cards:
        masked = idnumber.mask(number)
        events.append(
            (
                pk,
                federation.pk,
                f"{line.name} ({masked})",
                changes(
                    [line.name, masked, mask_phone(line.phone), line.employer, federation.pk, sorted(line.categories)]
                ),
            )
        )
    audit.log_many(Beneficiary, "card.created", events, user=by)


@transaction.atomic
def card_update(
    *, beneficiary: Beneficiary, federation: Federation, by, categories: list[str] | None = None, **changes
):
    """Change `federation`'s card of a person registered elsewhere, or make the
    card if it holds none: what an import row does for a person the user sees
    only through a card. The register is not touched."""
    require_role(by, Role.CLERK, federation)
    allowed = {"name", "phone", "employer"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(unknown)}")
    register = Beneficiary.objects.get(pk=beneficiary.pk)
    card = PersonCard.objects.select_for_update().filter(beneficiary=register, federation=federation).first()
    if card is None:
        line = person_line(
            name=changes.get("name", ""),
            id_number=register.id_number,
            phone=changes.get("phone", ""),
            employer=changes.get("employer", ""),
            categories=categories or (),
        )
        cards_for([(register.pk, line)], federation=federation, by=by)
    else:
        before = _card_audited(card)
        if "name" in changes:
            card.name = _required_name(changes["name"])
        for field, limit in (("phone", PHONE_LIMIT), ("employer", EMPLOYER_LIMIT)):
            if field in changes:
                setattr(card, field, text.clean_line(changes[field] or "", field, limit=limit).strip())
        card.save()
        if categories is not None:
            card.categories.set(Category.objects.filter(pk__in=Category.objects.ids(_categories(categories)).values()))
        # Named as the card names the person: the register's name is not the user's to read.
        label = person_label(card.name, register.id_number)
        changed = _masked(audit.diff(before, _card_audited(card)))
        audit.log_many(Beneficiary, "card.edited", [(register.pk, federation.pk, label, changed)], user=by)
    return Beneficiary.objects.visible_to(by).select_related("federation").get(pk=register.pk)


@transaction.atomic
def unit_create(*, name: str, kind: str, federation: Federation, by) -> Unit:
    require_role(by, Role.CLERK, federation)
    if kind not in UnitKind.values:
        raise refuse(INVALID_CHOICE, "invalid_choice", field="kind", value=kind)
    unit = Unit(name=_required_name(name, UNIT_NAME_LIMIT), kind=kind, federation=federation)
    unit.full_clean()
    unit.save()
    audit.log(
        unit,
        "unit.created",
        user=by,
        federation=federation,
        changes=audit.diff({}, audit.snapshot(unit, ("name", "kind", "federation"))),
    )
    return unit


def may_see_id_number(user, beneficiary: Beneficiary) -> bool:
    """Full ID numbers are for those who need them (docs/DOMAIN.md, rule 4): the clerks who
    pay people by real name and the auditors who trace a payment to a person, at
    the person's federation or above. For a person read through a card
    (`Beneficiary.objects.visible_to`), that is the card's federation: its
    clerks and auditors see in full the number it typed. Everyone else sees
    them masked."""
    return has_role(user, Role.CLERK, beneficiary.federation) or has_role(user, Role.AUDITOR, beneficiary.federation)


def may_see_id_numbers_somewhere(user) -> bool:
    """Whether `user` may see anyone's full ID number: a clerk or an auditor somewhere."""
    return has_role_anywhere(user, Role.CLERK) or has_role_anywhere(user, Role.AUDITOR)


def id_numbers_shown(*, beneficiaries: list[Beneficiary], by) -> None:
    """Record that these people's full ID numbers were shown to `by`: one audit
    event each, written in one insert."""
    if not beneficiaries:
        return
    with transaction.atomic():
        audit.log_many(
            Beneficiary,
            "beneficiary.id_number_shown",
            [(person.pk, person.federation_id, str(person), {}) for person in beneficiaries],
            user=by,
        )


def _required_name(name: str, limit: int = NAME_LIMIT) -> str:
    name = (name or "").strip()
    if not name:
        raise refuse(NAME_REQUIRED, "required", field="name")
    return text.clean_line(name, "name", limit=limit)


def _categories(codes: Iterable[str]) -> list[str]:
    codes = list(dict.fromkeys(codes))
    for code in codes:
        if code not in CATEGORY_CODES:
            raise refuse(INVALID_CHOICE, "invalid_choice", field="categories", value=code)
    return codes


def _card_audited(card: PersonCard) -> dict:
    values = audit.snapshot(card, ("name", "phone", "employer", "federation"))
    values["categories"] = sorted(card.categories.values_list("code", flat=True))
    return values


def _audited(person: Beneficiary) -> dict:
    """What the trail records of a person: categories by code, in order."""
    values = audit.snapshot(person, BENEFICIARY_FIELDS[:-1])
    values["categories"] = sorted(person.categories.values_list("code", flat=True)) if person.pk else []
    return values


def _masked(changes: dict) -> dict:
    """A diff taken on the real values (so that a changed phone shows as changed
    even where both read the same masked), stored masked."""
    for name, mask in MASKED_IN_AUDIT.items():
        if name in changes:
            changes[name] = {side: mask(value) if value else value for side, value in changes[name].items()}
    return changes
