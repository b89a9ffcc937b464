"""`beneficiaries/` and `units/`: the recipients of disbursements (API.md).

ID numbers are shown in full only to those who may see them
(`services.may_see_id_number`), and each full showing is recorded. A person
registered outside the user's subtree is shown as the card of the user's
subtree has them (`Beneficiary.objects.visible_to`), and registering one
answers as a new registration does: the register is no oracle.
"""

from collections.abc import Sequence

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from beneficiaries import idnumber, services
from beneficiaries.models import Beneficiary, CategoryCode, Unit, UnitKind, mask_phone
from unionfunds.api.base import FilterBackend, ListRetrieveCreateViewSet, ScopedRelatedField, SubtreeFilter
from unionfunds.models import Federation


class CategoryCodesField(serializers.ListField):
    child = serializers.ChoiceField(CategoryCode.choices)

    def to_representation(self, data):
        return [category.code for category in data.all()]  # prefetched


class BeneficiarySerializer(serializers.ModelSerializer):
    id_number = serializers.CharField(
        max_length=32,
        help_text=_("Resident ID number; masked (6301**********123X) unless you may see it in full."),
    )
    federation = ScopedRelatedField(Federation, help_text=_("The person's home federation."))
    categories = CategoryCodesField(required=False)
    birth_date = serializers.DateField(
        read_only=True,
        allow_null=True,
        help_text=_("Null unless the ID number is shown in full: it is digits 7-14 of the number."),
    )
    birth_year = serializers.SerializerMethodField(help_text=_("The year of birth, shown to everyone."))
    phone = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        help_text=_("Masked (138****5678) unless the ID number is shown in full."),
    )

    class Meta:
        model = Beneficiary
        fields = [
            "id",
            "name",
            "id_number",
            "federation",
            "categories",
            "gender",
            "birth_date",
            "birth_year",
            "phone",
            "employer",
            "created_at",
        ]
        read_only_fields = ["gender", "birth_date", "created_at"]
        validators = []

    def validate_id_number(self, value: str) -> str:
        # The rule is `idnumber.parse`'s (the service applies it again); asking it
        # here names the field in the error.
        try:
            return idnumber.parse(value).number
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages[0], code=error.code) from None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.pk not in self.context.get("full_id_numbers", ()):
            # Area, birth date and the last four rebuild the whole number.
            data["id_number"] = idnumber.mask(instance.id_number)
            data["birth_date"] = None
            data["phone"] = mask_phone(instance.phone)
        return data

    def get_birth_year(self, instance) -> int:
        return instance.birth_date.year


class UnitSerializer(serializers.ModelSerializer):
    federation = ScopedRelatedField(Federation)

    class Meta:
        model = Unit
        fields = ["id", "name", "kind", "federation", "created_at"]
        read_only_fields = ["created_at"]
        validators = []


class BeneficiaryFilter(filters.FilterSet):
    # As the user sees the person: a card's federation and categories for a
    # person seen through one (`Beneficiary.objects.visible_to`), never the register's.
    federation = SubtreeFilter("seen_path")
    category = filters.ChoiceFilter(method="by_category", choices=CategoryCode.choices)
    id_number = filters.CharFilter(method="by_id_number", label=_("Exact resident ID number"))

    class Meta:
        model = Beneficiary
        fields = ["federation", "category", "id_number"]

    def by_category(self, queryset, name, value):
        return queryset.with_category(value)

    def by_id_number(self, queryset, name, value):
        # A match confirms a guessed number: a full view. Only the people this
        # user may see in full can match, and they are then shown (and logged) in full.
        user = self.request.user
        matches = queryset.filter(id_number=idnumber.normalize(value))
        return matches.filter(pk__in=[p.pk for p in matches if services.may_see_id_number(user, p)])


class SeenOrdering(OrderingFilter):
    """`?ordering=name` by the name the user sees: a card's for a person seen
    through one, so that the order says nothing of the register's."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        return [term.replace("name", "seen_name") for term in ordering] if ordering else ordering


class UnitFilter(filters.FilterSet):
    federation = SubtreeFilter("federation__path")
    kind = filters.ChoiceFilter(choices=UnitKind.choices)

    class Meta:
        model = Unit
        fields = ["federation", "kind"]


@extend_schema_view(create=extend_schema(summary="Register a beneficiary by real name (clerk)"))
class BeneficiaryViewSet(ListRetrieveCreateViewSet):
    """Workers paid by real name; ID numbers masked unless you may see them, and every full showing recorded."""

    model = Beneficiary
    export = "beneficiaries"
    serializer_class = BeneficiarySerializer
    filterset_class = BeneficiaryFilter
    filter_backends = [FilterBackend, SeenOrdering]
    ordering_fields = ["id", "name"]

    def scoped(self, queryset):
        return queryset.select_related("federation").prefetch_related("categories")

    def list(self, request):
        if self.spreadsheet_asked():
            return self.list_spreadsheet(request)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.shown(page))

    def retrieve(self, request, pk=None):
        return Response(self.shown([self.get_object()])[0])

    def create(self, request):
        data = self.valid()
        person = services.beneficiary_register(
            name=data["name"],
            id_number=data["id_number"],
            federation=data["federation"],
            phone=data.get("phone", ""),
            employer=data.get("employer", ""),
            categories=data.get("categories", []),
            by=request.user,
        )
        person = self.get_queryset().get(pk=person.pk)
        # The clerk just typed the number: showing it back reveals nothing new.
        context = {**self.get_serializer_context(), "full_id_numbers": {person.pk}}
        return Response(BeneficiarySerializer(person, context=context).data, status=status.HTTP_201_CREATED)

    def shown(self, people: Sequence[Beneficiary]) -> Sequence[dict]:
        full = [person for person in people if services.may_see_id_number(self.request.user, person)]
        services.id_numbers_shown(beneficiaries=full, by=self.request.user)
        context = {**self.get_serializer_context(), "full_id_numbers": {person.pk for person in full}}
        return BeneficiarySerializer(people, many=True, context=context).data


@extend_schema_view(create=extend_schema(summary="Add a unit: a hospital, an enterprise, an agency (clerk)"))
class UnitViewSet(ListRetrieveCreateViewSet):
    """Recipients that are not persons: hospitals, enterprises, agencies."""

    model = Unit
    export = "units"
    serializer_class = UnitSerializer
    filterset_class = UnitFilter
    ordering_fields = ["id", "name"]

    def create(self, request):
        data = self.valid()
        unit = services.unit_create(
            name=data["name"], kind=data["kind"], federation=data["federation"], by=request.user
        )
        return self.answer(unit, status.HTTP_201_CREATED)
