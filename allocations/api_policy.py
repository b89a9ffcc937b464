"""`policy-rules/`: the rules payments are held to (资金使用规定), through the API
(API.md, The hardship archive).

Anyone reads the rules set in their subtree and those set above it, which bind
their funds; an administrator of the federation that set a rule writes it,
through `allocations.policy` as the admin does.
"""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status

from allocations import policy
from allocations.models import AssistanceType, PolicyRule, Purpose, RuleScope, Source
from beneficiaries.api_archive import in_force_q
from unionfunds.api.base import (
    ApiViewSet,
    MoneyField,
    ScopedRelatedField,
    SubtreeFilter,
    TrueFalseFilter,
    UsernameField,
)
from unionfunds.models import Federation
from unionfunds.money import is_amount_text

INVALID_MONTHS = _("Enter the cap in months of the 低保 line, more than zero, with at most two decimals, like 12.")
MONTHS_PATTERN = r"^(?:0\.(?:0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,2}(?:\.[0-9]{1,2})?)$"


@extend_schema_field({"type": "string", "format": "decimal", "pattern": MONTHS_PATTERN, "example": "12.00"})
class MonthsField(serializers.DecimalField):
    """Months of the 低保 line, 0.01 to 999.99, written in ASCII digits (Python's
    Decimal would take other scripts' digits)."""

    def __init__(self, **kwargs):
        kwargs.update(max_digits=5, decimal_places=2, min_value=Decimal("0.01"))
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not is_amount_text(data):
            raise serializers.ValidationError(INVALID_MONTHS, code="invalid_amount")
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            raise serializers.ValidationError(INVALID_MONTHS, code="invalid_amount") from None

    def run_validators(self, value):
        try:
            super().run_validators(value)
        except serializers.ValidationError:
            raise serializers.ValidationError(INVALID_MONTHS, code="invalid_amount") from None


class PolicyRuleSerializer(serializers.ModelSerializer):
    federation = ScopedRelatedField(Federation, help_text=_("The federation that sets it, for its whole subtree."))
    name = serializers.CharField(max_length=100, help_text=_("Named in every refusal it gives."))
    cap_amount = MoneyField(required=False, allow_null=True, help_text=_("A yearly cap in yuan, or null."))
    cap_dibao_months = MonthsField(
        required=False,
        allow_null=True,
        help_text=_("A yearly cap in months of the local 低保 line, or null; not both caps."),
    )
    created_by = UsernameField(help_text=_("Username of the administrator who set it."))

    class Meta:
        model = PolicyRule
        fields = [
            "id",
            "federation",
            "name",
            "purpose",
            "assistance_type",
            "source",
            "allowed",
            "scope",
            "cap_amount",
            "cap_dibao_months",
            "once_per_year",
            "overridable",
            "active",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        validators = []


class PolicyRuleChangeSerializer(PolicyRuleSerializer):
    """What may change of a rule: anything but who set it. Only the fields sent change."""

    class Meta(PolicyRuleSerializer.Meta):
        fields = [name for name in PolicyRuleSerializer.Meta.fields if name not in ("id", "federation")]
        read_only_fields = ["created_by", "created_at"]

    def get_fields(self):
        fields = super().get_fields()
        for name in policy.RULE_FIELDS:
            fields[name].required = False
        return fields


class PolicyRuleFilter(filters.FilterSet):
    federation = SubtreeFilter("federation__path")
    purpose = filters.ChoiceFilter(choices=Purpose.choices)
    assistance_type = filters.ChoiceFilter(choices=AssistanceType.choices)
    source = filters.ChoiceFilter(choices=Source.choices)
    scope = filters.ChoiceFilter(choices=RuleScope.choices)
    active = TrueFalseFilter()

    class Meta:
        model = PolicyRule
        fields = ["federation", "purpose", "assistance_type", "source", "scope", "active"]


@extend_schema_view(
    create=extend_schema(summary="Set a rule for the funds of a federation's subtree (its admin)"),
    partial_update=extend_schema(
        request=PolicyRuleChangeSerializer,
        responses={200: PolicyRuleSerializer},
        summary="Change a rule from now on (an admin of the federation that set it)",
    ),
)
class PolicyRuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Policy rules: allowed or not, yearly caps per person or household, once a year whoever pays."""

    model = PolicyRule
    serializer_class = PolicyRuleSerializer
    filterset_class = PolicyRuleFilter
    ordering_fields = ["id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        visible = PolicyRule.objects.filter(in_force_q(self.request.user, "federation__path"))
        return visible.select_related("created_by").order_by("pk")

    def create(self, request):
        data = self.valid()
        federation = data.pop("federation")
        rule = policy.rule_create(federation=federation, by=request.user, **data)
        return self.answer(rule, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        rule = self.get_object()
        fields = self.valid(PolicyRuleChangeSerializer)
        return self.answer(policy.rule_update(rule=rule, by=request.user, **fields))
