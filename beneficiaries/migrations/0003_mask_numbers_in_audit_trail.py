"""The audit trail records ID numbers and phones masked (the full number is on
the person's row, behind its own rules); events written before it did are
masked here, once. The trail is otherwise append-only: on PostgreSQL its
trigger is set aside for this one rewrite, inside the migration's transaction.
"""

from django.db import migrations
from django.db.models import Q

from beneficiaries.idnumber import mask
from beneficiaries.models import mask_phone

MASKS = {"id_number": mask, "phone": mask_phone}
TRIGGER = "unionfunds_audit_append_only"


def mask_personal_numbers(apps, schema_editor):
    AuditEvent = apps.get_model("unionfunds", "AuditEvent")
    table = schema_editor.quote_name(AuditEvent._meta.db_table)
    events = AuditEvent.objects.filter(Q(changes__has_key="id_number") | Q(changes__has_key="phone"))
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {TRIGGER}")
    for event in events.only("pk", "changes").iterator(chunk_size=2000):
        changes = event.changes
        for name, masked in MASKS.items():
            change = changes.get(name)
            if isinstance(change, dict):
                changes[name] = {
                    side: masked(value) if isinstance(value, str) else value for side, value in change.items()
                }
        AuditEvent.objects.filter(pk=event.pk).update(changes=changes)
    if postgres:
        schema_editor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [
        ("beneficiaries", "0002_seed_categories"),
        ("unionfunds", "0006_append_only_audit_trail"),
    ]

    operations = [migrations.RunPython(mask_personal_numbers, migrations.RunPython.noop, elidable=True)]
