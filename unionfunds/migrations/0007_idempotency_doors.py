"""Idempotency keys by door: a form's submission keys apart from the API's
Idempotency-Key header, so that no key a client sends can stand for a form's.
Form keys were written "form:<submission>" with the fingerprint "form"; they
move to the form door under their submission alone."""

from django.conf import settings
from django.db import migrations, models


def forms_to_their_door(apps, schema_editor):
    IdempotencyKey = apps.get_model("unionfunds", "IdempotencyKey")
    for key in IdempotencyKey.objects.filter(fingerprint="form", key__startswith="form:").iterator():
        key.door, key.key = "form", key.key.removeprefix("form:")
        key.save(update_fields=["door", "key"])


class Migration(migrations.Migration):

    dependencies = [
        ('unionfunds', '0006_append_only_audit_trail'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='idempotencykey',
            name='idempotency_key_unique_per_user',
        ),
        migrations.AddField(
            model_name='idempotencykey',
            name='door',
            field=models.CharField(choices=[('api', 'API (Idempotency-Key)'), ('form', 'form (submitted once)')], default='api', max_length=8, verbose_name='door'),
        ),
        migrations.RunPython(forms_to_their_door, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name='idempotencykey',
            constraint=models.UniqueConstraint(fields=('user', 'door', 'key'), name='idempotency_key_unique_per_user_and_door'),
        ),
    ]
