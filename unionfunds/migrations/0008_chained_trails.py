"""The audit trail and the export log as hash chains, one per user
(`unionfunds.trail`). What was written before is chained here, once, in the
order it was written; on PostgreSQL the trail's append-only trigger is set
aside for this one rewrite, inside the migration's transaction."""

from django.db import migrations, models

TRIGGER = "unionfunds_audit_append_only"


def chain_what_was_written(apps, schema_editor):
    from unionfunds.trail import AUDIT, EXPORT, FIELDS, GENESIS, PAYLOAD, canonical, content, head_key, link

    TrailHead = apps.get_model("unionfunds", "TrailHead")
    postgres = schema_editor.connection.vendor == "postgresql"
    for trail, model_name in ((AUDIT, "AuditEvent"), (EXPORT, "ExportRecord")):
        model = apps.get_model("unionfunds", model_name)
        table = schema_editor.quote_name(model._meta.db_table)
        if postgres and trail == AUDIT:
            schema_editor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {TRIGGER}")
        heads = {}
        rows = model.objects.order_by("id").values_list("id", PAYLOAD[trail], *FIELDS[trail])
        for row_id, payload, *values in rows.iterator(chunk_size=2000):
            user_id = values[FIELDS[trail].index("user_id")]
            seq, prev = heads.get(user_id, (0, GENESIS))
            seq += 1
            prev = link(prev, trail, user_id, seq, content(values, canonical(payload)))
            heads[user_id] = (seq, prev)
            model._base_manager.filter(pk=row_id).update(seq=seq, hash=prev)
        TrailHead.objects.bulk_create(
            TrailHead(key=head_key(trail, user_id), seq=seq, hash=hash_) for user_id, (seq, hash_) in heads.items()
        )
        if postgres and trail == AUDIT:
            schema_editor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [
        ("unionfunds", "0007_idempotency_doors"),
    ]

    operations = [
        migrations.CreateModel(
            name="TrailHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=40, unique=True)),
                ("seq", models.PositiveBigIntegerField(default=0)),
                ("hash", models.CharField(max_length=64)),
            ],
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, max_length=64, verbose_name="hash"),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(blank=True, null=True, verbose_name="position"),
        ),
        migrations.AddField(
            model_name="exportrecord",
            name="hash",
            field=models.CharField(blank=True, max_length=64, verbose_name="hash"),
        ),
        migrations.AddField(
            model_name="exportrecord",
            name="seq",
            field=models.PositiveBigIntegerField(blank=True, null=True, verbose_name="position"),
        ),
        migrations.RunPython(chain_what_was_written, migrations.RunPython.noop, elidable=True),
    ]
