from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from allocations import demo


class Command(BaseCommand):
    help = (
        "Load the demo federations, funds, entries and one account per role (once; a second run keeps the data), "
        "then print the accounts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--print-accounts", action="store_true", help="Only print the demo accounts (of data already loaded)"
        )

    def handle(self, *args, print_accounts: bool, **options):
        if not print_accounts:
            if demo.is_loaded():
                self.stdout.write("Demo data already loaded.")
            else:
                demo.load()
                self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        existing = set(
            get_user_model()
            .objects.filter(username__in=[account.username for account in demo.ACCOUNTS], is_active=True)
            .values_list("username", flat=True)
        )
        if not existing:
            # Printing accounts nobody can sign in with sends the reader to a login that fails.
            raise CommandError("The demo data is not loaded: run `manage.py load_demo` (it prints the accounts).")
        self.stdout.write(f"Demo accounts (password: {demo.DEMO_PASSWORD}):")
        for account in demo.ACCOUNTS:
            if account.username in existing:
                self.stdout.write(f"  {account.username:<18} {account.role:<9} {account.description}")
