from pathlib import Path

from django.core.management.base import BaseCommand

from unionfunds.divisions import FIXTURES, load_tree, read_divisions


class Command(BaseCommand):
    help = "Load China's federation tree (province, city, county) from the division files; safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--folder", type=Path, default=FIXTURES, help="Folder with provinces/cities/areas.csv")
        parser.add_argument("--townships", type=Path, help="streets.csv, to add the township level too")

    def handle(self, *args, folder: Path, townships: Path | None, **options):
        created = load_tree(read_divisions(folder, townships))
        self.stdout.write(f"{created} federations created." if created else "The federation tree is already loaded.")
