"""The hash chain of each fund's approved entries (allocations.ledger), and the
chains of the entries approved before it existed, in the order they were decided.
Those chains vouch for the entries as they stood at this migration, not before."""

import heapq

import django.db.models.deletion
from django.db import migrations, models

import unionfunds.money
from unionfunds.money import fen_to_yuan

CHUNK = 2000


def chain_existing_entries(apps, schema_editor):
    # Version 1 of the serialisation: what these rows are, whatever comes later.
    from allocations.ledger import FIELDS_V1 as FIELDS
    from allocations.ledger import GENESIS, content_digest, legs, link

    db = schema_editor.connection.alias
    Fund = apps.get_model("allocations", "Fund")
    LedgerEntry = apps.get_model("allocations", "LedgerEntry")
    names = {1: "Contribution", 2: "Allocation", 3: "Disbursement"}
    # Rows of version 1; said so where the model has the column (run with later models).
    version = {"version": 1} if any(f.name == "version" for f in LedgerEntry._meta.fields) else {}

    def approved(kind):
        model = apps.get_model("allocations", names[kind])
        rows = (
            model.objects.using(db)
            .filter(status="approved")
            .order_by("decided_at", "pk")
            .values_list("decided_at", "pk", *FIELDS[kind])
        )
        for decided_at, pk, *values in rows.iterator(chunk_size=CHUNK):
            yield decided_at, kind, pk, values

    heads: dict[int, list] = {}
    batch = []
    for _decided_at, kind, pk, values in heapq.merge(*(approved(kind) for kind in names)):
        content = content_digest(kind, values)
        for fund_id, amount in sorted(legs(kind, values).items()):
            head = heads.setdefault(fund_id, [0, GENESIS])
            head[0] += 1
            head[1] = link(head[1], fund_id, head[0], kind, pk, amount, content, version=1)
            batch.append(
                LedgerEntry(
                    fund_id=fund_id,
                    seq=head[0],
                    kind=kind,
                    movement_id=pk,
                    amount=fen_to_yuan(amount),
                    hash=head[1],
                    **version,
                )
            )
        if len(batch) >= CHUNK:
            LedgerEntry.objects.using(db).bulk_create(batch)
            batch.clear()
    LedgerEntry.objects.using(db).bulk_create(batch)
    for fund_id, (seq, hash_) in heads.items():
        Fund.objects.using(db).filter(pk=fund_id).update(ledger_seq=seq, ledger_hash=hash_)


class Migration(migrations.Migration):
    dependencies = [
        ("allocations", "0004_all_types_disbursement_totals"),
    ]

    operations = [
        migrations.AddField(
            model_name="fund",
            name="ledger_hash",
            field=models.CharField(
                default="0000000000000000000000000000000000000000000000000000000000000000",
                editable=False,
                max_length=64,
                verbose_name="ledger head",
            ),
        ),
        migrations.AddField(
            model_name="fund",
            name="ledger_seq",
            field=models.PositiveBigIntegerField(default=0, editable=False, verbose_name="ledger entries"),
        ),
        migrations.CreateModel(
            name="LedgerEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("seq", models.PositiveBigIntegerField(verbose_name="position")),
                (
                    "kind",
                    models.PositiveSmallIntegerField(
                        choices=[(1, "contribution"), (2, "allocation"), (3, "disbursement")],
                        verbose_name="kind of entry",
                    ),
                ),
                ("movement_id", models.BigIntegerField(verbose_name="entry")),
                (
                    "amount",
                    unionfunds.money.MoneyField(
                        help_text="Positive into the fund, negative out of it.", verbose_name="amount"
                    ),
                ),
                ("hash", models.CharField(max_length=64, verbose_name="hash")),
                (
                    "fund",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ledger_entries",
                        to="allocations.fund",
                        verbose_name="fund",
                    ),
                ),
            ],
            options={
                "verbose_name": "ledger entry",
                "verbose_name_plural": "ledger entries",
                "constraints": [
                    models.UniqueConstraint(fields=("fund", "seq"), name="ledger_entry_position"),
                    models.UniqueConstraint(fields=("fund", "kind", "movement_id"), name="ledger_entry_once"),
                    models.CheckConstraint(condition=models.Q(("seq__gte", 1)), name="ledger_entry_seq_positive"),
                    models.CheckConstraint(condition=models.Q(("kind__in", [1, 2, 3])), name="ledger_entry_kind_valid"),
                    models.CheckConstraint(
                        condition=models.Q(("amount", 0), _negated=True), name="ledger_entry_amount_not_zero"
                    ),
                ],
            },
        ),
        migrations.RunPython(chain_existing_entries, migrations.RunPython.noop),
    ]
