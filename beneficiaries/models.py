from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from beneficiaries import idnumber
from unionfunds.models import Federation
from unionfunds.permissions import subtree_q


class CategoryManager(models.Manager):
    def get_by_natural_key(self, code: str) -> "Category":
        return self.get(code=code)

    def ids(self, codes) -> dict[str, int]:
        """The ids of these categories' rows. `CategoryCode` is the source of truth:
        a row missing (a database emptied by a test, or restored without the rows a
        migration seeded) is made again rather than failing a whole list."""
        codes = set(codes)
        found = dict(self.filter(code__in=codes).values_list("code", "id"))
        if missing := codes - set(found):
            self.bulk_create([self.model(code=code) for code in sorted(missing)], ignore_conflicts=True)
            found = dict(self.filter(code__in=codes).values_list("code", "id"))
        return found


class CategoryCode(models.TextChoices):
    REGISTERED_HARDSHIP = "registered_hardship", _("Registered hardship worker")
    MODEL_WORKER = "model_worker", _("Model worker")
    MIGRANT_WORKER = "migrant_worker", _("Migrant worker")
    FRONTLINE_MEDICAL = "frontline_medical", _("Frontline medical staff")
    WORK_INJURY = "work_injury", _("Injured or disabled at work")
    FAMILY_OF_FALLEN = "family_of_fallen", _("Family of a worker who died on duty")
    HARD_INDUSTRY = "hard_industry", _("Frontline worker in a hard industry")
    SECONDED_CADRE = "seconded_cadre", _("Seconded cadre")
    OUTSTANDING_MODEL = "outstanding_model", _("Outstanding model")


class Category(models.Model):
    """A beneficiary category (人员类别): one row per `CategoryCode`, loaded by a
    migration, so that beneficiaries can be filtered by category on any database."""

    code = models.CharField(_("code"), max_length=32, unique=True, choices=CategoryCode.choices)

    objects = CategoryManager()

    class Meta:
        verbose_name = _("beneficiary category")
        verbose_name_plural = _("beneficiary categories")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.get_code_display()

    def natural_key(self) -> tuple[str]:
        return (self.code,)


class Gender(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class BeneficiaryQuerySet(models.QuerySet):
    def visible_to(self, user) -> "BeneficiaryQuerySet":
        return self.filter(subtree_q(user, "federation__path"))


class Beneficiary(models.Model):
    """A worker paid by real name (受助职工). Gender and birth date are read from the
    ID number when it is registered, never typed."""

    name = models.CharField(_("name"), max_length=50)
    id_number = models.CharField(_("resident ID number"), max_length=18, unique=True)
    gender = models.CharField(_("gender"), max_length=6, choices=Gender.choices, editable=False)
    birth_date = models.DateField(_("birth date"), editable=False)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    employer = models.CharField(_("employer"), max_length=100, blank=True)
    federation = models.ForeignKey(
        Federation, verbose_name=_("home federation"), on_delete=models.PROTECT, related_name="beneficiaries"
    )
    categories = models.ManyToManyField(Category, verbose_name=_("categories"), blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = BeneficiaryQuerySet.as_manager()

    class Meta:
        verbose_name = _("beneficiary")
        verbose_name_plural = _("beneficiaries")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(gender__in=Gender.values), name="beneficiary_gender_valid"),
        ]

    def __str__(self) -> str:
        return person_label(self.name, self.id_number)

    @property
    def masked_id_number(self) -> str:
        return idnumber.mask(self.id_number)


class UnitKind(models.TextChoices):
    HOSPITAL = "hospital", _("Hospital")
    ENTERPRISE = "enterprise", _("Enterprise")
    AGENCY = "agency", _("Agency")
    OTHER = "other", _("Other")


class UnitQuerySet(models.QuerySet):
    def visible_to(self, user) -> "UnitQuerySet":
        return self.filter(subtree_q(user, "federation__path"))


class Unit(models.Model):
    """A recipient that is not a person: a hospital, an enterprise, an agency."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=UnitKind.choices)
    federation = models.ForeignKey(
        Federation, verbose_name=_("federation"), on_delete=models.PROTECT, related_name="units"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = UnitQuerySet.as_manager()

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=UnitKind.values), name="unit_kind_valid"),
            models.UniqueConstraint(fields=["federation", "name"], name="unit_unique_name_per_federation"),
        ]

    def __str__(self) -> str:
        return self.name


def person_label(name: str, id_number: str) -> str:
    """How a person is named on screens and in the audit trail: 张三 (6301**********123X)."""
    return f"{name} ({idnumber.mask(id_number)})"


def mask_phone(phone: str) -> str:
    """A phone as shown to those who may not see it whole: 138****5678."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 11 else ("*" * len(phone) if phone else "")


# The archive's models live beside the register they file (beneficiaries.archive_models).
from beneficiaries.archive_models import (  # noqa: E402
    ArchiveChange,
    ArchiveEntry,
    ArchiveEvidence,
    DibaoLine,
    Household,
    HouseholdMember,
)

__all__ = [
    "ArchiveChange",
    "ArchiveEntry",
    "ArchiveEvidence",
    "Beneficiary",
    "Category",
    "DibaoLine",
    "Household",
    "HouseholdMember",
    "Unit",
]
