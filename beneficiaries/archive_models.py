"""The hardship-worker archive (困难职工档案): households, their archive entries,
the changes that open, review, close and reopen them, and the local 低保 lines
they are measured against.

An entry changes only through an `ArchiveChange` that an approver other than
its clerk approved (maker-checker, like money entries); nothing is deleted, so
the changes are the entry's history. The services are in `beneficiaries.archive`.
"""

import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from unionfunds.models import Federation
from unionfunds.money import MoneyField
from unionfunds.permissions import subtree_q


class Tier(models.TextChoices):
    DEEP = "deep", _("Deep hardship")
    RELATIVE = "relative", _("Relative hardship")
    ACCIDENT = "accident", _("Hardship from an accident")


class Cause(models.TextChoices):
    ILLNESS = "illness", _("Illness")
    DISABILITY = "disability", _("Disability")
    DISASTER = "disaster", _("Disaster")
    UNEMPLOYMENT = "unemployment", _("Unemployment")
    SCHOOLING = "schooling", _("Children's schooling")
    ACCIDENT = "accident", _("Accident")
    LOW_WAGE = "low_wage", _("Low wages")
    OTHER = "other", _("Other")


class CloseReason(models.TextChoices):
    OUT_OF_HARDSHIP = "out_of_hardship", _("Out of hardship")
    RETIRED = "retired", _("Retired")
    MOVED = "moved", _("Moved away")
    DIED = "died", _("Died")
    NOT_ELIGIBLE = "not_eligible", _("No longer eligible")


class Relation(models.TextChoices):
    HEAD = "head", _("Head of household")
    SPOUSE = "spouse", _("Spouse")
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    OTHER = "other", _("Other relative")


class ArchiveStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    OPEN = "open", _("In the archive")
    CLOSED = "closed", _("Closed")
    REJECTED = "rejected", _("Not admitted")


# An entry that holds its household: a second one may not be filed beside it.
LIVE_ARCHIVE = (ArchiveStatus.PENDING, ArchiveStatus.OPEN)


class ChangeKind(models.TextChoices):
    OPEN = "open", _("Filing")
    REVIEW = "review", _("Annual review")
    CLOSE = "close", _("Closing")
    REOPEN = "reopen", _("Reopening")


class ChangeStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class DibaoLineQuerySet(models.QuerySet):
    def visible_to(self, user) -> "DibaoLineQuerySet":
        return self.filter(subtree_q(user, "federation__path"))


class DibaoLine(models.Model):
    """The local minimum-living-standard line (低保标准) per person and month, set
    by each county (or city) for a year. Incomes are measured against it, and caps
    can be a multiple of it; a federation without its own line uses the nearest
    one above it."""

    federation = models.ForeignKey(
        Federation, verbose_name=_("federation"), on_delete=models.PROTECT, related_name="dibao_lines"
    )
    year = models.PositiveSmallIntegerField(_("year"), validators=[MinValueValidator(2000), MaxValueValidator(2100)])
    monthly = MoneyField(_("per person and month"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = DibaoLineQuerySet.as_manager()

    class Meta:
        verbose_name = _("minimum living standard")
        verbose_name_plural = _("minimum living standards")
        ordering = ["federation__path", "-year"]
        constraints = [
            models.UniqueConstraint(fields=["federation", "year"], name="dibao_line_per_year"),
            models.CheckConstraint(condition=Q(monthly__gt=0), name="dibao_line_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.federation.name} {self.year}: {self.monthly}"


class HouseholdQuerySet(models.QuerySet):
    def visible_to(self, user) -> "HouseholdQuerySet":
        return self.filter(subtree_q(user, "federation__path"))


class Household(models.Model):
    """A worker's household (困难职工家庭), filed by the federation in whose subtree
    it lives. Its members are persons of the national register, each by a checked
    ID number; the head (户主) is one of them."""

    federation = models.ForeignKey(
        Federation, verbose_name=_("federation"), on_delete=models.PROTECT, related_name="households"
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("entered by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = HouseholdQuerySet.as_manager()

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["id"]
        indexes = [models.Index(fields=["federation"], name="household_federation")]

    def __str__(self) -> str:
        head = next((m for m in self.members.all() if m.relation == Relation.HEAD), None)
        return str(_("Household of %(head)s") % {"head": head.name if head else f"#{self.pk}"})


class HouseholdMember(models.Model):
    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="members"
    )
    beneficiary = models.ForeignKey(
        "beneficiaries.Beneficiary", verbose_name=_("person"), on_delete=models.PROTECT, related_name="memberships"
    )
    # The name as the household was filed: what its pages show, never the
    # register's (a person registered elsewhere is named as the filer typed).
    name = models.CharField(_("name"), max_length=50)
    relation = models.CharField(_("relation"), max_length=8, choices=Relation.choices)
    # Kept by the archive services: true while the household's archive is open. The
    # database then holds a person in one open household at most, whoever files.
    in_open_archive = models.BooleanField(_("in an open archive"), default=False, editable=False)

    class Meta:
        verbose_name = _("household member")
        verbose_name_plural = _("household members")
        ordering = ["household", "id"]
        constraints = [
            models.UniqueConstraint(fields=["household", "beneficiary"], name="household_member_once"),
            models.UniqueConstraint(
                fields=["beneficiary"], condition=Q(in_open_archive=True), name="person_in_one_open_household"
            ),
            models.UniqueConstraint(fields=["household"], condition=Q(relation="head"), name="household_one_head"),
            models.CheckConstraint(condition=Q(relation__in=Relation.values), name="household_relation_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_relation_display()})"

    @property
    def label(self) -> str:
        """张三 (6301**********123X): the name as filed and the number masked."""
        from beneficiaries.models import person_label

        return person_label(self.name, self.beneficiary.id_number)


class ArchiveEntryQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ArchiveEntryQuerySet":
        return self.filter(subtree_q(user, "federation__path"))


class ArchiveEntry(models.Model):
    """A household's file in the hardship archive (建档): what it was admitted on
    and, while open, what lets it be paid by funds that require the archive."""

    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="entries"
    )
    # The household's, repeated so that the subtree is one indexed condition.
    federation = models.ForeignKey(
        Federation, verbose_name=_("federation"), on_delete=models.PROTECT, related_name="archive_entries"
    )
    tier = models.CharField(_("tier"), max_length=10, choices=Tier.choices)
    standard = models.CharField(_("standard filed under"), max_length=200, blank=True)
    income_per_head = MoneyField(_("monthly income per head"))
    # The 低保 line in force when the figures were taken, kept with them.
    dibao_monthly = MoneyField(_("minimum living standard"), null=True, blank=True)
    causes = models.JSONField(_("causes of hardship"), default=list)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=ArchiveStatus.choices, default=ArchiveStatus.PENDING)
    opened_on = models.DateField(_("admitted on"), null=True, blank=True)
    # When the figures were last checked: at admission, at each review, at reopening.
    checked_on = models.DateField(_("figures checked on"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    close_reason = models.CharField(_("close reason"), max_length=16, choices=CloseReason.choices, blank=True)
    reopened_on = models.DateField(_("reopened on"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("entered by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = ArchiveEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("archive entry")
        verbose_name_plural = _("archive entries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["household"], condition=Q(status__in=LIVE_ARCHIVE), name="household_one_live_archive"
            ),
            models.CheckConstraint(condition=Q(status__in=ArchiveStatus.values), name="archive_status_valid"),
            models.CheckConstraint(condition=Q(tier__in=Tier.values), name="archive_tier_valid"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="archive_valid_to_after_from",
            ),
            models.CheckConstraint(condition=Q(income_per_head__gte=0), name="archive_income_not_negative"),
        ]
        indexes = [
            models.Index(fields=["federation", "status"], name="archive_federation_status"),
            models.Index(fields=["status", "checked_on"], name="archive_review_due"),
        ]

    def __str__(self) -> str:
        return str(_("Archive no. %(number)s") % {"number": self.number})

    @property
    def number(self) -> str:
        """The file's number as printed on it: the federation's code and the entry's id."""
        return f"{self.federation.code}-{self.pk:06d}"

    def open_on(self, day: datetime.date) -> bool:
        return (
            self.status == ArchiveStatus.OPEN
            and self.valid_from <= day
            and (self.valid_to is None or day <= self.valid_to)
        )


class ArchiveChangeQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ArchiveChangeQuerySet":
        return self.filter(subtree_q(user, "entry__federation__path"))


class ArchiveChange(models.Model):
    """A request to file, review, close or reopen an entry, and its decision:
    the figures it proposes take effect on the entry only when approved."""

    entry = models.ForeignKey(
        ArchiveEntry, verbose_name=_("archive entry"), on_delete=models.PROTECT, related_name="changes"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=ChangeKind.choices)
    status = models.CharField(_("status"), max_length=9, choices=ChangeStatus.choices, default=ChangeStatus.PENDING)
    # The figures found (filing, review, reopening); blank where the kind has none.
    tier = models.CharField(_("tier"), max_length=10, choices=Tier.choices, blank=True)
    income_per_head = MoneyField(_("monthly income per head"), null=True, blank=True)
    dibao_monthly = MoneyField(_("minimum living standard"), null=True, blank=True)
    causes = models.JSONField(_("causes of hardship"), default=list)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    close_reason = models.CharField(_("close reason"), max_length=16, choices=CloseReason.choices, blank=True)
    effective_on = models.DateField(_("date"))
    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("entered by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("reason"), blank=True)

    objects = ArchiveChangeQuerySet.as_manager()

    class Meta:
        verbose_name = _("archive change")
        verbose_name_plural = _("archive changes")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["entry"], condition=Q(status="pending"), name="archive_one_pending_change"),
            models.CheckConstraint(condition=Q(kind__in=ChangeKind.values), name="archive_change_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=ChangeStatus.values), name="archive_change_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.entry}"


def evidence_path(evidence: "ArchiveEvidence", filename: str) -> str:
    # The name a user gave the file is kept in `name`, never in the path.
    return f"archive/{evidence.entry_id}/{timezone.now():%Y%m%d%H%M%S%f}"


class ArchiveEvidence(models.Model):
    """A document the filing or a review rests on (收入证明, 诊断书, ...): kept,
    never replaced; served only to those who see the entry."""

    entry = models.ForeignKey(
        ArchiveEntry, verbose_name=_("archive entry"), on_delete=models.PROTECT, related_name="evidence"
    )
    file = models.FileField(_("file"), upload_to=evidence_path, max_length=200)
    name = models.CharField(_("name"), max_length=200)
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("evidence")
        verbose_name_plural = _("evidence")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
