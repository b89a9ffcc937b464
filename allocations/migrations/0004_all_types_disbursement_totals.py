"""Adds the all-types row (assistance_type "") of each fund's disbursement totals,
which an unfiltered roll-up now reads instead of summing one row per type."""

from django.db import migrations, models

ALL_TYPES = ""


def add_all_types_rows(apps, schema_editor):
    table = apps.get_model("allocations", "DisbursementTotal")._meta.db_table
    schema_editor.execute(
        f"INSERT INTO {table} (fund_id, assistance_type, amount, person_times) "
        f"SELECT fund_id, '{ALL_TYPES}', SUM(amount), SUM(person_times) FROM {table} "
        f"WHERE assistance_type <> '{ALL_TYPES}' GROUP BY fund_id"
    )


def remove_all_types_rows(apps, schema_editor):
    apps.get_model("allocations", "DisbursementTotal").objects.filter(assistance_type=ALL_TYPES).delete()


class Migration(migrations.Migration):
    dependencies = [("allocations", "0003_person_counts")]

    operations = [
        migrations.AddIndex(
            model_name="disbursementtotal",
            index=models.Index(
                fields=["assistance_type", "fund"], include=("amount", "person_times"), name="disbursement_total_type"
            ),
        ),
        # After the index: PostgreSQL refuses DDL on a table with pending
        # foreign-key checks from rows written in the same transaction.
        migrations.RunPython(add_all_types_rows, remove_all_types_rows),
    ]
