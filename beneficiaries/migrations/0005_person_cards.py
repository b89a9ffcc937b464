"""Each federation keeps its own card (登记卡) of the people it registered or
paid whose home federation lies outside its subtree (docs/DOMAIN.md, rule 3).

Payments made before cards existed get theirs here: a fund's federation that
paid a person registered outside its subtree holds a card with the name it
paid (the payment's `payee_name`), made by the clerk and at the time of its
first such payment. Those payments' own audit events are the record of what
was typed; the cards made here have none of their own.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.db.models import F, Min, Q


def cards_for_past_payments(apps, schema_editor):
    Disbursement = apps.get_model("allocations", "Disbursement")
    PersonCard = apps.get_model("beneficiaries", "PersonCard")
    elsewhere = (
        Disbursement.objects.filter(beneficiary__isnull=False)
        .filter(~Q(beneficiary__federation__path__startswith=F("fund__federation__path")))
        .values("beneficiary_id", "fund__federation_id")
        .annotate(first=Min("pk"))
        .values_list("first", flat=True)
        .order_by()
    )
    first = list(elsewhere)
    for start in range(0, len(first), 2000):
        payments = Disbursement.objects.filter(pk__in=first[start : start + 2000]).select_related(
            "beneficiary", "fund"
        )
        PersonCard.objects.bulk_create(
            [
                PersonCard(
                    beneficiary_id=paid.beneficiary_id,
                    federation_id=paid.fund.federation_id,
                    name=(paid.payee_name or paid.beneficiary.name)[:50],
                    created_by_id=paid.created_by_id,
                    created_at=paid.created_at,
                )
                for paid in payments
            ],
            ignore_conflicts=True,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("beneficiaries", "0004_household_archive"),
        ("allocations", "0007_payee_as_paid"),
        ("unionfunds", "0012_accounts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PersonCard",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=50, verbose_name="name")),
                ("phone", models.CharField(blank=True, max_length=20, verbose_name="phone")),
                ("employer", models.CharField(blank=True, max_length=100, verbose_name="employer")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="created at")),
                (
                    "beneficiary",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="cards",
                        to="beneficiaries.beneficiary",
                        verbose_name="beneficiary",
                    ),
                ),
                (
                    "categories",
                    models.ManyToManyField(
                        blank=True, related_name="+", to="beneficiaries.category", verbose_name="categories"
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="created by",
                    ),
                ),
                (
                    "federation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="unionfunds.federation",
                        verbose_name="federation",
                    ),
                ),
            ],
            options={
                "verbose_name": "registration card",
                "verbose_name_plural": "registration cards",
                "ordering": ["id"],
                "constraints": [
                    models.UniqueConstraint(fields=("beneficiary", "federation"), name="person_card_one_per_federation")
                ],
            },
        ),
        migrations.RunPython(cards_for_past_payments, migrations.RunPython.noop, elidable=True),
    ]
