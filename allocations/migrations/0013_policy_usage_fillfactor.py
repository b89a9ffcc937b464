"""Room on each page of the running totals per rule, subject and year, so that
adding a payment to one rewrites it on its own page (a heap-only update) and
no index is touched: every payment of a capped fund updates one of these rows."""

from django.db import migrations


def fillfactor(percent: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE allocations_policyusage SET (fillfactor = {percent})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("allocations", "0012_archive_and_policy_rules")]

    operations = [migrations.RunPython(fillfactor(70), fillfactor(100))]
