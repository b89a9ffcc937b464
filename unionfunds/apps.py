from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UnionfundsConfig(AppConfig):
    name = "unionfunds"
    verbose_name = _("Federations and users")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from unionfunds import checks  # noqa: F401 - registers the system checks
        from unionfunds.signin import note_temporary_password

        user_logged_in.connect(note_temporary_password, dispatch_uid="unionfunds.note_temporary_password")
