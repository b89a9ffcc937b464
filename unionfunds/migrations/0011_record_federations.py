"""Federations created before the trail covered them (the division tree loaded by
`load_divisions`, which wrote none) get their "federation.created" event now, as
they stand, chained at the end of the no-user trail: from here on, a federation's
code, name, level or parent changed outside the application is reported by
`verify_ledger --audit`."""

from django.db import migrations
from django.utils import timezone

FIELDS = ("code", "name", "level", "parent_id")


def record_federations(apps, schema_editor):
    from unionfunds.trail import AUDIT, GENESIS, canonical, content, head_key, link
    from unionfunds.trail import FIELDS as WORDS

    Federation = apps.get_model("unionfunds", "Federation")
    AuditEvent = apps.get_model("unionfunds", "AuditEvent")
    TrailHead = apps.get_model("unionfunds", "TrailHead")
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not Federation.objects.exists():
        return
    content_type, _ = ContentType.objects.get_or_create(app_label="unionfunds", model="federation")
    recorded = AuditEvent.objects.filter(content_type=content_type, action="federation.created").values("object_id")
    missing = Federation.objects.exclude(pk__in=recorded).order_by("path").values_list("pk", *FIELDS)
    head, _ = TrailHead.objects.get_or_create(key=head_key(AUDIT, None), defaults={"seq": 0, "hash": GENESIS})
    at = timezone.now()
    batch = []
    for pk, *values in missing.iterator(chunk_size=2000):
        said = dict(zip(("code", "name", "level", "parent"), values, strict=True))
        changes = {name: {"before": None, "after": value} for name, value in said.items() if value is not None}
        event = AuditEvent(
            at=at,
            user_id=None,
            action="federation.created",
            content_type=content_type,
            object_id=pk,
            object_repr=said["name"][:200],
            federation_id=pk,
            changes=changes,
            reason="",
        )
        head.seq += 1
        head.hash = link(
            head.hash, AUDIT, None, head.seq, content([getattr(event, name) for name in WORDS[AUDIT]], canonical(changes))
        )
        event.seq, event.hash = head.seq, head.hash
        batch.append(event)
        if len(batch) == 2000:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    AuditEvent.objects.bulk_create(batch)
    head.save()


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("unionfunds", "0010_rate_windows"),
    ]

    operations = [migrations.RunPython(record_federations, migrations.RunPython.noop)]
