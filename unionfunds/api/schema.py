"""The published OpenAPI schema: every operation lists the errors it can answer,
in the one error shape, and every POST its `Idempotency-Key` header."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from unionfunds.api import idempotency, spreadsheets


class ErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Machine-readable, e.g. insufficient_funds."))
    message = serializers.CharField(help_text=_("In the language of Accept-Language."))
    field = serializers.CharField(allow_null=True, help_text=_("The input that is wrong; null for the whole request."))
    row = serializers.IntegerField(allow_null=True, help_text=_("1-based row of a list; null elsewhere."))


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("The first error's code."))
    message = serializers.CharField(help_text=_("The first error's message."))
    errors = ErrorItemSerializer(many=True)


ERROR_DESCRIPTIONS = {
    "400": _("The request is invalid; each error names its field (and row)."),
    "401": _("No valid token or session."),
    "403": _("Your role does not allow this (or you entered it yourself)."),
    "404": _("No such record in your subtree (also for ids in the body)."),
    "409": _("Refused because of the current state: insufficient_funds, not_pending, duplicate_payment, …"),
    "413": _("The request body is too large."),
    "415": _("Send JSON."),
    "429": _("Too many requests for this token; see Retry-After."),
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


class AutoSchema(openapi.AutoSchema):
    def get_override_parameters(self):
        parameters = [*super().get_override_parameters(), ACCEPT_LANGUAGE]
        if self.method == "POST" and getattr(self.view, "idempotent_posts", False):
            parameters.append(IDEMPOTENCY_KEY)
        if self.offers_spreadsheets():
            parameters += self.view.spreadsheet_parameters
        return parameters

    def offers_spreadsheets(self) -> bool:
        return isinstance(self.view, spreadsheets.SpreadsheetMixin) and self.view.offers_spreadsheets()

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
        if self.offers_spreadsheets():
            for code, response in responses.items():
                content = response.get("content", {})
                for media_type, schema in spreadsheets.RESPONSE_SCHEMAS.items():
                    # The renderers' media types came with the body's schema; a
                    # spreadsheet is a file, and errors are always JSON.
                    if media_type in content and code.startswith("2"):
                        content[media_type] = {"schema": dict(schema)}
                    else:
                        content.pop(media_type, None)
        return responses
