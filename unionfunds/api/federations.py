"""`federations/`: the tree. Admins add federations and move subtrees."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status

from unionfunds import services
from unionfunds.api.base import ListRetrieveCreateViewSet, ScopedRelatedField, SubtreeFilter
from unionfunds.models import Federation, Level


class FederationSerializer(serializers.ModelSerializer):
    code = serializers.CharField(max_length=32, help_text=Federation._meta.get_field("code").help_text)
    parent = ScopedRelatedField(Federation, allow_null=True)

    class Meta:
        model = Federation
        fields = ["id", "code", "name", "level", "parent", "depth"]
        read_only_fields = ["depth"]
        validators = []  # the service checks, once, for every door


class FederationMoveSerializer(serializers.Serializer):
    parent = ScopedRelatedField(Federation, help_text="The new parent: the federation moves with its whole subtree.")


class FederationFilter(filters.FilterSet):
    federation = SubtreeFilter("path")
    code = filters.CharFilter()
    parent = filters.NumberFilter(field_name="parent_id")
    level = filters.ChoiceFilter(choices=Level.choices)

    class Meta:
        model = Federation
        fields = ["federation", "code", "parent", "level"]


@extend_schema_view(
    create=extend_schema(summary="Add a federation (admin of the parent)"),
    partial_update=extend_schema(
        request=FederationMoveSerializer,
        responses={200: FederationSerializer},
        summary="Move a federation with its subtree (admin of both places)",
    ),
)
class FederationViewSet(ListRetrieveCreateViewSet):
    """The federation tree, as far down from your own federation as it goes."""

    model = Federation
    export = "federations"
    serializer_class = FederationSerializer
    filterset_class = FederationFilter
    ordering_fields = ["id", "code", "name", "depth"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def create(self, request):
        data = self.valid(FederationSerializer)
        federation = services.federation_create(
            code=data["code"], name=data["name"], level=data["level"], parent=data["parent"], by=request.user
        )
        return self.answer(federation, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        data = self.valid(FederationMoveSerializer)
        federation = services.federation_move(federation=self.get_object(), new_parent=data["parent"], by=request.user)
        return self.answer(federation)
