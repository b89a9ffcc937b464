"""The export log: one line per spreadsheet anyone takes out of the system
(who, what, which filters, how many rows, whether ID numbers were shown in
full), whatever the door. Auditors read it on the admin site."""

from django.db import transaction
from django.utils import timezone

from unionfunds import trail
from unionfunds.models import ExportRecord, Federation


def record(
    *, user, what: str, format: str, query, rows: int, full_ids: bool, federation: Federation | None = None
) -> ExportRecord:
    """The export log's line: who, what, which filters, how many rows, when."""
    filters = {key: values if len(values) > 1 else values[0] for key, values in _lists(query).items() if any(values)}
    line = ExportRecord(
        at=timezone.now(),
        user=user,
        federation=federation or home_federation(user),
        what=what,
        format=format,
        filters=filters,
        row_count=rows,
        full_id_numbers=full_ids,
    )
    with transaction.atomic():
        words = [getattr(line, name) for name in trail.FIELDS[trail.EXPORT]]
        [(line.seq, line.hash)] = trail.chain(
            trail.EXPORT, line.user_id, [trail.content(words, trail.canonical(line.filters))]
        )
        line.save(force_insert=True)
    return line


def home_federation(user) -> Federation:
    """The top of what the user sees: where an export of theirs is filed."""
    visible = Federation.objects.visible_to(user).order_by("depth", "path")
    return visible.first() or Federation.objects.order_by("path").first()


def _lists(query) -> dict[str, list]:
    if query is None:
        return {}
    if hasattr(query, "lists"):
        return {key: [v for v in values if key not in ("format", "full_ids", "page")] for key, values in query.lists()}
    return {key: value if isinstance(value, list) else [value] for key, value in dict(query).items()}
