"""The published OpenAPI schema: every operation lists the errors it can answer,
in the one error shape, and every POST its `Idempotency-Key` header."""

import functools
import unicodedata

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from unionfunds import text
from unionfunds.api import errors, idempotency, spreadsheets


class ErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Machine-readable, e.g. insufficient_funds."))
    message = serializers.CharField(help_text=_("In the language of Accept-Language."))
    field = serializers.CharField(allow_null=True, help_text=_("The input that is wrong; null for the whole request."))
    row = serializers.IntegerField(allow_null=True, help_text=_("1-based row of a list; null elsewhere."))


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("The first error's code."))
    message = serializers.CharField(help_text=_("The first error's message."))
    errors = ErrorItemSerializer(many=True)


def _codes(codes) -> str:
    return ", ".join(sorted(codes))


# Each status with the codes it answers (`unionfunds.api.errors`): a client may
# branch on them. 400 has more than can be listed (every field's own); docs/API.md.
ERROR_DESCRIPTIONS = {
    "400": format_lazy(
        "{} (invalid_amount, invalid_id_number, invalid_choice, invalid_date, required, null_character, "
        "invalid_idempotency_key, parse_error, …)",
        _("The request is invalid; each error names its field (and row)."),
    ),
    "401": format_lazy("{} (not_authenticated, authentication_failed)", _("No valid token or session.")),
    "403": format_lazy(
        "{} ({})", _("Your role does not allow this (or you entered it yourself)."), _codes(errors.FORBIDDEN_CODES)
    ),
    "404": format_lazy("{} (not_found)", _("No such record in your subtree (also for ids in the body).")),
    "409": format_lazy("{} ({})", _("Refused because of the current state."), _codes(errors.CONFLICT_CODES)),
    "413": format_lazy("{} (request_too_large)", _("The request body is too large.")),
    "415": format_lazy("{} (unsupported_media_type)", _("Send JSON.")),
    "429": format_lazy("{} (throttled, locked_out)", _("Too many requests for this token; see Retry-After.")),
}
ERRORS_BY_METHOD = {
    "GET": ("400", "401", "404", "429"),
    "POST": ("400", "401", "403", "404", "409", "413", "415", "429"),
    "PATCH": ("400", "401", "403", "404", "409", "413", "415", "429"),
    "DELETE": ("401", "429"),
}
ACCEPT_LANGUAGE = OpenApiParameter(
    "Accept-Language",
    {"type": "string"},
    OpenApiParameter.HEADER,
    description=_("zh-hans (the default) or en: the language of error messages."),
)
IDEMPOTENCY_KEY = OpenApiParameter(
    idempotency.HEADER,
    {"type": "string", "pattern": idempotency.KEY_PATTERN, "minLength": 1, "maxLength": 255},
    OpenApiParameter.HEADER,
    description=_(
        "The same key with the same body returns the first successful answer again and writes nothing new; "
        "with another body it answers 409 idempotency_conflict."
    ),
)


# An amount sent: 0.01 to 999,999,999,999.99, at most two decimals, no sign, no
# leading zero (the server also takes "1,000" and JSON numbers; a client need not).
AMOUNT_IN_PATTERN = r"^(?:0\.(?:0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,11}(?:\.[0-9]{1,2})?)$"
AMOUNT_OUT_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"


class MoneyFieldSchema(OpenApiSerializerFieldExtension):
    """What `MoneyField` takes and gives, as exactly as a pattern can say it:
    DRF's own schema for a DecimalField allows a sign and empty digits."""

    target_class = "unionfunds.api.base.MoneyField"

    def map_serializer_field(self, auto_schema, direction):
        if self.target.read_only or direction == "response":
            return {"type": "string", "format": "decimal", "pattern": AMOUNT_OUT_PATTERN, "example": "1000.00"}
        return {"type": "string", "format": "decimal", "pattern": AMOUNT_IN_PATTERN, "example": "1000.00"}


CREATING_ACTIONS = frozenset({"reverse"})
REPLAYED_HEADER = {
    "schema": {"type": "string", "enum": ["true"]},
    "description": _(
        "Present (true) when this is the stored answer to an earlier request with the same Idempotency-Key: "
        "nothing was written this time."
    ),
}


class AutoSchema(openapi.AutoSchema):
    def get_override_parameters(self):
        parameters = [*super().get_override_parameters(), ACCEPT_LANGUAGE]
        if self.method == "POST" and getattr(self.view, "idempotent_posts", False):
            parameters.append(IDEMPOTENCY_KEY)
        if self.export_extension():
            parameters += self.view.spreadsheet_parameters
        return parameters

    def export_extension(self) -> str | None:
        """The spreadsheet of an export operation; None for every other."""
        if not isinstance(self.view, spreadsheets.SpreadsheetMixin):
            return None
        return self.view.export_extension()

    def map_renderers(self, attribute: str) -> list:
        # The spreadsheet renderers serve `?format=` on the JSON operations for
        # curl and browsers; declared, they would make a generated client parse
        # a file as JSON. The export operations declare their file themselves.
        spreadsheet = {
            getattr(renderer, attribute) for renderer in (spreadsheets.CSVRenderer, spreadsheets.XLSXRenderer)
        }
        return [value for value in super().map_renderers(attribute) if value not in spreadsheet]

    def _is_create_operation(self) -> bool:
        # A reversal is a new entry, an archive review a new change: 201, as the server answers.
        creating = CREATING_ACTIONS | getattr(self.view, "creating_actions", frozenset())
        return super()._is_create_operation() or getattr(self.view, "action", None) in creating

    def _is_list_view(self, serializer=None) -> bool:
        # An export is one file, not a page of a list: no page parameters, no paged body.
        return not self.export_extension() and super()._is_list_view(serializer)

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        for parameter in (operation or {}).get("parameters", []):
            # Filters, ordering, cursor and page treat an empty value as absent.
            if parameter["in"] == "query" and parameter["name"] != "page_size":
                parameter["allowEmptyValue"] = True
        return operation

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in ERRORS_BY_METHOD.get(self.method, ()):
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]), code, direction=direction
                )
        exported = spreadsheets.MEDIA_TYPES.get(self.export_extension() or "")
        for code, response in responses.items():
            content = response.get("content", {})
            # Each operation answers one media type: an export its file, the
            # rest JSON (the renderers that serve `?format=` are not declared),
            # and errors are always JSON.
            for media_type, schema in spreadsheets.RESPONSE_SCHEMAS.items():
                if media_type == exported and code.startswith("2"):
                    content[media_type] = {"schema": dict(schema)}
                else:
                    content.pop(media_type, None)
            if exported and code.startswith("2"):
                content.pop("application/json", None)
            if code.startswith("2") and self.method == "POST" and getattr(self.view, "idempotent_posts", False):
                response.setdefault("headers", {})[idempotency.REPLAYED_HEADER] = REPLAYED_HEADER
        return responses


# Texts: what unionfunds.text refuses, said in the schema ------------------------------

NO_NUL = "^[^\\u0000]*$"
# Request properties that are notes (line breaks kept); every other free string is one line.
NOTE_PROPERTIES = frozenset({"note", "reason", "override_reason"})
# Request bodies whose strings are not texts of the books.
NOT_TEXTS = frozenset({"CredentialsRequest"})


@functools.cache
def text_patterns() -> tuple[str, str]:
    """(one line, note): a character class of everything `unionfunds.text`
    refuses, from Unicode's own categories, so the schema and the server agree."""
    refused_in_line = [chr(point) for point in range(0x110000) if unicodedata.category(chr(point)) in ("Cc", "Cf")]
    refused_in_note = sorted(
        {c for c in refused_in_line if unicodedata.category(c) == "Cc" and c not in text.NOTE_WHITESPACE}
        | text.DIRECTION_CONTROLS
    )
    return f"^[^{_ranges(refused_in_line)}]*$", f"^[^{_ranges(refused_in_note)}]*$"


def _ranges(characters: list[str]) -> str:
    # The Basic Multilingual Plane only: the schema tools' regex engines (without
    # the u flag) cannot name a character beyond it. The server also refuses the
    # few format characters there (U+110BD, U+E0001, tags).
    points = sorted(ord(c) for c in characters if ord(c) <= 0xFFFF)
    parts, start = [], points[0]
    for previous, point in zip(points, [*points[1:], None], strict=True):
        if point != previous + 1:
            parts.append(_escaped(start) if start == previous else f"{_escaped(start)}-{_escaped(previous)}")
            start = point
    return "".join(parts)


def _escaped(point: int) -> str:
    return f"\\u{point:04x}"  # read alike by Python, ECMAScript and JSON Schema tools


def text_rules_hook(result, generator, request, public):
    """drf-spectacular postprocessing: each free text a request sends carries the
    pattern and the length the services hold it to (`unionfunds.text`)."""
    line, note = text_patterns()
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else ():
                schema = parameter.get("schema", {})
                free = schema.get("type") == "string" and not {"format", "enum", "pattern"} & set(schema)
                if parameter.get("in") == "query" and free:
                    # No address may hold NUL (unionfunds.middleware): 400 null_character.
                    schema["pattern"] = NO_NUL
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if not name.endswith("Request") or name in NOT_TEXTS:
            continue
        for prop_name, prop in component.get("properties", {}).items():
            if prop.get("type") != "string" or {"format", "enum", "pattern", "$ref"} & set(prop):
                continue
            if prop_name in NOTE_PROPERTIES:
                prop["pattern"] = note
                prop["maxLength"] = min(prop.get("maxLength", text.NOTE_MAX), text.NOTE_MAX)
            else:
                prop["pattern"] = line
    return result
