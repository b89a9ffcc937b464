from django.db import migrations

CODES = [
    "registered_hardship",
    "model_worker",
    "migrant_worker",
    "frontline_medical",
    "work_injury",
    "family_of_fallen",
    "hard_industry",
    "seconded_cadre",
    "outstanding_model",
]


def seed(apps, schema_editor):
    Category = apps.get_model("beneficiaries", "Category")
    for code in CODES:
        Category.objects.get_or_create(code=code)


class Migration(migrations.Migration):
    dependencies = [("beneficiaries", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
