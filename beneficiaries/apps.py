from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BeneficiariesConfig(AppConfig):
    name = "beneficiaries"
    verbose_name = _("Beneficiaries and units")

    def ready(self):
        from beneficiaries import archive_exports, exports  # noqa: F401 (register the lists' sheets)
