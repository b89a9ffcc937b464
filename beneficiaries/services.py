"""Registering and changing beneficiaries and units: the checks live here once."""

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from beneficiaries import idnumber
from beneficiaries.models import Beneficiary, Category, CategoryCode, Unit, UnitKind
from unionfunds import audit
from unionfunds.errors import refuse
from unionfunds.models import AuditEvent, Federation, Role
from unionfunds.permissions import can_see, has_role, require_role

ALREADY_REGISTERED = _("A beneficiary with this ID number is already registered.")
NAME_MISMATCH = _("The ID number is registered to %(registered)s, not %(given)s.")
NAME_MISMATCH_ELSEWHERE = _("The ID number is registered under another name, not %(given)s.")
NAME_REQUIRED = _("Enter the name.")
UNKNOWN_CATEGORY = _("Unknown category: %(value)s")
UNKNOWN_KIND = _("Unknown kind of unit: %(value)s")

BENEFICIARY_FIELDS = ("name", "id_number", "phone", "employer", "federation", "categories")


@transaction.atomic
def beneficiary_register(
    *,
    name: str,
    id_number: str,
    federation: Federation,
    phone: str = "",
    employer: str = "",
    categories: list[str] = (),
    by,
) -> Beneficiary:
    require_role(by, Role.CLERK, federation)
    resident = idnumber.parse(id_number)
    if Beneficiary.objects.filter(id_number=resident.number).exists():
        raise refuse(ALREADY_REGISTERED, "already_registered", field="id_number")
    beneficiary = Beneficiary(
        name=_required_name(name),
        id_number=resident.number,
        gender=resident.gender,
        birth_date=resident.birth_date,
        phone=phone.strip(),
        employer=employer.strip(),
        federation=federation,
    )
    try:
        with transaction.atomic():
            beneficiary.save()
    except IntegrityError:
        # Registered by someone else between the check and the insert.
        raise refuse(ALREADY_REGISTERED, "already_registered", field="id_number") from None
    beneficiary.categories.set(_categories(categories))
    audit.log(
        beneficiary,
        "beneficiary.registered",
        user=by,
        federation=federation,
        changes=audit.diff({}, audit.snapshot(beneficiary, BENEFICIARY_FIELDS)),
    )
    return beneficiary


@transaction.atomic
def beneficiary_update(*, beneficiary: Beneficiary, by, categories: list[str] | None = None, **changes) -> Beneficiary:
    """Change contact details, employer, home federation or categories. The ID
    number is the person: a wrong one is a new registration, not an edit."""
    require_role(by, Role.CLERK, beneficiary.federation)
    allowed = {"name", "phone", "employer", "federation"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(unknown)}")
    before = audit.snapshot(beneficiary, BENEFICIARY_FIELDS)
    if "federation" in changes:
        require_role(by, Role.CLERK, changes["federation"])
    if "name" in changes:
        changes["name"] = _required_name(changes["name"])
    for field, value in changes.items():
        setattr(beneficiary, field, value.strip() if isinstance(value, str) else value)
    beneficiary.save()
    if categories is not None:
        beneficiary.categories.set(_categories(categories))
    audit.log(
        beneficiary,
        "beneficiary.edited",
        user=by,
        federation=beneficiary.federation,
        changes=audit.diff(before, audit.snapshot(beneficiary, BENEFICIARY_FIELDS)),
    )
    return beneficiary


@transaction.atomic
def unit_create(*, name: str, kind: str, federation: Federation, by) -> Unit:
    require_role(by, Role.CLERK, federation)
    if kind not in UnitKind.values:
        raise refuse(UNKNOWN_KIND, "invalid_choice", field="kind", value=kind)
    unit = Unit(name=_required_name(name), kind=kind, federation=federation)
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


@transaction.atomic
def beneficiary_match_or_register(*, name: str, id_number: str, federation: Federation, by) -> Beneficiary:
    """The person with this ID number, registered under `federation` if new.
    A known number typed with another name is refused: one of the two is wrong."""
    try:
        number = idnumber.parse(id_number).number
    except ValidationError as error:
        raise ValidationError({"id_number": error}) from None
    existing = Beneficiary.objects.filter(id_number=number).select_related("federation").first()
    if existing is None:
        return beneficiary_register(name=name, id_number=number, federation=federation, by=by)
    given = (name or "").strip()
    if existing.name != given:
        raise ValidationError({"name": [ValidationError(name_mismatch(existing, given, by), code="name_mismatch")]})
    return existing


def name_mismatch(person: Beneficiary, given: str, user):
    """The registered name is shown only to those who may see that person."""
    if can_see(user, person.federation):
        return NAME_MISMATCH % {"registered": person.name, "given": given}
    return NAME_MISMATCH_ELSEWHERE % {"given": given}


def may_see_id_number(user, beneficiary: Beneficiary) -> bool:
    """Full ID numbers are for those who need them (DOMAIN rule 4): the clerks who
    pay people by real name and the auditors who trace a payment to a person, at
    the person's federation or above. Everyone else sees them masked."""
    return has_role(user, Role.CLERK, beneficiary.federation) or has_role(user, Role.AUDITOR, beneficiary.federation)


def id_numbers_shown(*, beneficiaries: list[Beneficiary], by) -> None:
    """Record that these people's full ID numbers were shown to `by`: one audit
    event each, written in one insert."""
    if not beneficiaries:
        return
    content_type = ContentType.objects.get_for_model(Beneficiary)
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=now,
            user=by,
            action="beneficiary.id_number_shown",
            content_type=content_type,
            object_id=person.pk,
            object_repr=str(person)[:200],
            federation_id=person.federation_id,
        )
        for person in beneficiaries
    )


def _required_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise refuse(NAME_REQUIRED, "required", field="name")
    return name


def _categories(codes) -> list[Category]:
    codes = list(dict.fromkeys(codes))
    for code in codes:
        if code not in CategoryCode.values:
            raise refuse(UNKNOWN_CATEGORY, "invalid_choice", field="categories", value=code)
    return list(Category.objects.filter(pk__in=Category.objects.ids(codes).values()))
