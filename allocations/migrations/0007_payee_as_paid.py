"""Payments say who was paid, and ledger rows say which serialisation hashed them.

Existing payments take the name and ID number their person or unit has now (the
best there is); existing ledger rows are version 1, hashed without those words
and without the fund's owner, and keep verifying as such. New rows are version 2.
"""

from django.db import migrations, models


def copy_payees(apps, schema_editor):
    Disbursement = apps.get_model("allocations", "Disbursement")
    Beneficiary = apps.get_model("beneficiaries", "Beneficiary")
    Unit = apps.get_model("beneficiaries", "Unit")
    person = Beneficiary.objects.filter(pk=models.OuterRef("beneficiary_id"))
    Disbursement.objects.filter(beneficiary__isnull=False).update(
        payee_name=models.Subquery(person.values("name")[:1]),
        payee_id_number=models.Subquery(person.values("id_number")[:1]),
    )
    unit = Unit.objects.filter(pk=models.OuterRef("unit_id"))
    Disbursement.objects.filter(unit__isnull=False).update(payee_name=models.Subquery(unit.values("name")[:1]))


class Migration(migrations.Migration):
    dependencies = [
        ("allocations", "0006_lean_indexes"),
        ("beneficiaries", "0003_mask_numbers_in_audit_trail"),
    ]

    operations = [
        migrations.AddField(
            model_name="disbursement",
            name="payee_id_number",
            field=models.CharField(blank=True, max_length=18, verbose_name="ID number as paid"),
        ),
        migrations.AddField(
            model_name="disbursement",
            name="payee_name",
            field=models.CharField(blank=True, max_length=100, verbose_name="paid to"),
        ),
        migrations.RunPython(copy_payees, migrations.RunPython.noop, elidable=True),
        migrations.AddField(
            model_name="ledgerentry",
            name="version",
            field=models.PositiveSmallIntegerField(db_default=1, verbose_name="version"),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="version",
            field=models.PositiveSmallIntegerField(db_default=2, verbose_name="version"),
        ),
    ]
