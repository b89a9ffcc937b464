"""What every resource of the API shares: scoped querysets and ids, money and
enum fields, pagination, filters and idempotent POSTs."""

import contextlib

from django import forms
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, pagination, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from unionfunds.api import idempotency
from unionfunds.api.errors import NOT_FOUND, NotFoundInBody
from unionfunds.api.spreadsheets import BODY_TYPES, MEDIA_TYPES, ListSpreadsheetMixin, full_ids_asked
from unionfunds.models import Federation
from unionfunds.money import CENT, INVALID_AMOUNT, MAX_DIGITS, is_amount_text

BIGINT_MAX = 2**63 - 1


# Fields -------------------------------------------------------------------------


class MoneyField(serializers.DecimalField):
    """Yuan as a string with two decimals ("1000.00"); a number is accepted on input.

    Any malformed amount is refused with the services' own code and message
    (`invalid_amount`), whichever check caught it."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("coerce_to_string", True)
        if not kwargs.get("read_only"):
            kwargs.setdefault("min_value", CENT)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        # DRF's DecimalField takes 1e3, 1_000 and other scripts' digits.
        if not is_amount_text(data):
            raise serializers.ValidationError(INVALID_AMOUNT, code="invalid_amount")
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            raise serializers.ValidationError(INVALID_AMOUNT, code="invalid_amount") from None

    def run_validators(self, value):
        try:
            super().run_validators(value)
        except serializers.ValidationError:
            raise serializers.ValidationError(INVALID_AMOUNT, code="invalid_amount") from None


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """An id of a record the user may see (`Model.objects.visible_to(user)`), or
    of any federation where `any_federation` (an allocation's recipient).

    Any other id, whether it exists or not, answers 404 as a URL would, so that a
    body cannot be used to find out what lies outside the user's subtree.
    """

    def __init__(self, model, *, any_federation: bool = False, **kwargs):
        self.model, self.any_federation = model, any_federation
        if not kwargs.get("read_only"):
            kwargs["queryset"] = model.objects.all()  # typing for the schema; lookups use get_queryset()
        super().__init__(**kwargs)

    def get_queryset(self):
        if self.any_federation:  # federations are public: any may be named as a recipient
            return self.model.objects.all()
        return self.model.objects.visible_to(self.context["request"].user)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, str)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        # Python's int() also reads other scripts' digits ("１"): an id is ASCII.
        if isinstance(data, str) and not data.isascii():
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            pk = int(data)
        except ValueError:
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 0 < pk <= BIGINT_MAX:
            raise NotFoundInBody(self.field_name)
        try:
            return self.get_queryset().get(pk=pk)
        except self.model.DoesNotExist:
            raise NotFoundInBody(self.field_name) from None


class UsernameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="username", read_only=True, **kwargs)


# Pagination -------------------------------------------------------------------


INVALID_PAGE_SIZE = _("page_size must be a whole number from 1 to %(max)s.")


class _StrictPageSize:
    """A page size outside 1..max_page_size is refused (400), not silently replaced,
    so that the schema's bounds are the truth."""

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not value.isdigit() or not 1 <= int(value) <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [INVALID_PAGE_SIZE % {"max": self.max_page_size}]}, code="invalid"
            )
        return int(value)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
            elif parameter["name"] == getattr(self, "page_query_param", None):
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class PageNumberPagination(_StrictPageSize, pagination.PageNumberPagination):
    """For lists that stay small (federations, funds, entries of one fund)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class CursorPagination(_StrictPageSize, pagination.CursorPagination):
    """For lists that grow without bound: no COUNT(*), and as fast on page 10,000
    as on page 1. Needs a unique ordering; `-id` is one."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-id"

    def decode_cursor(self, request):
        # DRF checks a cursor's shape, not its position, which goes into the
        # query as an id: "abc" or a number past bigint would fail there.
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and not (position.isascii() and position.isdigit() and 0 < int(position) <= BIGINT_MAX):
            raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor


# Filters ----------------------------------------------------------------------


# A NUL in a filter never gets here: unionfunds.middleware.RefuseNulMiddleware.
FilterBackend = filters.DjangoFilterBackend


ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": BIGINT_MAX}


@extend_schema_field(ID_SCHEMA)
class IdFilter(filters.NumberFilter):
    """An id in the query string: a whole number within the database's range."""

    def __init__(self, **kwargs):
        kwargs.update(min_value=1, max_value=BIGINT_MAX, decimal_places=0, max_digits=19)
        super().__init__(**kwargs)


@extend_schema_field({"type": "integer", "minimum": 2000, "maximum": 2100})
class FiscalYearFilter(filters.NumberFilter):
    def __init__(self, **kwargs):
        kwargs.update(min_value=2000, max_value=2100, decimal_places=0, max_digits=4)
        super().__init__(**kwargs)


INVALID_BOOLEAN = _("Enter true or false.")


class TrueFalseField(forms.Field):
    """`true` or `false`, as the schema's booleans are written in a query string;
    anything else is refused, not taken for "no filter"."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in ("true", "false"):
            return value == "true"
        raise forms.ValidationError(INVALID_BOOLEAN, code="invalid")


@extend_schema_field({"type": "boolean"})
class TrueFalseFilter(filters.BooleanFilter):
    field_class = TrueFalseField

    def __init__(self, **kwargs):
        # The value as sent: DRF's boolean widget would read "yes" as no value at all.
        kwargs["widget"] = forms.TextInput
        super().__init__(**kwargs)


@extend_schema_field(ID_SCHEMA)
class SubtreeFilter(IdFilter):
    """`?federation=<id>`: rows of that federation and of everything below it.

    An id the user cannot see filters everything out, as if it did not exist.
    `paths` are the lookups of the federation path; a row matches if any matches.
    """

    def __init__(self, *paths: str, **kwargs):
        self.paths = paths
        kwargs.setdefault("label", _("Federation (with its whole subtree)"))
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        top = Federation.objects.visible_to(self.parent.request.user).filter(pk=int(value)).first()
        if top is None:
            return qs.none()
        condition = None
        for path in self.paths:
            q = Q(**{f"{path}__startswith": top.path})
            condition = q if condition is None else condition | q
        return qs.filter(condition)


# Views ------------------------------------------------------------------------


class ApiViewSet(viewsets.GenericViewSet):
    """Base of every resource: the queryset starts from the model's scoping method,
    and a POST with an `Idempotency-Key` runs in one transaction with its key."""

    model = None
    idempotent_posts = True  # documents the Idempotency-Key header
    pagination_class = PageNumberPagination
    filter_backends = [FilterBackend, OrderingFilter]
    ordering_fields = ["id"]

    def get_queryset(self):
        return self.scoped(self.model.objects.visible_to(self.request.user))

    def scoped(self, queryset):
        """Joins and prefetches for the serializer, so a page costs the same
        number of queries whatever its length."""
        return queryset

    def dispatch(self, request, *args, **kwargs):
        with contextlib.ExitStack() as self._transaction:
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        # Authentication, permissions and throttles first, outside the transaction:
        # the throttles' count must stand even when the POST it let through is
        # refused and rolled back (unionfunds.ratelimit).
        super().initial(request, *args, **kwargs)
        if idempotency.wanted(request):
            self._transaction.enter_context(transaction.atomic())
            self._idempotency_claim = idempotency.claim(request)

    def finalize_response(self, request, response, *args, **kwargs):
        claimed = getattr(self, "_idempotency_claim", None)
        if claimed is not None:
            idempotency.finish(claimed, response)
        return super().finalize_response(request, response, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)

    def valid(self, serializer_class=None) -> dict:
        """The request body, checked by `serializer_class` (the view's by default)."""
        serializer_class = serializer_class or self.get_serializer_class()
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def answer(self, instance, status_code: int = status.HTTP_200_OK) -> Response:
        """The record as the list shows it, read again through the scoped queryset."""
        instance = self.get_queryset().filter(pk=instance.pk).first() or instance
        return Response(self.get_serializer(instance).data, status=status_code)


class NotFoundView(APIView):
    """Any other path under /api/v1/: a 404 in the API's error shape, not a page."""

    authentication_classes = []
    permission_classes = [AllowAny]
    schema = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound(NOT_FOUND, "not_found")


def export_schema(extension: str):
    return extend_schema(
        summary=f"The list as {extension.upper()}: every row the filters select, not one page",
        filters=True,
        responses={(200, MEDIA_TYPES[extension]): BODY_TYPES[extension]},
    )


class ListRetrieveCreateViewSet(ListSpreadsheetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """List (also as a spreadsheet: `export` names its sheet) and read; `create`
    is written per resource, calling its service."""

    @export_schema("xlsx")
    @action(detail=False, methods=["get"], url_path="export/xlsx", url_name="export-xlsx")
    def export_xlsx(self, request, *args, **kwargs):
        full_ids_asked(request)
        return self.list_spreadsheet(request, "xlsx")

    @export_schema("csv")
    @action(detail=False, methods=["get"], url_path="export/csv", url_name="export-csv")
    def export_csv(self, request, *args, **kwargs):
        full_ids_asked(request)
        return self.list_spreadsheet(request, "csv")
