from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AllocationsConfig(AppConfig):
    name = "allocations"
    verbose_name = _("Funds and money movements")

    def ready(self):
        from allocations import exports, totals  # noqa: F401 (exports registers the money lists' sheets)
        from unionfunds import signals

        signals.federation_moved.connect(totals.recount_moved, dispatch_uid="allocations.recount_moved")
