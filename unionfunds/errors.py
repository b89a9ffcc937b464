"""Refusals carry a machine-readable code (the API's error codes) and a message
that is translated when shown, so every door reports the same rule the same way."""

from django.core.exceptions import ValidationError


def refuse(message, code: str, /, *, field: str | None = None, **params) -> ValidationError:
    # Positional-only, so that a message parameter may be called `code` too.
    error = ValidationError(message, code=code, params=params or None)
    if field is not None:
        return ValidationError({field: [error]})
    return error
