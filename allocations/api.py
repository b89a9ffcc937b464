"""`funds/`, `contributions/`, `allocations/`, `disbursements/` (API.md).

Every write calls `allocations.services` or `allocations.bulk`, as the admin and
the pages do: the rules (roles, available funds, maker and checker, duplicates)
are theirs, and their refusals reach the client with their codes.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from allocations import lists, services
from allocations.models import (
    Allocation,
    AssistanceType,
    Contribution,
    Disbursement,
    Fund,
    PaymentList,
    Purpose,
    Source,
    Status,
)
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, CategoryCode, Unit
from unionfunds.api.base import (
    BIGINT_MAX,
    ApiViewSet,
    CursorPagination,
    FiscalYearFilter,
    IdFilter,
    ListRetrieveCreateViewSet,
    MoneyField,
    ScopedRelatedField,
    SubtreeFilter,
    UsernameField,
)
from unionfunds.api.errors import NotFoundInBody
from unionfunds.errors import nested
from unionfunds.models import Federation
from unionfunds.money import money_sum
from unionfunds.text import NOTE_MAX

MAX_LIST_ROWS = 10_000
OVERRIDE_HELP = _(
    "Why this payment may go past a policy rule that allows an approver's override (a cap, once a year); "
    "kept on the payment as policy_override for the approver to decide."
)

# Serializers --------------------------------------------------------------------


class FundSerializer(serializers.ModelSerializer):
    federation = ScopedRelatedField(Federation)
    requires_archive = serializers.BooleanField(
        required=False,
        help_text=_(
            "Pay only persons in an open hardship archive entry on the payment date (依档帮扶); "
            "by default true for hardship funds."
        ),
    )
    balance = MoneyField(read_only=True, help_text=_("What approved entries left in the fund."))
    available = MoneyField(read_only=True, help_text=_("The balance less pending outflows."))
    opened_from = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text=_(
            "The fund whose allocation opened this one (the sender's, perhaps elsewhere); null if set up here."
        ),
    )

    class Meta:
        model = Fund
        fields = [
            "id",
            "federation",
            "name",
            "purpose",
            "fiscal_year",
            "requires_archive",
            "balance",
            "available",
            "opened_from",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        validators = []


class MovementSerializer(serializers.ModelSerializer):
    """What every money entry shows: its life and who decided it."""

    amount = MoneyField()
    created_by = UsernameField(help_text=_("Username of the clerk who entered it."))
    decided_by = UsernameField(
        allow_null=True, help_text=_("Username of the approver who decided it (of its clerk, if withdrawn).")
    )
    returned_by = UsernameField(
        allow_null=True, help_text=_("Username of the approver who returned it for correction, while it is.")
    )

    class Meta:
        common = [
            "status",
            "note",
            "reverses",
            "reason",
            "created_by",
            "created_at",
            "decided_by",
            "decided_at",
            "rejection_reason",
            "returned_by",
            "returned_at",
            "return_reason",
        ]
        read_only_fields = [name for name in common if name != "note"]
        validators = []


class ContributionSerializer(MovementSerializer):
    fund = ScopedRelatedField(Fund)

    class Meta(MovementSerializer.Meta):
        model = Contribution
        fields = ["id", "fund", "source", "amount", "date", "reference", *MovementSerializer.Meta.common]


class AllocationSerializer(MovementSerializer):
    from_fund = ScopedRelatedField(Fund)
    to_federation = ScopedRelatedField(
        Federation,
        any_federation=True,
        help_text=_("Any federation: money may go down, up or sideways (浙江 to 湖北)."),
    )
    to_fund = ScopedRelatedField(
        Fund,
        required=False,
        allow_null=True,
        help_text=_("Optional: the recipient's fund of the same purpose and fiscal year, created if missing."),
    )

    class Meta(MovementSerializer.Meta):
        model = Allocation
        fields = [
            "id",
            "from_fund",
            "to_federation",
            "to_fund",
            "amount",
            "batch",
            "date",
            *MovementSerializer.Meta.common,
        ]


class PersonSerializer(serializers.Serializer):
    """A worker named by ID number: paid if registered (the name must match),
    registered under the fund's federation if not."""

    name = serializers.CharField(max_length=50)
    id_number = serializers.CharField(max_length=32)
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    employer = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    categories = serializers.ListField(
        child=serializers.ChoiceField(CategoryCode.choices), required=False, default=list
    )


PERSON_FIELDS = tuple(PersonSerializer._declared_fields)


class DisbursementSerializer(MovementSerializer):
    fund = ScopedRelatedField(Fund)
    beneficiary = ScopedRelatedField(Beneficiary, required=False, allow_null=True)
    person = PersonSerializer(
        write_only=True,
        required=False,
        help_text=_("Instead of a beneficiary or a unit: a person by name and ID number, registered if new."),
    )
    unit = ScopedRelatedField(Unit, required=False, allow_null=True)
    confirm_duplicate = serializers.BooleanField(
        write_only=True,
        default=False,
        help_text=_("Pay again someone already paid this assistance type from this fund in the same month."),
    )
    override_reason = serializers.CharField(
        max_length=NOTE_MAX,
        write_only=True,
        required=False,
        allow_blank=True,
        default="",
        help_text=OVERRIDE_HELP,
    )
    household = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text=_("The archived household the payment helped (依档帮扶); null if none."),
    )

    class Meta(MovementSerializer.Meta):
        model = Disbursement
        fields = [
            "id",
            "fund",
            "beneficiary",
            "person",
            "unit",
            "assistance_type",
            "amount",
            "date",
            "batch",
            "payment_list",
            "duplicate_confirmed",
            "confirm_duplicate",
            "household",
            "policy_override",
            "override_reason",
            *MovementSerializer.Meta.common,
        ]
        read_only_fields = [
            *MovementSerializer.Meta.read_only_fields,
            "duplicate_confirmed",
            "payment_list",
            "policy_override",
        ]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class OptionalReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ListRowSerializer(serializers.Serializer):
    """One person of a real-name list; the list's assistance type and date apply
    unless the row gives its own. The rules (checksum, amount, duplicates, names)
    are checked by the list service, row by row."""

    name = serializers.CharField(max_length=50, allow_blank=True)
    id_number = serializers.CharField(max_length=32, allow_blank=True)
    amount = MoneyField()
    assistance_type = serializers.ChoiceField(AssistanceType.choices, required=False)
    date = serializers.DateField(required=False)
    categories = serializers.ListField(child=serializers.ChoiceField(CategoryCode.choices), required=False)
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True)
    employer = serializers.CharField(max_length=100, required=False, allow_blank=True)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    confirm_duplicate = serializers.BooleanField(required=False, default=False)
    override_reason = serializers.CharField(
        max_length=NOTE_MAX, required=False, allow_blank=True, help_text=OVERRIDE_HELP
    )


class DisbursementListSerializer(serializers.Serializer):
    fund = ScopedRelatedField(Fund)
    date = serializers.DateField(required=False, help_text=_("Today unless given; a row may give its own."))
    batch = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    assistance_type = serializers.ChoiceField(AssistanceType.choices, required=False)
    rows = ListRowSerializer(many=True, allow_empty=False, max_length=MAX_LIST_ROWS)


class DisbursementListResultSerializer(serializers.Serializer):
    list = serializers.IntegerField(help_text=_("The list, decided as one: /api/v1/disbursement-lists/{id}/."))
    fund = serializers.IntegerField()
    batch = serializers.CharField()
    count = serializers.IntegerField()
    total = MoneyField(read_only=True)
    ids = serializers.ListField(child=serializers.IntegerField(), help_text=_("The new disbursements, row by row."))


class PaymentListSerializer(serializers.ModelSerializer):
    fund = serializers.PrimaryKeyRelatedField(read_only=True)
    total = MoneyField(read_only=True)
    created_by = UsernameField()
    waiting = serializers.IntegerField(read_only=True, help_text=_("Rows still waiting for a decision."))
    waiting_total = MoneyField(read_only=True)

    class Meta:
        model = PaymentList
        fields = [
            "id",
            "fund",
            "batch",
            "origin",
            "rows",
            "total",
            "waiting",
            "waiting_total",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ListDecisionSerializer(serializers.Serializer):
    rows = serializers.IntegerField(
        min_value=1,
        max_value=BIGINT_MAX,
        required=False,
        help_text=_("The rows you saw waiting: if the list waiting is no longer that, nothing is decided."),
    )
    total = MoneyField(required=False, help_text=_("The total you saw waiting, checked as `rows` is."))


class ListRejectionSerializer(ListDecisionSerializer):
    reason = serializers.CharField(max_length=2000)


class ListDecisionResultSerializer(serializers.Serializer):
    decided = serializers.IntegerField()


class BulkApprovalSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX),
        allow_empty=False,
        min_length=1,
        max_length=MAX_LIST_ROWS,
        help_text=_("Pending disbursements of funds you approve for; all are approved or none."),
    )


class BulkApprovalResultSerializer(serializers.Serializer):
    approved = serializers.IntegerField()


# Filters ------------------------------------------------------------------------


def id_filter(field_name: str, **kwargs) -> IdFilter:
    return IdFilter(field_name=field_name, **kwargs)


def fiscal_year_filter(field_name: str) -> FiscalYearFilter:
    return FiscalYearFilter(field_name=field_name)


class FundFilter(filters.FilterSet):
    federation = SubtreeFilter("federation__path")
    purpose = filters.ChoiceFilter(choices=Purpose.choices)
    fiscal_year = fiscal_year_filter("fiscal_year")

    class Meta:
        model = Fund
        fields = ["federation", "purpose", "fiscal_year"]


class MovementFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Status.choices)
    # Labelled as on the list pages: they also word the filters above an exported sheet.
    date_from = filters.DateFilter(field_name="date", lookup_expr="gte", label=_("From"))
    date_to = filters.DateFilter(field_name="date", lookup_expr="lte", label=_("To"))


class ContributionFilter(MovementFilter):
    federation = SubtreeFilter("fund__federation__path")
    fund = id_filter("fund_id")
    source = filters.ChoiceFilter(choices=Source.choices)
    purpose = filters.ChoiceFilter(field_name="fund__purpose", choices=Purpose.choices)
    fiscal_year = fiscal_year_filter("fund__fiscal_year")

    class Meta:
        model = Contribution
        fields = ["federation", "fund", "status", "source", "date_from", "date_to", "purpose", "fiscal_year"]


class AllocationFilter(MovementFilter):
    federation = SubtreeFilter("from_fund__federation__path", "to_federation__path")
    fund = id_filter("from_fund_id", method="either_fund", label=_("Fund (sending or receiving)"))
    from_fund = id_filter("from_fund_id")
    to_fund = id_filter("to_fund_id")
    to_federation = id_filter("to_federation_id")
    batch = filters.CharFilter()
    purpose = filters.ChoiceFilter(field_name="from_fund__purpose", choices=Purpose.choices)
    fiscal_year = fiscal_year_filter("from_fund__fiscal_year")

    class Meta:
        model = Allocation
        fields = [
            "federation",
            "fund",
            "from_fund",
            "to_fund",
            "to_federation",
            "status",
            "batch",
            "date_from",
            "date_to",
            "purpose",
            "fiscal_year",
        ]

    def either_fund(self, queryset, name, value):
        return queryset.filter(Q(from_fund_id=value) | Q(to_fund_id=value))


class DisbursementFilter(MovementFilter):
    federation = SubtreeFilter("fund__federation__path")
    fund = id_filter("fund_id")
    beneficiary = id_filter("beneficiary_id")
    unit = id_filter("unit_id")
    batch = filters.CharFilter()
    assistance_type = filters.ChoiceFilter(choices=AssistanceType.choices)
    purpose = filters.ChoiceFilter(field_name="fund__purpose", choices=Purpose.choices)
    fiscal_year = fiscal_year_filter("fund__fiscal_year")

    class Meta:
        model = Disbursement
        fields = [
            "federation",
            "fund",
            "beneficiary",
            "unit",
            "status",
            "batch",
            "assistance_type",
            "date_from",
            "date_to",
            "purpose",
            "fiscal_year",
        ]


# Views --------------------------------------------------------------------------


@extend_schema_view(create=extend_schema(summary="Open a fund (clerk or admin of its federation)"))
class FundViewSet(ListRetrieveCreateViewSet):
    """Special funds, each owned by one federation, with a purpose and a fiscal year."""

    model = Fund
    export = "funds"
    serializer_class = FundSerializer
    filterset_class = FundFilter
    ordering_fields = ["id", "fiscal_year", "name"]

    def create(self, request):
        data = self.valid()
        fund = services.fund_create(
            federation=data["federation"],
            name=data["name"],
            purpose=data["purpose"],
            fiscal_year=data["fiscal_year"],
            requires_archive=data.get("requires_archive"),
            by=request.user,
        )
        return self.answer(fund, status.HTTP_201_CREATED)


class MovementViewSet(ListRetrieveCreateViewSet):
    """List, read and enter one kind of money entry, and decide on it."""

    ordering_fields = ["id", "date", "amount"]

    def scoped(self, queryset):
        return queryset.select_related("created_by", "decided_by", "returned_by")

    @extend_schema(request=None, summary="Approve a pending entry (an approver who did not enter it)")
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self.answer(services.movement_approve(movement=self.get_object(), by=request.user))

    @extend_schema(request=ReasonSerializer, summary="Reject a pending entry, with a reason")
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        reason = self.valid(ReasonSerializer)["reason"]
        return self.answer(services.movement_reject(movement=self.get_object(), by=request.user, reason=reason))

    @extend_schema(
        request=ReasonSerializer,
        summary="Return a pending entry to its clerk for correction (退回修改), with a reason",
    )
    @action(detail=True, methods=["post"], url_path="return")
    def return_for_correction(self, request, pk=None):
        reason = self.valid(ReasonSerializer)["reason"]
        services.movements_return(movements=[self.get_object()], by=request.user, reason=reason)
        return self.answer(self.get_object())

    @extend_schema(
        request=OptionalReasonSerializer,
        summary="Withdraw an entry of yours still pending (撤回): it is closed and reserves nothing",
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        reason = self.valid(OptionalReasonSerializer).get("reason", "")
        services.movements_withdraw(movements=[self.get_object()], by=request.user, reason=reason)
        return self.answer(self.get_object())

    @extend_schema(request=None, summary="Resubmit an entry of yours returned for correction")
    @action(detail=True, methods=["post"])
    def resubmit(self, request, pk=None):
        services.movements_resubmit(movements=[self.get_object()], by=request.user)
        return self.answer(self.get_object())

    @extend_schema(
        request=ReasonSerializer,
        summary="Ask to reverse an approved entry: a new pending entry that cancels it once approved",
    )
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        reason = self.valid(ReasonSerializer)["reason"]
        reversal = services.movement_reverse(movement=self.get_object(), by=request.user, reason=reason)
        return self.answer(reversal, status.HTTP_201_CREATED)


@extend_schema_view(create=extend_schema(summary="Enter money received into a fund (clerk)"))
class ContributionViewSet(MovementViewSet):
    """Money entering a fund from outside the tree of allocations."""

    model = Contribution
    export = "contributions"
    serializer_class = ContributionSerializer
    filterset_class = ContributionFilter

    def create(self, request):
        data = self.valid()
        contribution = services.contribution_create(
            fund=data["fund"],
            source=data["source"],
            amount=data["amount"],
            date=data.get("date"),
            reference=data.get("reference", ""),
            note=data.get("note", ""),
            by=request.user,
        )
        return self.answer(contribution, status.HTTP_201_CREATED)


@extend_schema_view(create=extend_schema(summary="Allocate money from a fund to another federation (clerk)"))
class AllocationViewSet(MovementViewSet):
    """Money sent from one federation's fund to another's, often in numbered batches."""

    model = Allocation
    export = "allocations"
    serializer_class = AllocationSerializer
    filterset_class = AllocationFilter

    def create(self, request):
        data = self.valid()
        allocation = services.allocation_create(
            from_fund=data["from_fund"],
            to_federation=data["to_federation"],
            to_fund=data.get("to_fund"),
            amount=data["amount"],
            date=data.get("date"),
            batch=data.get("batch", ""),
            note=data.get("note", ""),
            by=request.user,
        )
        return self.answer(allocation, status.HTTP_201_CREATED)


@extend_schema_view(create=extend_schema(summary="Pay one beneficiary or unit from a fund (clerk)"))
class DisbursementViewSet(MovementViewSet):
    """Money paid out to a named worker or a unit. Cursor-paginated: no count, any depth."""

    model = Disbursement
    export = "disbursements"
    serializer_class = DisbursementSerializer
    filterset_class = DisbursementFilter
    pagination_class = CursorPagination
    ordering_fields = ["id"]  # cursor pagination needs a unique ordering

    def create(self, request):
        data = self.valid()
        person = data.get("person")
        try:
            disbursement = services.disbursement_create(
                fund=data["fund"],
                beneficiary=data.get("beneficiary"),
                unit=data.get("unit"),
                person=people.person_line(**person) if person else None,
                assistance_type=data["assistance_type"],
                amount=data["amount"],
                date=data.get("date"),
                batch=data.get("batch", ""),
                note=data.get("note", ""),
                confirm_duplicate=data["confirm_duplicate"],
                override_reason=data["override_reason"],
                by=request.user,
            )
        except DjangoValidationError as error:
            if person:
                raise nested(error, "person", PERSON_FIELDS) from None
            raise
        return self.answer(disbursement, status.HTTP_201_CREATED)

    @extend_schema(
        request=DisbursementListSerializer,
        responses={201: DisbursementListResultSerializer},
        summary="Enter a real-name list of up to 10,000 payments: all rows or none",
        description=str(
            _(
                "People are matched by ID number, or registered under the fund's federation. "
                "Every problem is reported at once, each with its 1-based row and field; nothing is written."
            )
        ),
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request):
        data = self.valid(DisbursementListSerializer)
        created = services.disbursements_create(
            fund=data["fund"],
            rows=[lists.ListRow(**row) for row in data["rows"]],
            assistance_type=data.get("assistance_type"),
            date=data.get("date"),
            batch=data["batch"],
            by=request.user,
        )
        body = {
            "list": created.payment_list_id,
            "fund": data["fund"].pk,
            "batch": data["batch"],
            "count": len(created),
            "total": created.total,
            "ids": created.ids,
        }
        return Response(DisbursementListResultSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=BulkApprovalSerializer,
        responses={200: BulkApprovalResultSerializer},
        summary="Approve many pending disbursements at once: all or none",
    )
    @action(detail=False, methods=["post"], url_path="bulk/approve")
    def bulk_approve(self, request):
        ids = list(dict.fromkeys(self.valid(BulkApprovalSerializer)["ids"]))
        movements = list(Disbursement.objects.visible_to(request.user).filter(pk__in=ids).order_by("pk"))
        if len(movements) != len(ids):
            raise NotFoundInBody("ids")
        approved = services.movements_approve(movements=movements, by=request.user)
        return Response({"approved": approved})


class PaymentListViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Disbursement lists, each the rows one clerk sent in one go (an imported
    sheet, an API list), decided as one: all of what waits, or none."""

    model = PaymentList
    serializer_class = PaymentListSerializer
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]  # Meta.ordering does not hold in the GROUP BY of `waiting`

    def scoped(self, queryset):
        waiting = Q(disbursements__status=Status.PENDING)
        return queryset.select_related("created_by").annotate(
            waiting=Count("disbursements", filter=waiting),
            waiting_total=money_sum("disbursements__amount", filter=waiting),
        )

    def decided(self, count: int) -> Response:
        return Response({"decided": count})

    @extend_schema(
        request=ListDecisionSerializer,
        responses={200: ListDecisionResultSerializer},
        summary="Approve all of a list that waits, as you saw it: all or none",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = self.valid(ListDecisionSerializer)
        return self.decided(
            services.payment_list_approve(
                payment_list=self.get_object(),
                by=request.user,
                expect_rows=data.get("rows"),
                expect_total=data.get("total"),
            )
        )

    @extend_schema(
        request=ListRejectionSerializer,
        responses={200: ListDecisionResultSerializer},
        summary="Return all of a list that waits to its clerk for correction (退回修改), with a reason",
    )
    @action(detail=True, methods=["post"], url_path="return")
    def return_for_correction(self, request, pk=None):
        data = self.valid(ListRejectionSerializer)
        return self.decided(
            services.payment_list_return(
                payment_list=self.get_object(),
                by=request.user,
                reason=data["reason"],
                expect_rows=data.get("rows"),
                expect_total=data.get("total"),
            )
        )

    @extend_schema(
        request=OptionalReasonSerializer,
        responses={200: ListDecisionResultSerializer},
        summary="Withdraw all of a list of yours still pending (撤回), returned or not",
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        reason = self.valid(OptionalReasonSerializer).get("reason", "")
        return self.decided(
            services.payment_list_withdraw(payment_list=self.get_object(), by=request.user, reason=reason)
        )

    @extend_schema(
        request=None,
        responses={200: ListDecisionResultSerializer},
        summary="Resubmit the rows of a list of yours returned for correction",
    )
    @action(detail=True, methods=["post"])
    def resubmit(self, request, pk=None):
        return self.decided(services.payment_list_resubmit(payment_list=self.get_object(), by=request.user))

    @extend_schema(
        request=ListRejectionSerializer,
        responses={200: ListDecisionResultSerializer},
        summary="Reject all of a list that waits, with a reason: all or none",
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = self.valid(ListRejectionSerializer)
        return self.decided(
            services.payment_list_reject(
                payment_list=self.get_object(),
                by=request.user,
                reason=data["reason"],
                expect_rows=data.get("rows"),
                expect_total=data.get("total"),
            )
        )
