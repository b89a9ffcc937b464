from pathlib import Path

from django.core.management.base import BaseCommand

from allocations import demo


class Command(BaseCommand):
    help = "Write the demo real-name list (1,000 frontline workers, 1,000 yuan each, one mistyped ID number)."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default="fixtures/demo-list-shandong-1000.xlsx")

    def handle(self, *args, path, **options):
        correct = demo.write_demo_list(Path(path))
        self.stdout.write(
            f"{path}: {demo.DEMO_LIST_ROWS} rows; line {demo.DEMO_LIST_BAD_LINE} has a mistyped ID number, "
            f"the worker's card says {correct}"
        )
