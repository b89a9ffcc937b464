from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from unionfunds.models import Federation, Role
from unionfunds.services import membership_grant


class Command(BaseCommand):
    help = "Give a user (created if needed) a role at a federation: add_member <username> <federation-code> <role>."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("federation_code")
        parser.add_argument("role", choices=Role.values)
        parser.add_argument("--password", help="Set this password (otherwise an existing one is kept)")

    def handle(self, *args, username: str, federation_code: str, role: str, password: str | None, **options):
        try:
            federation = Federation.objects.get(code=federation_code)
        except Federation.DoesNotExist:
            raise CommandError(f"No federation has the code {federation_code!r}.") from None
        try:
            if password is not None:
                # The same rules (AUTH_PASSWORD_VALIDATORS) as the change-password page.
                user = get_user_model().objects.filter(username=username).first()
                validate_password(password, user or get_user_model()(username=username))
            membership = membership_grant(username=username, federation=federation, role=role, password=password)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"{membership.user.username} is {role} of {federation.name} ({federation.code}).")
