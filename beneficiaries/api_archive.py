"""`households/`, `archive-entries/`, `archive-changes/`, `dibao-lines/`: the
hardship archive (困难职工档案) through the API (API.md, The hardship archive).

Every write calls `beneficiaries.archive`, as the pages and the admin do: the
roles, maker-checker and the one-open-household rule are the services', and
their refusals reach the client with their codes. A filing, a review, a closing
and a reopening each answer 201 with the change that waits for an approver;
the entry itself changes only when another approver approves it.

Members are shown by the name as filed and their ID number masked; in full
only to those who may see the person's number (`services.may_see_id_number`),
and each full showing is recorded, as for beneficiaries.
"""

from collections.abc import Sequence

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, Q
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from beneficiaries import archive, idnumber, services
from beneficiaries.archive_models import (
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
from beneficiaries.models import person_label
from unionfunds.api.base import (
    ApiViewSet,
    CursorPagination,
    FiscalYearFilter,
    IdFilter,
    MoneyField,
    ScopedRelatedField,
    SubtreeFilter,
    TrueFalseFilter,
    UsernameField,
)
from unionfunds.errors import ListRefused, problems_of
from unionfunds.models import Federation
from unionfunds.money import ZERO
from unionfunds.permissions import scope_paths, sees_everything, subtree_q
from unionfunds.text import NOTE_MAX

# A household as a 户口簿 holds it; more is a mistake or an attack, not a family.
MAX_MEMBERS = 30


def in_force_q(user, path_lookup: str) -> Q:
    """Rows set by a federation in the user's subtree, or by one above it: the
    低保 lines and rules that hold over the user's funds are the user's to read,
    whoever set them (a refusal names them). A neighbour's are not."""
    if sees_everything(user):
        return Q()
    above = {
        path[:end] for path in scope_paths(user) for end in range(Federation.steplen, len(path), Federation.steplen)
    }
    return subtree_q(user, path_lookup) | Q(**{f"{path_lookup}__in": sorted(above)})


# Fields --------------------------------------------------------------------------


class IncomeField(MoneyField):
    """Yuan a month per head: 0 or more, as exact as any amount. A household may
    have no income at all, so zero is an answer here, not a mistake."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", ZERO)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            raise serializers.ValidationError(archive.INVALID_INCOME, code="invalid_amount") from None

    def run_validators(self, value):
        try:
            super().run_validators(value)
        except serializers.ValidationError:
            raise serializers.ValidationError(archive.INVALID_INCOME, code="invalid_amount") from None


# 0 to 999,999,999,999.99 yuan, at most two decimals, no sign, no leading zero.
INCOME_IN_PATTERN = r"^(?:0(?:\.[0-9]{1,2})?|[1-9][0-9]{0,11}(?:\.[0-9]{1,2})?)$"


class IncomeFieldSchema(OpenApiSerializerFieldExtension):
    target_class = IncomeField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "format": "decimal", "pattern": INCOME_IN_PATTERN, "example": "650.00"}


class CausesField(serializers.ListField):
    child = serializers.ChoiceField(Cause.choices)

    def __init__(self, **kwargs):
        kwargs.update(allow_empty=False, min_length=1, max_length=len(Cause.values))
        kwargs.setdefault("error_messages", {"empty": archive.CAUSE_REQUIRED, "min_length": archive.CAUSE_REQUIRED})
        super().__init__(**kwargs)


def note_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True, default="", **kwargs)


# Serializers ------------------------------------------------------------------------


class HouseholdMemberSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True, help_text=_("The name as the household was filed."))
    id_number = serializers.CharField(
        source="beneficiary.id_number",
        read_only=True,
        help_text=_("Resident ID number; masked (6301**********123X) unless you may see it in full."),
    )

    class Meta:
        model = HouseholdMember
        fields = ["name", "id_number", "relation", "in_open_archive"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.beneficiary_id not in self.context.get("full_id_numbers", ()):
            data["id_number"] = idnumber.mask(instance.beneficiary.id_number)
        return data


class HouseholdSerializer(serializers.ModelSerializer):
    members = HouseholdMemberSerializer(many=True, read_only=True)
    entries = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text=_("The household's archive entries, newest first.")
    )
    created_by = UsernameField(help_text=_("Username of the clerk who filed it."))

    class Meta:
        model = Household
        fields = ["id", "federation", "address", "members", "entries", "created_by", "created_at"]
        read_only_fields = fields


class MemberLineSerializer(serializers.Serializer):
    """One member as filed: checked as a payment list's row is (checksum, name)."""

    name = serializers.CharField(max_length=50)
    id_number = serializers.CharField(max_length=32)
    relation = serializers.ChoiceField(Relation.choices, help_text=_("Exactly one member is the head (户主)."))


class HouseholdFilingSerializer(serializers.Serializer):
    federation = ScopedRelatedField(Federation, help_text=_("The federation that files the household."))
    address = serializers.CharField(max_length=archive.ADDRESS_LIMIT, required=False, allow_blank=True, default="")
    members = MemberLineSerializer(many=True, allow_empty=False, max_length=MAX_MEMBERS)


class EvidenceSerializer(serializers.ModelSerializer):
    uploaded_by = UsernameField(help_text=_("Username of the clerk who kept it."))

    class Meta:
        model = ArchiveEvidence
        fields = ["id", "name", "size", "sha256", "uploaded_by", "uploaded_at"]
        read_only_fields = fields


def blank_or(choices) -> serializers.ChoiceField:
    """A choice that is "" where it does not apply (a closing has no tier, an open entry no close reason)."""
    return serializers.ChoiceField(choices, read_only=True, allow_blank=True)


class ArchiveChangeSerializer(serializers.ModelSerializer):
    household = serializers.IntegerField(source="entry.household_id", read_only=True)
    tier = blank_or(Tier.choices)
    close_reason = blank_or(CloseReason.choices)
    income_per_head = MoneyField(read_only=True, allow_null=True)
    dibao_monthly = MoneyField(
        read_only=True, allow_null=True, help_text=_("The 低保 line per person and month when the figures were taken.")
    )
    causes = serializers.ListField(child=serializers.ChoiceField(Cause.choices), read_only=True)
    created_by = UsernameField(help_text=_("Username of the clerk who asked for it."))
    decided_by = UsernameField(
        allow_null=True, help_text=_("Username of the approver who decided it (of its clerk, if withdrawn).")
    )

    class Meta:
        model = ArchiveChange
        fields = [
            "id",
            "entry",
            "household",
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
            "created_by",
            "created_at",
            "decided_by",
            "decided_at",
            "decision_note",
        ]
        read_only_fields = fields


class ArchiveEntrySerializer(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True, help_text=_("The file's number: the federation's code and the id."))
    head = serializers.SerializerMethodField(help_text=_("The head of household as filed, the number masked."))
    close_reason = blank_or(CloseReason.choices)
    income_per_head = MoneyField(read_only=True)
    dibao_monthly = MoneyField(read_only=True, allow_null=True)
    causes = serializers.ListField(child=serializers.ChoiceField(Cause.choices), read_only=True)
    pending_change = serializers.SerializerMethodField(help_text=_("The change waiting for an approver, if any."))
    evidence = EvidenceSerializer(many=True, read_only=True)
    created_by = UsernameField(help_text=_("Username of the clerk who filed it."))

    class Meta:
        model = ArchiveEntry
        fields = [
            "id",
            "number",
            "household",
            "federation",
            "head",
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
            "pending_change",
            "evidence",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_head(self, entry: ArchiveEntry) -> str:
        head = next((m for m in entry.household.members.all() if m.relation == Relation.HEAD), None)
        return person_label(head.name, head.beneficiary.id_number) if head else ""

    @extend_schema_field(ArchiveChangeSerializer(allow_null=True))
    def get_pending_change(self, entry: ArchiveEntry) -> dict | None:
        waiting = getattr(entry, "pending_changes", None)
        if waiting is None:
            waiting = list(entry.changes.filter(status=ChangeStatus.PENDING))
        return ArchiveChangeSerializer(waiting[0], context=self.context).data if waiting else None


class FiguresSerializer(serializers.Serializer):
    """What a filing, a review or a reopening found."""

    tier = serializers.ChoiceField(Tier.choices)
    income_per_head = IncomeField(help_text=_("Monthly income per head in yuan, 0 or more."))
    causes = CausesField(help_text=_("The causes of hardship, at least one."))

    def figures(self) -> archive.Figures:
        data = self.validated_data
        return archive.Figures.read(tier=data["tier"], income_per_head=data["income_per_head"], causes=data["causes"])


class ArchiveFilingSerializer(FiguresSerializer):
    household = ScopedRelatedField(Household)
    valid_from = serializers.DateField(help_text=_("From when the entry would hold, once approved."))
    valid_to = serializers.DateField(required=False, allow_null=True, help_text=_("Until when; open-ended if null."))
    standard = serializers.CharField(
        max_length=archive.STANDARD_LIMIT,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("The standard the household was found in hardship under (认定标准)."),
    )
    note = note_field()


class ArchiveReviewSerializer(FiguresSerializer):
    reviewed_on = serializers.DateField(required=False, help_text=_("Today unless given."))
    valid_to = serializers.DateField(required=False, allow_null=True, help_text=_("A new end of validity, if any."))
    note = note_field()


class ArchiveReopenSerializer(FiguresSerializer):
    reopened_on = serializers.DateField(required=False, help_text=_("Today unless given."))
    valid_to = serializers.DateField(required=False, allow_null=True)
    note = note_field()


class ArchiveCloseSerializer(serializers.Serializer):
    close_reason = serializers.ChoiceField(CloseReason.choices)
    closed_on = serializers.DateField(required=False, help_text=_("Today unless given."))
    note = note_field()


class ChangeRejectionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=NOTE_MAX)


class DibaoLineSerializer(serializers.ModelSerializer):
    federation = ScopedRelatedField(Federation, help_text=_("The county (or city) whose line it is."))
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    monthly = MoneyField(help_text=_("Yuan per person and month."))

    class Meta:
        model = DibaoLine
        fields = ["id", "federation", "year", "monthly", "created_at"]
        read_only_fields = ["created_at"]
        validators = []


# Filters ---------------------------------------------------------------------------


class HouseholdFilter(filters.FilterSet):
    federation = SubtreeFilter("federation__path")
    id_number = filters.CharFilter(method="by_id_number", label=_("Exact resident ID number of a member"))

    class Meta:
        model = Household
        fields = ["federation", "id_number"]

    def by_id_number(self, queryset, name, value):
        # As for beneficiaries: a match confirms a guessed number, so only people
        # this user may see in full can match.
        user = self.request.user
        members = HouseholdMember.objects.filter(beneficiary__id_number=idnumber.normalize(value)).select_related(
            "beneficiary__federation"
        )
        seen = [m.household_id for m in members if services.may_see_id_number(user, m.beneficiary)]
        return queryset.filter(pk__in=seen)


def review_list_filter(label: str) -> TrueFalseFilter:
    return TrueFalseFilter(method="review_list", label=label)


class ArchiveEntryFilter(filters.FilterSet):
    federation = SubtreeFilter("federation__path")
    household = IdFilter(field_name="household_id")
    status = filters.ChoiceFilter(choices=ArchiveStatus.choices)
    tier = filters.ChoiceFilter(choices=Tier.choices)
    due_for_review = review_list_filter(_("Open, and last checked more than a year ago (复查核查)"))
    never_helped = review_list_filter(_("Open, and no approved payment has helped the household"))
    follow_up = review_list_filter(_("Closed out of hardship within the last year: followed up (返困)"))

    class Meta:
        model = ArchiveEntry
        fields = ["federation", "household", "status", "tier", "due_for_review", "never_helped", "follow_up"]

    LISTS = {
        "due_for_review": archive.due_for_review,
        "never_helped": archive.never_helped,
        "follow_up": archive.to_follow_up,
    }

    def review_list(self, queryset, name, value):
        # `true` keeps the review list, `false` everything else.
        listed = self.LISTS[name](ArchiveEntry.objects.all()).values("pk")
        return queryset.filter(pk__in=listed) if value else queryset.exclude(pk__in=listed)


class ArchiveChangeFilter(filters.FilterSet):
    federation = SubtreeFilter("entry__federation__path")
    entry = IdFilter(field_name="entry_id")
    status = filters.ChoiceFilter(choices=ChangeStatus.choices)
    kind = filters.ChoiceFilter(choices=ChangeKind.choices)

    class Meta:
        model = ArchiveChange
        fields = ["federation", "entry", "status", "kind"]


class DibaoLineFilter(filters.FilterSet):
    federation = SubtreeFilter("federation__path")
    year = FiscalYearFilter(field_name="year")

    class Meta:
        model = DibaoLine
        fields = ["federation", "year"]


# Views -----------------------------------------------------------------------------


def members_prefetch() -> Prefetch:
    return Prefetch("members", queryset=HouseholdMember.objects.select_related("beneficiary__federation"))


def member_lines(members: Sequence[dict]) -> list[archive.MemberLine]:
    """The members as the service takes them; every member's problem at once,
    each with its 1-based row in `members`."""
    lines, problems = [], []
    for row, member in enumerate(members, 1):
        try:
            person = services.person_line(name=member["name"], id_number=member["id_number"])
        except DjangoValidationError as error:
            problems += problems_of(error, row)
            continue
        lines.append(archive.MemberLine(person, member["relation"]))
    if problems:
        raise ListRefused(problems)
    return lines


@extend_schema_view(
    create=extend_schema(
        request=HouseholdFilingSerializer,
        responses={201: HouseholdSerializer},
        summary="File a household with its members, each by real name and ID number (clerk)",
        description=str(
            _(
                "People not registered yet are registered under the federation. A problem of a member names "
                "its 1-based row in members; nothing is written."
            )
        ),
    )
)
class HouseholdViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Households filed for the archive: members by the name as filed, ID numbers masked unless you may see them."""

    model = Household
    serializer_class = HouseholdSerializer
    filterset_class = HouseholdFilter
    pagination_class = CursorPagination
    ordering_fields = ["id"]

    def scoped(self, queryset):
        return queryset.select_related("created_by").prefetch_related(
            members_prefetch(), Prefetch("entries", queryset=ArchiveEntry.objects.only("pk", "household_id"))
        )

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.shown(page))

    def retrieve(self, request, pk=None):
        return Response(self.shown([self.get_object()])[0])

    def create(self, request):
        data = self.valid(HouseholdFilingSerializer)
        household = archive.household_file(
            federation=data["federation"],
            members=member_lines(data["members"]),
            address=data["address"],
            by=request.user,
        )
        household = self.get_queryset().get(pk=household.pk)
        # The clerk just typed every number: showing them back reveals nothing new.
        typed = {member.beneficiary_id for member in household.members.all()}
        context = {**self.get_serializer_context(), "full_id_numbers": typed}
        return Response(HouseholdSerializer(household, context=context).data, status=status.HTTP_201_CREATED)

    def shown(self, households: Sequence[Household]) -> Sequence[dict]:
        people = {m.beneficiary_id: m.beneficiary for h in households for m in h.members.all()}
        full = [person for person in people.values() if services.may_see_id_number(self.request.user, person)]
        services.id_numbers_shown(beneficiaries=full, by=self.request.user)
        context = {**self.get_serializer_context(), "full_id_numbers": {person.pk for person in full}}
        return HouseholdSerializer(households, many=True, context=context).data


class ChangeAnswers:
    """Answers with an archive change, read again through the user's scope."""

    def change_answer(self, change: ArchiveChange, status_code: int = status.HTTP_200_OK) -> Response:
        change = changes_scoped(ArchiveChange.objects.visible_to(self.request.user)).get(pk=change.pk)
        return Response(ArchiveChangeSerializer(change, context=self.get_serializer_context()).data, status=status_code)


def changes_scoped(queryset):
    return queryset.select_related("entry", "created_by", "decided_by")


@extend_schema_view(
    create=extend_schema(
        request=ArchiveFilingSerializer,
        responses={201: ArchiveEntrySerializer},
        summary="Ask for a household to be admitted to the archive (clerk): a pending entry and its filing",
    )
)
class ArchiveEntryViewSet(ChangeAnswers, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Archive entries (建档), with the review lists: due for review, never helped, to follow up."""

    model = ArchiveEntry
    serializer_class = ArchiveEntrySerializer
    filterset_class = ArchiveEntryFilter
    pagination_class = CursorPagination
    ordering_fields = ["id"]
    creating_actions = frozenset({"review", "close", "reopen"})  # each a new change: 201

    def scoped(self, queryset):
        return queryset.select_related("federation", "created_by").prefetch_related(
            Prefetch("household__members", queryset=HouseholdMember.objects.select_related("beneficiary")),
            Prefetch(
                "changes",
                queryset=changes_scoped(ArchiveChange.objects.filter(status=ChangeStatus.PENDING)),
                to_attr="pending_changes",
            ),
            Prefetch("evidence", queryset=ArchiveEvidence.objects.select_related("uploaded_by")),
        )

    def create(self, request):
        asked = ArchiveFilingSerializer(data=request.data, context=self.get_serializer_context())
        asked.is_valid(raise_exception=True)
        data = asked.validated_data
        change = archive.archive_open(
            household=data["household"],
            figures=asked.figures(),
            valid_from=data["valid_from"],
            valid_to=data.get("valid_to"),
            standard=data["standard"],
            note=data["note"],
            by=request.user,
        )
        return self.answer(change.entry, status.HTTP_201_CREATED)

    def asked(self, serializer_class) -> tuple[ArchiveEntry, dict, serializers.Serializer]:
        # The entry first: a neighbour's answers 404 whatever the body says.
        entry = self.get_object()
        asked = serializer_class(data=self.request.data, context=self.get_serializer_context())
        asked.is_valid(raise_exception=True)
        return entry, asked.validated_data, asked

    @extend_schema(
        request=ArchiveReviewSerializer,
        responses={201: ArchiveChangeSerializer},
        summary="Ask to record the annual review (复查核查) of an open entry, with the figures found (clerk)",
    )
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        entry, data, asked = self.asked(ArchiveReviewSerializer)
        change = archive.archive_review(
            entry=entry,
            figures=asked.figures(),
            reviewed_on=data.get("reviewed_on"),
            valid_to=data.get("valid_to"),
            note=data["note"],
            by=request.user,
        )
        return self.change_answer(change, status.HTTP_201_CREATED)

    @extend_schema(
        request=ArchiveCloseSerializer,
        responses={201: ArchiveChangeSerializer},
        summary="Ask to close an open entry (解困脱困, 退休, 调离, 死亡, 不符合条件) (clerk)",
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        entry, data, _asked = self.asked(ArchiveCloseSerializer)
        change = archive.archive_close(
            entry=entry,
            reason=data["close_reason"],
            closed_on=data.get("closed_on"),
            note=data["note"],
            by=request.user,
        )
        return self.change_answer(change, status.HTTP_201_CREATED)

    @extend_schema(
        request=ArchiveReopenSerializer,
        responses={201: ArchiveChangeSerializer},
        summary="Ask to reopen a closed entry: the household fell back into hardship (返困) (clerk)",
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        entry, data, asked = self.asked(ArchiveReopenSerializer)
        change = archive.archive_reopen(
            entry=entry,
            figures=asked.figures(),
            reopened_on=data.get("reopened_on"),
            valid_to=data.get("valid_to"),
            note=data["note"],
            by=request.user,
        )
        return self.change_answer(change, status.HTTP_201_CREATED)


class ArchiveChangeViewSet(ChangeAnswers, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """The changes of archive entries, asked and decided: each entry's history."""

    model = ArchiveChange
    serializer_class = ArchiveChangeSerializer
    filterset_class = ArchiveChangeFilter
    pagination_class = CursorPagination
    ordering_fields = ["id"]

    def scoped(self, queryset):
        return changes_scoped(queryset)

    @extend_schema(request=None, summary="Approve a pending change (an approver who did not ask for it)")
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self.change_answer(archive.archive_change_approve(change=self.get_object(), by=request.user))

    @extend_schema(request=ChangeRejectionSerializer, summary="Reject a pending change, with a reason")
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        change = self.get_object()
        reason = self.valid(ChangeRejectionSerializer)["reason"]
        return self.change_answer(archive.archive_change_reject(change=change, reason=reason, by=request.user))

    @extend_schema(request=None, summary="Withdraw a change of yours still pending (撤回)")
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self.change_answer(archive.archive_change_withdraw(change=self.get_object(), by=request.user))


@extend_schema_view(
    create=extend_schema(
        responses={200: DibaoLineSerializer, 201: DibaoLineSerializer},
        summary="Set a federation's 低保 line for a year (clerk): 201 when new, 200 when it corrects one",
    )
)
class DibaoLineViewSet(mixins.ListModelMixin, ApiViewSet):
    """The local minimum living standards (低保标准) per person and month: those set in your
    subtree and those set above it, which hold where no nearer one is set."""

    model = DibaoLine
    serializer_class = DibaoLineSerializer
    filterset_class = DibaoLineFilter
    ordering_fields = ["id", "year"]

    def get_queryset(self):
        return DibaoLine.objects.filter(in_force_q(self.request.user, "federation__path")).order_by("-year", "pk")

    def create(self, request):
        data = self.valid()
        known = DibaoLine.objects.filter(federation=data["federation"], year=data["year"]).exists()
        line = archive.dibao_line_set(
            federation=data["federation"], year=data["year"], monthly=data["monthly"], by=request.user
        )
        return self.answer(line, status.HTTP_200_OK if known else status.HTTP_201_CREATED)
