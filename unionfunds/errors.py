"""Refusals carry a machine-readable code (the API's error codes) and a message
that is translated when shown, so every door reports the same rule the same way.

A single entry is refused with `refuse` (the field it concerns, a code, a
message); a list is refused with `ListRefused`, which holds every problem of
every row at once. A single entry is the one-row case of a list, so the services
check both the same way and `one_row` turns a list's refusal into a single
entry's.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

INVALID_CHOICE = _("%(value)s is not one of the allowed values.")


def refuse(message, code: str, /, *, field: str | None = None, **params: object) -> ValidationError:
    # Positional-only, so that a message parameter may be called `code` too.
    error = ValidationError(message, code=code, params=params or None)
    if field is not None:
        return ValidationError({field: [error]})
    return error


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One thing wrong with a list: its 1-based row (None for the list as a
    whole), the field, the refusal's code and its message."""

    row: int | None
    field: str
    code: str
    message: str


class ListRefused(ValidationError):
    """Every problem of a list, by row and field; nothing was written."""

    def __init__(self, problems: list[RowProblem]):
        self.problems = sorted(problems, key=lambda p: (p.row or 0, p.field))
        super().__init__([ValidationError(p.message, code=p.code) for p in self.problems])


def problems_of(error: ValidationError, row: int | None, default_field: str = "") -> list[RowProblem]:
    """A single refusal (`refuse`, a form's or model's `ValidationError`) as the
    problems of one row of a list."""
    if isinstance(error, ListRefused):
        return list(error.problems)
    if hasattr(error, "error_dict"):
        pairs = [(name, single) for name, errors in error.error_dict.items() for single in errors]
    else:
        pairs = [(default_field, single) for single in error.error_list]
    return [
        RowProblem(row, field if field != "__all__" else default_field, single.code or "invalid", " ".join(single))
        for field, single in pairs
    ]


def one_row(refused: ListRefused, fields: dict[str, str] | None = None) -> ValidationError:
    """A one-row list's refusal as a single entry's: each problem next to its
    field (renamed by `fields` where the single entry calls it otherwise)."""
    fields = fields or {}
    by_field: dict[str, list[ValidationError]] = {}
    for problem in refused.problems:
        name = fields.get(problem.field, problem.field)
        by_field.setdefault(name, []).append(ValidationError(problem.message, code=problem.code))
    return ValidationError(by_field)


def nested(error: ValidationError, prefix: str, fields: tuple[str, ...]) -> ValidationError:
    """A refusal of these fields shown under `prefix` (`person.id_number`), for
    a request that sends them as one object."""
    if not hasattr(error, "error_dict"):
        return error
    return ValidationError(
        {f"{prefix}.{name}" if name in fields else name: errors for name, errors in error.error_dict.items()}
    )
