import datetime
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import NotSupportedError, models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from beneficiaries.models import Beneficiary, Unit, person_label
from unionfunds.models import Federation
from unionfunds.money import MoneyField, format_yuan
from unionfunds.permissions import subtree_q


class Purpose(models.TextChoices):
    PANDEMIC = "pandemic", _("Pandemic relief")
    WARMTH = "warmth", _("Sending warmth")
    HARDSHIP = "hardship", _("Hardship assistance")
    EDUCATION = "education", _("Autumn education aid")
    COOLING = "cooling", _("Summer cooling")
    MEDICAL_MUTUAL = "medical_mutual", _("Mutual medical aid")
    OTHER = "other", _("Other")


class Source(models.TextChoices):
    OWN_FUNDS = "own_funds", _("Own funds")
    MATCHING = "matching", _("Matching funds")
    SELF_RAISED = "self_raised", _("Self-raised")
    DONATION = "donation", _("Donation")
    GOVERNMENT = "government", _("Government finance")


class AssistanceType(models.TextChoices):
    LIVING = "living", _("Living aid")
    MEDICAL = "medical", _("Medical aid")
    SERIOUS_ILLNESS = "serious_illness", _("Serious-illness aid")
    EDUCATION = "education", _("Education aid")
    CONDOLENCE = "condolence", _("Condolence money")
    TRAINING = "training", _("Vocational training")
    JOB_PLACEMENT = "job_placement", _("Job placement")
    PANDEMIC_SUBSIDY = "pandemic_subsidy", _("Pandemic living subsidy")


class Status(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# Entries that will never move money: refused by the approver or taken back by their clerk.
CLOSED = (Status.REJECTED, Status.WITHDRAWN)


# The hash before a fund's first ledger entry (allocations.ledger).
LEDGER_GENESIS = "0" * 64


class FundQuerySet(models.QuerySet):
    def visible_to(self, user) -> "FundQuerySet":
        return self.filter(subtree_q(user, "federation__path"))


class Fund(models.Model):
    """A special fund (专项资金) owned by one federation.

    `balance` is what approved entries left in it; `reserved` is what pending
    outflows have set aside. Both change only in `allocations.services`, under a
    lock on this row, and the database refuses any state in which more is
    reserved than held.
    """

    federation = models.ForeignKey(
        Federation, verbose_name=_("federation"), on_delete=models.PROTECT, related_name="funds"
    )
    name = models.CharField(_("name"), max_length=100)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    fiscal_year = models.PositiveSmallIntegerField(
        _("fiscal year"), validators=[MinValueValidator(2000), MaxValueValidator(2100)]
    )
    balance = MoneyField(_("balance"), default=0, editable=False)
    reserved = MoneyField(_("reserved for pending outflows"), default=0, editable=False)
    # The head of the fund's hash chain (allocations.ledger): position and hash of
    # its last ledger entry, so that deleting the last entries shows too.
    ledger_seq = models.PositiveBigIntegerField(_("ledger entries"), default=0, editable=False)
    ledger_hash = models.CharField(_("ledger head"), max_length=64, default=LEDGER_GENESIS, editable=False)
    # The fund whose allocation opened this one (a recipient's fund of the same
    # purpose and year, created by the first allocation into it); none if set up here.
    opened_from = models.ForeignKey(
        "self",
        verbose_name=_("opened by an allocation from"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    # 依档帮扶: a payment from this fund goes only to a person whose household is
    # in an open archive entry on the payment's date (set for hardship funds).
    requires_archive = models.BooleanField(
        _("pays archived households only"),
        default=False,
        db_default=False,
        help_text=_("Pay only persons in an open hardship archive entry on the payment date (依档帮扶)."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = FundQuerySet.as_manager()

    class Meta:
        verbose_name = _("fund")
        verbose_name_plural = _("funds")
        ordering = ["federation__path", "-fiscal_year", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="fund_balance_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="fund_reserved_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("balance")), name="fund_available_not_negative"),
            models.CheckConstraint(condition=Q(purpose__in=Purpose.values), name="fund_purpose_valid"),
            models.CheckConstraint(
                condition=Q(fiscal_year__gte=2000, fiscal_year__lte=2100), name="fund_fiscal_year_range"
            ),
        ]
        indexes = [models.Index(fields=["federation", "purpose", "fiscal_year"], name="fund_owner_purpose_year")]

    def __str__(self) -> str:
        return f"{self.federation.name} · {self.name} ({self.fiscal_year})"

    @property
    def available(self):
        return self.balance - self.reserved


class Movement(models.Model):
    """What every money entry shares: an amount, a life (pending → approved or
    rejected) and, for a reversal, the approved entry it cancels.

    A reversal keeps the fields of the entry it reverses (same funds, same
    direction) and undoes its effect once approved; roll-ups subtract it.
    """

    amount = MoneyField(_("amount"))
    date = models.DateField(_("date"), default=datetime.date.today)
    status = models.CharField(_("status"), max_length=9, choices=Status.choices, default=Status.PENDING)
    note = models.TextField(_("note"), blank=True)
    reverses = models.ForeignKey(
        "self",
        verbose_name=_("reverses"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        db_index=False,  # see Meta.indexes
    )
    reason = models.TextField(_("reason for reversal"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("entered by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("entered at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # see Meta.indexes
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    rejection_reason = models.TextField(_("reason for rejection"), blank=True)
    # Returned for correction (退回修改): still pending and still reserving, but out of
    # the approvers' queue until its clerk corrects and resubmits it, or withdraws it.
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("returned by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    returned_at = models.DateTimeField(_("returned at"), null=True, blank=True)
    # db_default too: bulk loads that name their columns (allocations.dataset) leave it out.
    return_reason = models.TextField(_("reason for returning"), blank=True, default="", db_default="")

    class Meta:
        abstract = True
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="%(class)s_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="%(class)s_status_valid"),
            models.CheckConstraint(
                condition=Q(status=Status.PENDING, decided_by__isnull=True, decided_at__isnull=True)
                | (~Q(status=Status.PENDING) & Q(decided_by__isnull=False, decided_at__isnull=False)),
                name="%(class)s_decision_matches_status",
            ),
            # The maker is never the checker, whatever door the decision came through;
            # only the maker takes an entry back.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True)
                | (Q(status=Status.WITHDRAWN) & Q(decided_by=F("created_by")))
                | (~Q(status=Status.WITHDRAWN) & ~Q(decided_by=F("created_by"))),
                name="%(class)s_maker_is_not_checker",
            ),
            models.CheckConstraint(
                condition=Q(returned_at__isnull=True, returned_by__isnull=True)
                | Q(status=Status.PENDING, returned_at__isnull=False, returned_by__isnull=False),
                name="%(class)s_returned_while_pending",
            ),
            models.CheckConstraint(condition=~Q(reverses=F("id")), name="%(class)s_not_reversing_itself"),
            # At most one live reversal per entry; a rejected one may be asked again.
            models.UniqueConstraint(
                fields=["reverses"],
                condition=Q(reverses__isnull=False) & ~Q(status__in=CLOSED),
                name="%(class)s_one_live_reversal",
            ),
        ]
        # Most entries are not reversals and are still undecided when written: indexing
        # only the rows that have a value spares every insert two index entries of NULL.
        indexes = [
            models.Index(fields=["reverses"], condition=Q(reverses__isnull=False), name="%(class)s_reverses"),
            models.Index(fields=["decided_by"], condition=Q(decided_by__isnull=False), name="%(class)s_decided_by"),
        ]

    # The funds an entry takes money from once approved (reserved while it is
    # pending) and gives money to, by column: for an entry (False) and for a
    # reversal of one (True), which runs the other way.
    DEBITS: ClassVar[dict[bool, tuple[str, ...]]] = {False: (), True: ()}
    CREDITS: ClassVar[dict[bool, tuple[str, ...]]] = {False: (), True: ()}

    @property
    def is_reversal(self) -> bool:
        return self.reverses_id is not None

    def is_reversible(self) -> bool:
        return self.status == Status.APPROVED and not self.is_reversal

    def owner(self) -> Federation:
        """The federation whose clerks enter and whose approvers decide this entry:
        the one that owns `owner_fund_id`."""
        raise NotImplementedError

    @property
    def owner_fund_id(self) -> int:
        raise NotImplementedError

    def debited_funds(self) -> list[int]:
        """Funds this entry takes money from once approved (reserved while pending)."""
        return [getattr(self, column) for column in self.DEBITS[self.is_reversal]]

    def credited_funds(self) -> list[int]:
        """Funds this entry gives money to once approved."""
        return [getattr(self, column) for column in self.CREDITS[self.is_reversal]]


class ContributionQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ContributionQuerySet":
        return self.filter(subtree_q(user, "fund__federation__path"))


class Contribution(Movement):
    """Money entering a fund from outside the allocation tree (资金来源)."""

    fund = models.ForeignKey(Fund, verbose_name=_("fund"), on_delete=models.PROTECT, related_name="contributions")
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    reference = models.CharField(_("reference"), max_length=100, blank=True)

    objects = ContributionQuerySet.as_manager()

    class Meta(Movement.Meta):
        verbose_name = _("contribution")
        verbose_name_plural = _("contributions")
        constraints = [
            *Movement.Meta.constraints,
            models.CheckConstraint(condition=Q(source__in=Source.values), name="contribution_source_valid"),
        ]
        indexes = [*Movement.Meta.indexes, models.Index(fields=["fund", "status"], name="contribution_fund_status")]

    DEBITS = {False: (), True: ("fund_id",)}
    CREDITS = {False: ("fund_id",), True: ()}

    def __str__(self) -> str:
        return self.describe(self.get_source_display(), self.fund.name, self.amount)

    @staticmethod
    def describe(source: str, fund: str, amount: Decimal) -> str:
        return f"{source} → {fund} ¥{format_yuan(amount)}"

    def owner(self) -> Federation:
        return self.fund.federation

    @property
    def owner_fund_id(self) -> int:
        return self.fund_id


class AllocationQuerySet(models.QuerySet):
    def visible_to(self, user) -> "AllocationQuerySet":
        # Both ends see an allocation: the sender's subtree and the recipient's.
        return self.filter(subtree_q(user, "from_fund__federation__path") | subtree_q(user, "to_federation__path"))


class Allocation(Movement):
    """Money sent from one federation's fund to another's (下拨), often in batches."""

    from_fund = models.ForeignKey(
        Fund, verbose_name=_("from fund"), on_delete=models.PROTECT, related_name="allocations_out"
    )
    to_federation = models.ForeignKey(
        Federation, verbose_name=_("to federation"), on_delete=models.PROTECT, related_name="allocations_in"
    )
    to_fund = models.ForeignKey(
        Fund, verbose_name=_("to fund"), on_delete=models.PROTECT, related_name="allocations_in"
    )
    batch = models.CharField(_("batch"), max_length=50, blank=True)

    objects = AllocationQuerySet.as_manager()

    class Meta(Movement.Meta):
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        constraints = [
            *Movement.Meta.constraints,
            models.CheckConstraint(condition=~Q(from_fund=F("to_fund")), name="allocation_between_two_funds"),
        ]
        indexes = [
            *Movement.Meta.indexes,
            models.Index(fields=["from_fund", "status"], name="allocation_from_status"),
            models.Index(fields=["to_fund", "status"], name="allocation_to_status"),
        ]

    DEBITS = {False: ("from_fund_id",), True: ("to_fund_id",)}
    CREDITS = {False: ("to_fund_id",), True: ("from_fund_id",)}

    def __str__(self) -> str:
        return self.describe(self.from_fund.federation.name, self.to_federation.name, self.amount)

    @staticmethod
    def describe(sender: str, recipient: str, amount: Decimal) -> str:
        return f"{sender} → {recipient} ¥{format_yuan(amount)}"

    def owner(self) -> Federation:
        return self.from_fund.federation

    @property
    def owner_fund_id(self) -> int:
        return self.from_fund_id


class ListOrigin(models.TextChoices):
    IMPORT = "import", _("imported sheet")
    API = "api", _("API")
    EARLIER = "earlier", _("entered before lists were kept")


class PaymentListQuerySet(models.QuerySet):
    def visible_to(self, user) -> "PaymentListQuerySet":
        return self.filter(subtree_q(user, "fund__federation__path"))


class PaymentList(models.Model):
    """A disbursement list (发放名单) as one: the rows one clerk sent in one go, from
    a sheet or through the API, paid from one fund. It is decided as one: approved
    or rejected whole, its fund, batch, count and total restated to the approver.

    Its rows are the disbursements that point at it; `rows` and `total` are what
    was sent, kept so that a list decided row by row elsewhere still says what it was.
    """

    fund = models.ForeignKey(Fund, verbose_name=_("fund"), on_delete=models.PROTECT, related_name="payment_lists")
    batch = models.CharField(_("batch"), max_length=50, blank=True)
    origin = models.CharField(_("sent as"), max_length=8, choices=ListOrigin.choices)
    rows = models.PositiveIntegerField(_("rows"))
    total = MoneyField(_("total"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("entered by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("entered at"), default=timezone.now)

    objects = PaymentListQuerySet.as_manager()

    class Meta:
        verbose_name = _("disbursement list")
        verbose_name_plural = _("disbursement lists")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(rows__gt=0), name="payment_list_not_empty"),
            models.CheckConstraint(condition=Q(total__gt=0), name="payment_list_total_positive"),
            models.CheckConstraint(condition=Q(origin__in=ListOrigin.values), name="payment_list_origin_valid"),
        ]

    def __str__(self) -> str:
        return self.describe(self.pk, self.batch, self.rows, self.total)

    @staticmethod
    def describe(pk: int | None, batch: str, rows: int, total: Decimal) -> str:
        return f"#{pk} {batch} ×{rows:,} ¥{format_yuan(total)}" if batch else f"#{pk} ×{rows:,} ¥{format_yuan(total)}"

    def owner(self) -> Federation:
        return self.fund.federation


class DisbursementQuerySet(models.QuerySet):
    def visible_to(self, user) -> "DisbursementQuerySet":
        return self.filter(subtree_q(user, "fund__federation__path"))

    def live(self) -> "DisbursementQuerySet":
        """Payments that stand or may still stand: not rejected, not reversals, and
        not cancelled by an approved reversal."""
        return self.filter(reverses__isnull=True).exclude(status__in=CLOSED).exclude(reversals__status=Status.APPROVED)


class Disbursement(Movement):
    """Money leaving the system to a named worker or a unit (发放)."""

    # Indexed by Meta.indexes, each behind the index it leads.
    fund = models.ForeignKey(
        Fund, verbose_name=_("fund"), on_delete=models.PROTECT, related_name="disbursements", db_index=False
    )
    beneficiary = models.ForeignKey(
        Beneficiary,
        verbose_name=_("beneficiary"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="disbursements",
        db_index=False,
    )
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("unit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="disbursements",
        db_index=False,
    )
    assistance_type = models.CharField(_("assistance type"), max_length=20, choices=AssistanceType.choices)
    batch = models.CharField(_("batch"), max_length=50, blank=True)
    payment_list = models.ForeignKey(
        PaymentList,
        verbose_name=_("list"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="disbursements",
        db_index=False,  # see Meta.indexes
    )
    duplicate_confirmed = models.BooleanField(
        _("duplicate confirmed"),
        default=False,
        help_text=_("The clerk confirmed a second payment to the same person in the same month."),
    )
    # Who was paid, as the entry was written: the person's record may be
    # corrected later, the payment's own words are not (and the hash chain covers them).
    payee_name = models.CharField(_("paid to"), max_length=100, blank=True)
    payee_id_number = models.CharField(_("ID number as paid"), max_length=18, blank=True)
    # The household the payment helped, when its person was in an open archive
    # entry then: caps per household are charged to it, and the archive's
    # roll-ups count it as helped.
    household = models.ForeignKey(
        "beneficiaries.Household",
        verbose_name=_("household"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="disbursements",
        db_index=False,  # see Meta.indexes
    )
    # The policy rules the payment was charged against (`allocations.policy`),
    # as their ids ("3,7"), so that a rejection or a reversal gives back exactly
    # what it took even after the rules change.
    policy_rules = models.CharField(_("policy rules"), max_length=200, blank=True, db_default="", editable=False)
    policy_override = models.TextField(
        _("rule override reason"),
        blank=True,
        db_default="",
        help_text=_("Why the payment goes past a rule that allows an approver's override."),
    )

    objects = DisbursementQuerySet.as_manager()

    class Meta(Movement.Meta):
        verbose_name = _("disbursement")
        verbose_name_plural = _("disbursements")
        constraints = [
            *Movement.Meta.constraints,
            models.CheckConstraint(
                condition=Q(beneficiary__isnull=False, unit__isnull=True)
                | Q(beneficiary__isnull=True, unit__isnull=False),
                name="disbursement_one_recipient",
            ),
            models.CheckConstraint(
                condition=Q(assistance_type__in=AssistanceType.values), name="disbursement_assistance_type_valid"
            ),
        ]
        indexes = [
            *Movement.Meta.indexes,
            # These two also serve lookups by fund or by person alone (their first column).
            models.Index(fields=["fund", "status"], name="disbursement_fund_status"),
            models.Index(fields=["beneficiary", "fund", "assistance_type", "date"], name="disbursement_duplicates"),
            models.Index(fields=["unit"], condition=Q(unit__isnull=False), name="disbursement_unit"),
            models.Index(
                fields=["payment_list", "status"], condition=Q(payment_list__isnull=False), name="disbursement_list"
            ),
            models.Index(fields=["household"], condition=Q(household__isnull=False), name="disbursement_household"),
        ]

    DEBITS = {False: ("fund_id",), True: ()}
    CREDITS = {False: (), True: ("fund_id",)}

    def __str__(self) -> str:
        return self.describe(self.fund.name, self.paid_to, self.amount)

    @property
    def paid_to(self) -> str:
        """The payee as the payment names them: the words it was paid to, which
        for a person registered elsewhere are the list's, not the register's."""
        if self.payee_id_number:
            return person_label(self.payee_name, self.payee_id_number)
        return self.payee_name or str(self.beneficiary or self.unit)

    @staticmethod
    def describe(fund: str, recipient: str, amount: Decimal) -> str:
        return f"{fund} → {recipient} ¥{format_yuan(amount)}"

    def owner(self) -> Federation:
        return self.fund.federation

    @property
    def owner_fund_id(self) -> int:
        return self.fund_id


class RunningTotal(models.Model):
    """Approved money summed per fund, kept up to date by the services in the same
    transaction as each approval, so that a roll-up reads one row per fund and
    kind instead of every entry. Every row is keyed by funds that the approving
    transaction has locked, so concurrent approvals never race on a row.
    `allocations.totals.rebuild()` recomputes them from the entries."""

    amount = MoneyField(_("amount"), default=0)

    class Meta:
        abstract = True


class ContributionTotal(RunningTotal):
    fund = models.ForeignKey(Fund, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["fund", "source"], name="contribution_total_key")]

    def __str__(self) -> str:
        return f"{self.fund_id}/{self.source}: {self.amount}"


class AllocationTotal(RunningTotal):
    from_fund = models.ForeignKey(Fund, on_delete=models.CASCADE, related_name="+")
    to_fund = models.ForeignKey(Fund, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["from_fund", "to_fund"], name="allocation_total_key")]

    def __str__(self) -> str:
        return f"{self.from_fund_id}→{self.to_fund_id}: {self.amount}"


class DisbursementTotal(RunningTotal):
    fund = models.ForeignKey(Fund, on_delete=models.CASCADE, related_name="+")
    # One row per type paid, and one for all types together (totals.ALL_TYPES).
    assistance_type = models.CharField(max_length=20, choices=AssistanceType.choices)
    person_times = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["fund", "assistance_type"], name="disbursement_total_key")]
        # A roll-up reads the rows of one type (or of all types) for every fund
        # in a subtree; covering, so that PostgreSQL reads the index alone.
        indexes = [
            models.Index(
                fields=["assistance_type", "fund"], include=["amount", "person_times"], name="disbursement_total_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.fund_id}/{self.assistance_type}: {self.amount}"


class PersonReach(models.Model):
    """A person paid within a scope: a federation's subtree, or its own funds
    (`own`), in one fiscal year or in all of them (`fiscal_year` 0). `payments`
    counts the standing payments behind it; the person stops counting for the
    scope when it falls to zero (every payment reversed).

    Persons do not add up over child subtrees, so each scope keeps its own set;
    `PersonCount` holds the size of each set, so a roll-up reads one number per
    row instead of counting people."""

    # Derived rows, rebuilt in bulk (tens of millions at national scale): no
    # foreign-key triggers, whose per-row checks would dominate a rebuild.
    federation = models.ForeignKey(Federation, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    own = models.BooleanField()
    fiscal_year = models.PositiveSmallIntegerField()
    beneficiary = models.ForeignKey(Beneficiary, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    payments = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["federation", "own", "fiscal_year", "beneficiary"], name="person_reach_key"
            ),
            models.CheckConstraint(condition=Q(payments__gte=0), name="person_reach_payments_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.federation_id}/{self.own}/{self.fiscal_year}: {self.beneficiary_id} × {self.payments}"


class PersonCount(models.Model):
    federation = models.ForeignKey(Federation, on_delete=models.CASCADE, related_name="+")
    own = models.BooleanField()
    fiscal_year = models.PositiveSmallIntegerField()
    persons = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["federation", "own", "fiscal_year"], name="person_count_key"),
            models.CheckConstraint(condition=Q(persons__gte=0), name="person_count_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.federation_id}/{self.own}/{self.fiscal_year}: {self.persons}"


class LedgerKind(models.IntegerChoices):
    CONTRIBUTION = 1, _("contribution")
    ALLOCATION = 2, _("allocation")
    DISBURSEMENT = 3, _("disbursement")


class LedgerEntryQuerySet(models.QuerySet):
    """Ledger entries are appended, never changed or deleted through the app."""

    def update(self, **kwargs):
        raise NotSupportedError("Ledger entries are append-only.")

    def delete(self):
        raise NotSupportedError("Ledger entries are append-only.")


class LedgerEntry(models.Model):
    """One approved entry's effect on one fund, at its place in the fund's hash
    chain (`allocations.ledger`): the signed amount (positive into the fund) and a
    hash over the previous entry's hash and everything the entry says. Written in
    the approving transaction, never changed or deleted."""

    # No index of its own: the unique constraints below start with the fund.
    fund = models.ForeignKey(
        Fund, verbose_name=_("fund"), on_delete=models.PROTECT, related_name="ledger_entries", db_index=False
    )
    seq = models.PositiveBigIntegerField(_("position"))
    kind = models.PositiveSmallIntegerField(_("kind of entry"), choices=LedgerKind.choices)
    movement_id = models.BigIntegerField(_("entry"))
    amount = MoneyField(_("amount"), help_text=_("Positive into the fund, negative out of it."))
    hash = models.CharField(_("hash"), max_length=64)
    # Which serialisation `hash` was made with (`allocations.ledger.VERSIONS`):
    # rows keep the proof they were written with.
    version = models.PositiveSmallIntegerField(_("version"), db_default=2)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.UniqueConstraint(fields=["fund", "seq"], name="ledger_entry_position"),
            # Also how an entry's rows are found: one per fund it moved money in.
            models.UniqueConstraint(fields=["fund", "kind", "movement_id"], name="ledger_entry_once"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="ledger_entry_seq_positive"),
            models.CheckConstraint(condition=Q(kind__in=LedgerKind.values), name="ledger_entry_kind_valid"),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_amount_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.fund_id}#{self.seq}: {self.get_kind_display()} {self.movement_id} {self.amount}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise NotSupportedError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise NotSupportedError("Ledger entries are append-only.")


class NoticeVerb(models.TextChoices):
    WAITING = "waiting", _("waiting for approval")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    RETURNED = "returned", _("returned for correction")


class NoticeKind(models.TextChoices):
    """What a notice is about: entries of a kind, or a disbursement list (model names)."""

    CONTRIBUTION = "contribution", _("contribution")
    ALLOCATION = "allocation", _("allocation")
    DISBURSEMENT = "disbursement", _("disbursement")
    LIST = "paymentlist", _("disbursement list")


NOTICE_MODELS: dict[str, type[models.Model]] = {
    NoticeKind.CONTRIBUTION: Contribution,
    NoticeKind.ALLOCATION: Allocation,
    NoticeKind.DISBURSEMENT: Disbursement,
    NoticeKind.LIST: PaymentList,
}


class NotificationQuerySet(models.QuerySet):
    def addressed_to(self, user) -> "NotificationQuerySet":
        """A user's own notices: nobody else's, whatever their role or subtree."""
        return self.filter(recipient=user)

    def unread(self) -> "NotificationQuerySet":
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """A notice in the app (通知) to one user: something waits for her decision, or
    what she entered was decided (allocations.notify). Written by the service in
    the transaction of what it tells, one per recipient however many rows.

    The parts are kept, not the sentence: the sentence is written when the notice
    is shown, in the reader's language. `label` names the entry or the list as the
    audit trail does (names, amounts, a list's number and batch), frozen when written;
    without one, the notice is about `rows` entries of its kind."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="notifications"
    )
    verb = models.CharField(_("what happened"), max_length=8, choices=NoticeVerb.choices)
    kind = models.CharField(_("about"), max_length=12, choices=NoticeKind.choices)
    rows = models.PositiveIntegerField(_("entries"), default=1, help_text=_("How many entries the notice is about."))
    label = models.CharField(_("entry"), max_length=300, blank=True)
    who = models.CharField(_("by"), max_length=150, help_text=_("Who entered or decided it, as they signed in."))
    place = models.CharField(_("federation"), max_length=100, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    # A path on this site, never an address elsewhere: the notice's link redirects to it.
    path = models.CharField(_("link"), max_length=200)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The unread count on every page, and the notices page, newest first.
            models.Index(fields=["recipient", "read_at"], name="notification_unread"),
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_newest"),
            # A decision settles the approvers' notices of what it decided (allocations.notify).
            models.Index(
                fields=["path"], condition=Q(verb="waiting", read_at__isnull=True), name="notification_waiting_path"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(verb__in=NoticeVerb.values), name="notification_verb_valid"),
            models.CheckConstraint(condition=Q(kind__in=NoticeKind.values), name="notification_kind_valid"),
            models.CheckConstraint(condition=Q(rows__gte=1), name="notification_rows_positive"),
            models.CheckConstraint(
                condition=Q(path__startswith="/") & ~Q(path__startswith="//") & ~Q(path__startswith="/\\"),
                name="notification_path_local",
            ),
        ]

    def __str__(self) -> str:
        return self.sentence()

    @staticmethod
    def describe(kind: str, label: str, rows: int) -> str:
        """What a notice is about, in the active language: an entry by its label, a
        list by its label after the word for a list, or a count of entries."""
        meta = NOTICE_MODELS[kind]._meta
        if kind == NoticeKind.LIST:
            return f"{meta.verbose_name} {label}"
        return label if label else f"{rows:,} × {meta.verbose_name_plural}"

    def what(self) -> str:
        return self.describe(self.kind, self.label, self.rows)

    def sentence(self) -> str:
        """The notice as one sentence in the active language (the e-mail's words)."""
        return notice_sentence(self.verb, who=self.who, what=self.what(), place=self.place)

    @property
    def is_unread(self) -> bool:
        return self.read_at is None


def notice_sentence(verb: str, *, who: str, what: str, place: str) -> str:
    if verb == NoticeVerb.WAITING:
        return _("%(maker)s entered %(what)s at %(federation)s; it waits for your approval.") % {
            "maker": who,
            "what": what,
            "federation": place,
        }
    return _("%(who)s: %(verb)s, %(what)s.") % {"who": who, "verb": NoticeVerb(verb).label, "what": what}


class RuleScope(models.TextChoices):
    PERSON = "person", _("per person")
    HOUSEHOLD = "household", _("per household")


class PolicyRuleQuerySet(models.QuerySet):
    def visible_to(self, user) -> "PolicyRuleQuerySet":
        return self.filter(subtree_q(user, "federation__path"))

    def over(self, federation: Federation) -> "PolicyRuleQuerySet":
        """The rules that bind `federation`'s funds: its own and those set above it."""
        prefixes = [
            federation.path[:end] for end in range(Federation.steplen, len(federation.path) + 1, Federation.steplen)
        ]
        return self.filter(federation__path__in=prefixes)


class PolicyRule(models.Model):
    """A rule payments are held to (资金使用规定), set by a federation for the funds
    of its subtree: whether an assistance type may be paid at all from funds of a
    purpose (and of money from a source), a yearly cap per person or household (an
    amount, or months of the local 低保 line), or once a year whoever pays
    (金秋助学). Blank purpose, assistance type or source match any.

    Checked from `PolicyUsage`, the running totals per person or household and
    year, under lock, by `allocations.policy`."""

    federation = models.ForeignKey(
        Federation, verbose_name=_("set by"), on_delete=models.PROTECT, related_name="policy_rules"
    )
    name = models.CharField(_("name"), max_length=100)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices, blank=True)
    assistance_type = models.CharField(_("assistance type"), max_length=20, choices=AssistanceType.choices, blank=True)
    source = models.CharField(
        _("source of money"),
        max_length=16,
        choices=Source.choices,
        blank=True,
        help_text=_("Matches funds that hold money from this source, raised there or allocated from above."),
    )
    allowed = models.BooleanField(_("allowed"), default=True)
    scope = models.CharField(_("counted"), max_length=9, choices=RuleScope.choices, default=RuleScope.HOUSEHOLD)
    cap_amount = MoneyField(_("yearly cap (yuan)"), null=True, blank=True)
    cap_dibao_months = models.DecimalField(
        _("yearly cap (months of the 低保 line)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    once_per_year = models.BooleanField(_("once a year, whoever pays"), default=False)
    overridable = models.BooleanField(
        _("an approver may override"),
        default=False,
        help_text=_("A payment past the rule may be entered with a reason, for the approver to decide."),
    )
    active = models.BooleanField(_("in force"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("entered by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = PolicyRuleQuerySet.as_manager()

    class Meta:
        verbose_name = _("policy rule")
        verbose_name_plural = _("policy rules")
        ordering = ["federation__path", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(scope__in=RuleScope.values), name="policy_rule_scope_valid"),
            models.CheckConstraint(
                condition=Q(cap_amount__isnull=True) | Q(cap_dibao_months__isnull=True), name="policy_rule_one_cap"
            ),
            models.CheckConstraint(
                condition=Q(cap_amount__isnull=True) | Q(cap_amount__gt=0), name="policy_cap_positive"
            ),
            models.CheckConstraint(
                condition=Q(cap_dibao_months__isnull=True) | Q(cap_dibao_months__gt=0),
                name="policy_dibao_months_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PolicyUsage(models.Model):
    """What a person or a household was paid under a rule in a calendar year,
    pending payments included (like a fund's reservation): the running total a
    cap is checked against, one row locked per subject instead of a scan."""

    rule = models.ForeignKey(PolicyRule, on_delete=models.PROTECT, related_name="+")
    scope = models.CharField(max_length=9, choices=RuleScope.choices)
    # A beneficiary's id or a household's id, by `scope`.
    subject = models.BigIntegerField()
    year = models.PositiveSmallIntegerField()
    amount = MoneyField(_("amount"), default=0)
    payments = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "scope", "subject", "year"], name="policy_usage_key"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="policy_usage_not_negative"),
            models.CheckConstraint(condition=Q(payments__gte=0), name="policy_usage_payments_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.scope}:{self.subject}/{self.year}: {self.amount} × {self.payments}"
