from itertools import islice

from django.conf import settings
from django.db import models
from django.db.models import Case, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.query import ModelIterable
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
        """The people `user` may see, each as they may see them (docs/DOMAIN.md, rule 3):
        from the register where the home federation is in the user's subtree;
        otherwise through the card (登记卡) of a federation in it, whose name,
        phone, employer, categories, federation and date stand in for the
        register's, which the user is never shown.

        One query, a row per person (EXISTS, never a join that repeats rows).
        Each row carries what filters and orderings need as the user sees it:
        `seen_card` (None where the register is shown), `seen_name`,
        `seen_employer` and `seen_path` (the federation's path)."""
        home = subtree_q(user, "federation__path")
        if not home:  # Q(): the user sees every home federation
            return self.annotate(
                seen_card=Value(None, output_field=models.BigIntegerField()),
                seen_name=F("name"),
                seen_employer=F("employer"),
                seen_path=F("federation__path"),
            )
        # The first card of the user's subtree, when a federation there holds several.
        cards = PersonCard.objects.filter(subtree_q(user, "federation__path"), beneficiary=OuterRef("pk")).order_by(
            "pk"
        )

        def seen(register: str, card: str, output_field: models.Field) -> Case:
            return Case(
                When(home, then=F(register)), default=Subquery(cards.values(card)[:1]), output_field=output_field
            )

        found = self.filter(home | Q(Exists(cards))).annotate(
            seen_card=Case(
                When(home, then=Value(None)),
                default=Subquery(cards.values("pk")[:1]),
                output_field=models.BigIntegerField(),
            ),
            seen_name=seen("name", "name", models.CharField()),
            seen_employer=seen("employer", "employer", models.CharField()),
            seen_path=seen("federation__path", "federation__path", models.CharField()),
        )
        found._iterable_class = SeenThroughCards
        return found

    def with_category(self, code: str) -> "BeneficiaryQuerySet":
        """The people of this category as the user sees them (after `visible_to`):
        the register's categories, or the card's for a person seen through one."""
        carded = PersonCard.categories.through.objects.filter(category__code=code).values("personcard_id")
        return self.filter(
            Q(
                seen_card__isnull=True,
                pk__in=Beneficiary.categories.through.objects.filter(category__code=code).values("beneficiary_id"),
            )
            | Q(seen_card__in=carded)
        )


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

    def save(self, *args, **kwargs):
        # A person read through a federation's card carries the card's words:
        # saved, they would overwrite the register. Services read the register's row.
        if getattr(self, "seen_card", None) is not None:
            raise TypeError("A person seen through a card is not the register's record: read it unscoped to change it.")
        super().save(*args, **kwargs)

    @property
    def masked_id_number(self) -> str:
        return idnumber.mask(self.id_number)


class PersonCard(models.Model):
    """A federation's card (登记卡) of a person whose home federation is
    elsewhere: the name, phone, employer and categories as that federation
    typed them when it registered or paid the person by ID number. The register
    stays national (one person per ID number, for the checks that count
    persons across the tree); what a federation sees of a person outside its
    subtree is its own card, never the register (`Beneficiary.objects.visible_to`)."""

    # Indexed by the constraint below, which starts with it.
    beneficiary = models.ForeignKey(
        Beneficiary, verbose_name=_("beneficiary"), on_delete=models.PROTECT, related_name="cards", db_index=False
    )
    federation = models.ForeignKey(Federation, verbose_name=_("federation"), on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    employer = models.CharField(_("employer"), max_length=100, blank=True)
    categories = models.ManyToManyField(Category, verbose_name=_("categories"), blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("registration card")
        verbose_name_plural = _("registration cards")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["beneficiary", "federation"], name="person_card_one_per_federation"),
        ]

    def __str__(self) -> str:
        return self.name

    def shown_on(self, person: Beneficiary) -> None:
        """Put this card's words in the place of the register's on `person`, as
        the card's federation sees them. `person` is then read-only (`save`)."""
        person.name, person.phone, person.employer = self.name, self.phone, self.employer
        person.federation = self.federation
        person.created_at = self.created_at
        shown = person.categories.get_queryset()  # not evaluated: filled in here, as a prefetch would
        shown._result_cache = list(self.categories.all())
        shown._prefetch_done = True
        if not hasattr(person, "_prefetched_objects_cache"):
            person._prefetched_objects_cache = {}
        person._prefetched_objects_cache["categories"] = shown


class SeenThroughCards(ModelIterable):
    """People as `visible_to` reads them: a person seen through a card gets the
    card's words, the cards of each chunk read in two queries (the cards with
    their federations, their categories), however long the list. A prefetch of
    `categories` then leaves these people's (the card's) as they are."""

    CHUNK = 1000

    def __iter__(self):
        people = super().__iter__()
        while chunk := list(islice(people, self.CHUNK)):
            through = {person.seen_card: person for person in chunk if person.seen_card is not None}
            if through:
                cards = PersonCard.objects.filter(pk__in=list(through)).select_related("federation")
                for card in cards.prefetch_related("categories"):
                    card.shown_on(through[card.pk])
            yield from chunk


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
