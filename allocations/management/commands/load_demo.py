from django.core.management.base import BaseCommand

from allocations import demo


class Command(BaseCommand):
    help = "Load the demo federations, funds, entries and one account per role (once; a second run keeps the data)."

    def add_arguments(self, parser):
        parser.add_argument("--print-accounts", action="store_true", help="Only print the demo accounts")

    def handle(self, *args, print_accounts: bool, **options):
        if not print_accounts:
            if demo.is_loaded():
                self.stdout.write("Demo data already loaded.")
            else:
                demo.load()
                self.stdout.write(self.style.SUCCESS("Demo data loaded."))
            return
        self.stdout.write(f"Demo accounts (password: {demo.DEMO_PASSWORD}):")
        for account in demo.ACCOUNTS:
            self.stdout.write(f"  {account.username:<18} {account.role:<9} {account.description}")
