"""`rollups/<federation id>/` (API.md, Roll-up body): the same figures as the
roll-up page, from the same `allocations.rollups.rollup`; `?format=csv|xlsx`
answers with the page's sheet of them."""

from django.http import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from allocations import archive_rollups, rollups
from allocations.forms import RollupFilterForm
from allocations.models import AssistanceType, Purpose, Source
from allocations.views.rollup import rollup_filenames, rollup_sheet
from unionfunds import downloads, exportlog
from unionfunds.api.base import MoneyField
from unionfunds.api.spreadsheets import BODY_TYPES, MEDIA_TYPES, SpreadsheetMixin, filters_of
from unionfunds.models import Federation, Level

SOURCES = ["allocation", *Source.values]


class RollupFiltersSerializer(serializers.Serializer):
    fiscal_year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)
    purpose = serializers.ChoiceField(choices=Purpose.choices, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    assistance_type = serializers.ChoiceField(choices=AssistanceType.choices, required=False)

    def validate(self, data):
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise serializers.ValidationError({"date_to": _("The end date is before the start date.")})
        return data


class FederationBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Federation
        fields = ["id", "code", "name", "level"]


def _amounts_by(keys: list[str], help_text: str) -> serializers.DictField:
    return serializers.DictField(
        child=MoneyField(read_only=True),
        help_text=f"{help_text} Keys: {', '.join(keys)}; keys with a zero amount are left out.",
    )


class RaisedSerializer(serializers.Serializer):
    total = MoneyField(read_only=True)
    by_source = _amounts_by(SOURCES, "Raised by source; `allocation` is money sent in from outside the scope.")
    by_level = _amounts_by(Level.values, "Raised by the level of the federation whose money it was.")


class FiguresSerializer(serializers.Serializer):
    raised = RaisedSerializer(read_only=True)
    allocated_out = MoneyField(read_only=True)
    disbursed = MoneyField(read_only=True)
    person_times = serializers.IntegerField(read_only=True)
    persons = serializers.IntegerField(read_only=True)
    balance = MoneyField(read_only=True, help_text="What the matching funds hold now.")


class ChildFiguresSerializer(FiguresSerializer):
    federation = FederationBriefSerializer(read_only=True)


class RollupSerializer(serializers.Serializer):
    federation = FederationBriefSerializer(read_only=True)
    total = FiguresSerializer(read_only=True)
    own = FiguresSerializer(read_only=True, help_text="The federation's own funds (本级).")
    children = ChildFiguresSerializer(many=True, read_only=True)


def figures_body(figures: rollups.Figures) -> dict:
    return {
        "raised": {
            "total": figures.raised,
            "by_source": {key: value for key, value in figures.raised_by_source.items() if value},
            "by_level": {key: value for key, value in figures.raised_by_level.items() if value},
        },
        "allocated_out": figures.allocated_out,
        "disbursed": figures.disbursed,
        "person_times": figures.person_times,
        "persons": figures.persons,
        "balance": figures.balance,
    }


class RollupView(SpreadsheetMixin, APIView):
    def offers_spreadsheets(self) -> bool:
        return True  # its one operation is the roll-up itself

    @extend_schema(
        summary="The roll-up of a federation's subtree: total, own funds, each child",
        parameters=[RollupFiltersSerializer],
        responses=RollupSerializer,
    )
    def get(self, request, federation_id: int):
        federation = get_object_or_404(Federation.objects.visible_to(request.user), pk=federation_id)
        query = RollupFiltersSerializer(data={k: v for k, v in request.query_params.items() if v != ""})
        query.is_valid(raise_exception=True)
        result = rollups.rollup(federation, rollups.Filters(**query.validated_data))
        extension = self.export_extension() or self.spreadsheet_format()
        if extension:
            return self.spreadsheet(federation, result, extension)
        body = {
            "federation": federation,
            "total": figures_body(result.total),
            "own": figures_body(result.own),
            "children": [{"federation": child, **figures_body(figures)} for child, figures in result.children],
        }
        return Response(RollupSerializer(body).data)

    def spreadsheet(self, federation: Federation, result: rollups.Rollup, extension: str) -> HttpResponseBase:
        """The roll-up page's sheet; the form only words the filters above the table."""
        request = self.request
        form = RollupFilterForm(request.query_params)
        sheet = rollup_sheet(result, form, request.user)
        query = filters_of(request)

        def finished():
            exportlog.record(
                user=request.user,
                what="rollup",
                format=extension,
                query=query,
                rows=len(result.children) + 1,
                full_ids=False,
                federation=federation,
            )

        filename, fallback = rollup_filenames(federation, form, extension)
        return downloads.sheet_response(sheet, extension, filename, fallback=fallback, finished=finished)


class RollupExportView(RollupView):
    """`rollups/<id>/export/xlsx/` and `…/csv/`: the roll-up as the page exports it."""

    extension = ""

    def export_extension(self) -> str | None:
        return self.extension


def rollup_export_view(extension: str) -> type[RollupExportView]:
    """The export view of one spreadsheet kind: one media type per operation in the schema."""

    @extend_schema(
        summary=f"The roll-up as {extension.upper()}, as the roll-up page exports it",
        parameters=[RollupFiltersSerializer],
        responses={(200, MEDIA_TYPES[extension]): BODY_TYPES[extension]},
    )
    def get(self, request, federation_id: int):
        return RollupView.get(self, request, federation_id)

    return type(f"Rollup{extension.title()}View", (RollupExportView,), {"extension": extension, "get": get})


class ArchiveRollupQuery(serializers.Serializer):
    year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)


class ArchiveFiguresSerializer(serializers.Serializer):
    in_archive = serializers.IntegerField(read_only=True, help_text="Households in the archive at the period's end.")
    filed = serializers.IntegerField(read_only=True, help_text="Households admitted in the period.")
    closed_out = serializers.IntegerField(read_only=True, help_text="Entries closed as out of hardship (脱困).")
    relapsed = serializers.IntegerField(read_only=True, help_text="Entries reopened after closing (返困).")
    helped = serializers.IntegerField(read_only=True, help_text="Households in the archive paid in the period.")
    share_helped = serializers.DecimalField(
        max_digits=4, decimal_places=3, read_only=True, allow_null=True, help_text="helped / in_archive."
    )


class ChildArchiveFiguresSerializer(ArchiveFiguresSerializer):
    federation = FederationBriefSerializer(read_only=True)


class ArchiveRollupSerializer(serializers.Serializer):
    federation = FederationBriefSerializer(read_only=True)
    year = serializers.IntegerField(read_only=True, allow_null=True)
    until = serializers.DateField(read_only=True, help_text="The last day counted: the year's end, or today.")
    total = ArchiveFiguresSerializer(read_only=True)
    own = ArchiveFiguresSerializer(read_only=True, help_text="Households filed by the federation itself.")
    children = ChildArchiveFiguresSerializer(many=True, read_only=True)


class ArchiveRollupView(APIView):
    @extend_schema(
        summary="The hardship archive's roll-up of a federation's subtree, for a year or all time",
        parameters=[ArchiveRollupQuery],
        responses=ArchiveRollupSerializer,
    )
    def get(self, request, federation_id: int):
        federation = get_object_or_404(Federation.objects.visible_to(request.user), pk=federation_id)
        query = ArchiveRollupQuery(data={k: v for k, v in request.query_params.items() if v != ""})
        query.is_valid(raise_exception=True)
        result = archive_rollups.archive_rollup(federation, query.validated_data.get("year"))
        body = {
            "federation": federation,
            "year": result.year,
            "until": result.until,
            "total": result.total,
            "own": result.own,
            "children": [
                {"federation": child, **vars(figures), "share_helped": figures.share_helped}
                for child, figures in result.children
            ],
        }
        return Response(ArchiveRollupSerializer(body).data)
