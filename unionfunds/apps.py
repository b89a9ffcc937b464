from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UnionfundsConfig(AppConfig):
    name = "unionfunds"
    verbose_name = _("Federations and users")

    def ready(self) -> None:
        from unionfunds import checks  # noqa: F401 - registers the system checks
