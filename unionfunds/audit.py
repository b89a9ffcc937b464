"""The audit trail: one call per change, inside the service's transaction."""

from datetime import date, datetime
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import models

from unionfunds.models import AuditEvent, Federation


def snapshot(instance: models.Model, fields: list[str] | tuple[str, ...]) -> dict:
    """The listed fields as JSON-ready values (foreign keys by id)."""
    values = {}
    for name in fields:
        field = instance._meta.get_field(name)
        if field.many_to_many:
            values[name] = sorted(str(item) for item in getattr(instance, name).all()) if instance.pk else []
            continue
        value = getattr(instance, field.attname)
        values[name] = _jsonable(value)
    return values


def diff(before: dict, after: dict) -> dict:
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def created(values: dict, **more) -> dict:
    """The changes of a record created with these field values (foreign keys by
    id), as `diff({}, snapshot(...))` records them: built without the instance,
    for lists written in bulk."""
    return {
        name: {"before": None, "after": _jsonable(value)}
        for name, value in {**values, **more}.items()
        if value is not None
    }


def log(
    instance: models.Model,
    action: str,
    *,
    user,
    federation: Federation | None,
    changes: dict | None = None,
    reason: str = "",
) -> AuditEvent:
    return AuditEvent.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        action=action,
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=False),
        object_id=instance.pk,
        object_repr=str(instance)[:200],
        federation=federation,
        changes=changes or {},
        reason=reason,
    )


def history(instance: models.Model):
    return AuditEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=False), object_id=instance.pk
    ).order_by("at", "id")


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
