"""manage.py build_national_dataset --disbursements 5000000 [--years 2022] [--reset]

A national-scale dataset on PostgreSQL for the roll-up benchmarks: what it
builds and how is in `allocations.dataset`.
"""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from allocations import verify
from allocations.dataset.builder import DEFAULT_TOWNSHIPS, Builder, loaded_tables
from allocations.dataset.tables import quoted
from unionfunds.divisions import FIXTURES


class Command(BaseCommand):
    help = "Build (or top up) a national dataset of funds and N disbursements on PostgreSQL with COPY."

    def add_arguments(self, parser):
        parser.add_argument("--disbursements", type=int, required=True, help="Disbursement rows wanted in all")
        parser.add_argument(
            "--years", nargs="+", default=["2022"], help="Fiscal years, e.g. --years 2021 2022 (default 2022)"
        )
        parser.add_argument("--townships", type=Path, default=DEFAULT_TOWNSHIPS, help="streets.csv")
        parser.add_argument("--folder", type=Path, default=FIXTURES, help="Folder with provinces/cities/areas.csv")
        parser.add_argument(
            "--provinces", help="Only these provinces, by code (e.g. 63,62): a smaller tree for tests and quick runs"
        )
        parser.add_argument("--seed", type=int, default=2022)
        parser.add_argument("--reset", action="store_true", help="Truncate the money and beneficiary tables first")
        parser.add_argument(
            "--verify", action="store_true", help="Afterwards, run the checks of verify_ledger --totals on it all"
        )
        parser.add_argument("--no-vacuum", action="store_true", help="Skip VACUUM after the commit")

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                f"build_national_dataset needs PostgreSQL (COPY, TRUNCATE, ANALYZE); this database is "
                f"{connection.vendor}. Run it under scripts/with-postgres or set DATABASE_URL."
            )
        target = options["disbursements"]
        if target < 0:
            raise CommandError("--disbursements must be 0 or more.")
        years = sorted({int(year) for value in options["years"] for year in str(value).split(",") if year.strip()})
        if not years or not all(2000 <= year <= 2100 for year in years):
            raise CommandError("--years must be fiscal years between 2000 and 2100.")
        provinces = None
        if options["provinces"]:
            provinces = {code.strip() for code in options["provinces"].split(",") if code.strip()}
        townships = options["townships"]
        if not townships.is_file():
            raise CommandError(f"No township file at {townships} (give --townships PATH to streets.csv).")
        builder = Builder(
            out=self.stdout,
            years=years,
            seed=options["seed"],
            folder=options["folder"],
            townships=townships,
            provinces=provinces,
        )
        started = time.perf_counter()
        with transaction.atomic():
            builder.build(target, reset=options["reset"])
        if not options["no_vacuum"] and not connection.in_atomic_block:
            with builder.step("vacuum"), connection.cursor() as cursor:
                cursor.execute("VACUUM " + ", ".join(quoted(table) for table in loaded_tables()))
        if options["verify"]:
            with builder.step("verify"):
                report = verify.verify(totals=True)
            if not report.clean:
                raise CommandError("Ledger invariants do not hold:\n" + "\n".join(report.lines()))
            self.stdout.write("  ledger invariants hold")
        self.stdout.write(self.style.SUCCESS(f"Done in {time.perf_counter() - started:.1f} s: {builder.summary()}"))
