"""`…/export/xlsx/` and `…/export/csv/` (and `?format=csv|xlsx` on the list
itself): every list of the API, and the roll-up, as a spreadsheet (API.md, Spreadsheets).

The schema describes only the export operations: each answers one media type,
so a client generated from the schema downloads a file where it expects one.
`?format=` on the JSON operation stays for curl and browsers, undeclared: a
generated client would parse the file it returns as JSON.

The sheets are the ones the pages export (`unionfunds.listexports`, the roll-up
page's `rollup_sheet`), filled with what the API's own filters select: every
matching row, not one page. DRF reads `?format=` (and `Accept:`) as a choice of
renderer, so the two formats are renderers; the view then answers with the file
itself, streamed, instead of data for a renderer to turn into bytes.
"""

from django import forms
from django.db.models import QuerySet
from django.http import HttpResponseBase, QueryDict
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, renderers, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from unionfunds import downloads, exportlog, listexports

FULL_IDS = "full_ids"
# Paging says which rows to show, not which rows match: a spreadsheet has them all.
NOT_FILTERS = ("page", "page_size", "cursor", "format", FULL_IDS)


class SpreadsheetRenderer(renderers.BaseRenderer):
    """Chosen by `?format=` or `Accept:`; the view answers with the file itself."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise NotImplementedError("A spreadsheet is written by its view, never rendered from data.")


class CSVRenderer(SpreadsheetRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"


class XLSXRenderer(SpreadsheetRenderer):
    media_type = downloads.XLSX
    format = "xlsx"
    charset = None
    render_style = "binary"


# What the schema says of them (unionfunds.api.schema).
RESPONSE_SCHEMAS = {
    # Text (UTF-8 with a byte-order mark), so that a generated client hands it over as text.
    CSVRenderer.media_type: {"type": "string"},
    XLSXRenderer.media_type: {"type": "string", "format": "binary"},
}
FULL_IDS_PARAMETER = OpenApiParameter(
    FULL_IDS,
    bool,
    OpenApiParameter.QUERY,
    description=gettext_lazy(
        "With format=csv or xlsx: ID numbers and phones in full where your role allows it (masked elsewhere); "
        "the export log records that you asked."
    ),
)


# The export operation of a viewset -> the spreadsheet it answers.
EXPORT_ACTIONS = {"export_xlsx": XLSXRenderer.format, "export_csv": CSVRenderer.format}
MEDIA_TYPES = {XLSXRenderer.format: XLSXRenderer.media_type, CSVRenderer.format: CSVRenderer.media_type}
BODY_TYPES = {XLSXRenderer.format: OpenApiTypes.BINARY, CSVRenderer.format: OpenApiTypes.STR}


class SpreadsheetMixin:
    """Offers csv and xlsx beside JSON to the actions in `spreadsheet_actions`."""

    spreadsheet_actions: tuple[str, ...] = ()
    spreadsheet_parameters: tuple[OpenApiParameter, ...] = ()

    def export_extension(self) -> str | None:
        """The one spreadsheet an export operation answers; None for the JSON operations."""
        return EXPORT_ACTIONS.get(getattr(self, "action", None) or "")

    def offers_spreadsheets(self) -> bool:
        action = getattr(self, "action", None)
        # A method the route does not have (no action) answers 405 whatever its
        # `?format=`, not 404 for a format its renderers do not know.
        return action is None or action in self.spreadsheet_actions

    def get_renderers(self):
        renderers = super().get_renderers()
        if self.offers_spreadsheets():
            renderers += [CSVRenderer(), XLSXRenderer()]
        return renderers

    def spreadsheet_format(self) -> str | None:
        """The spreadsheet's extension, csv or xlsx; None when JSON was asked for."""
        renderer = getattr(self.request, "accepted_renderer", None)
        return renderer.format if isinstance(renderer, SpreadsheetRenderer) else None

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response) and isinstance(
            getattr(request, "accepted_renderer", None), SpreadsheetRenderer
        ):
            # Not the file: an error, in the API's one JSON error shape.
            json = self.get_renderers()[0]
            request.accepted_renderer, request.accepted_media_type = json, json.media_type
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.offers_spreadsheets():
            patch_vary_headers(response, ["Accept"])
        return response


class ListSpreadsheetMixin(SpreadsheetMixin):
    """`export/xlsx/`, `export/csv/` (`unionfunds.api.base`) and `?format=csv|xlsx`
    of a list: the rows the list's filters and ordering select, all of them, as
    the sheet `export` of `unionfunds.listexports`."""

    export: str = ""
    spreadsheet_actions = ("list", *EXPORT_ACTIONS)
    spreadsheet_parameters = (FULL_IDS_PARAMETER,)

    def list(self, request, *args, **kwargs):
        if self.spreadsheet_asked():
            return self.list_spreadsheet(request)
        return super().list(request, *args, **kwargs)

    def spreadsheet_asked(self) -> bool:
        full_ids_asked(self.request)  # a wrong value is refused on a JSON list too: the schema shows it there
        return self.spreadsheet_format() is not None

    def list_spreadsheet(self, request: Request, extension: str | None = None) -> HttpResponseBase:
        extension = extension or self.spreadsheet_format()
        full_ids = full_ids_asked(request)
        spec = listexports.EXPORTS[self.export]
        queryset = self.filter_queryset(self.get_queryset()).select_related(*spec.related)
        if spec.prefetch:
            queryset = queryset.prefetch_related(*spec.prefetch)
        if not queryset.query.order_by:  # no `?ordering=`: the order of the pages' sheets
            queryset = queryset.order_by(*spec.ordering)
        counter = listexports.Counter()
        sheet = listexports.build_sheet(
            self.export,
            request.user,
            request.query_params,
            full_ids=full_ids,
            counter=counter,
            queryset=queryset,
            form=(form := self.filter_form(queryset)),
        )
        query = filters_of(request)

        def finished():
            exportlog.record(
                user=request.user, what=self.export, format=extension, query=query, rows=counter.rows, full_ids=full_ids
            )

        filename, fallback = listexports.filenames(self.export, request.user, form, extension)
        return downloads.sheet_response(sheet, extension, filename, fallback=fallback, finished=finished)

    def filter_form(self, queryset: QuerySet) -> forms.Form | None:
        """The list filters' form, for the filters line above the table."""
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is None:
            return None
        return filterset_class(self.request.query_params, queryset=queryset, request=self.request).form


def full_ids_asked(request: Request) -> bool:
    value = request.query_params.get(FULL_IDS, "")
    if value == "":
        return False
    try:
        return serializers.BooleanField().to_internal_value(value)
    except exceptions.ValidationError as error:
        raise exceptions.ValidationError({FULL_IDS: error.detail}) from None


def filters_of(request: Request) -> QueryDict:
    """The query string as the export log keeps it: the filters and the ordering."""
    query = request.query_params.copy()
    for key in NOT_FILTERS:
        query.pop(key, None)
    return query
