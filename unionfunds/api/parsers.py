"""The API's only parser (settings.REST_FRAMEWORK); kept apart from the views
because DRF imports it while defining `APIView`."""

import json
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, parsers

JSON_PARSE_ERROR = _("JSON parse error: %(error)s")


class JSONParser(parsers.JSONParser):
    """JSON whose numbers with a fraction are read as `Decimal`, never `float`: an
    amount sent as 1000.10 stays exact. (The body's size is limited by Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE, answered with 413 by the exception handler.)"""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            return json.loads(stream.read().decode(encoding), parse_float=Decimal, parse_constant=_refuse_constant)
        except ValueError as error:
            raise exceptions.ParseError(JSON_PARSE_ERROR % {"error": error}) from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
