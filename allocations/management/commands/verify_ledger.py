"""Check the money against itself: `manage.py verify_ledger`.

Recomputes every fund's hash chain from the live entries, and every fund's
balance and reservation, and reports, in the operator's language, each entry
changed, added or deleted behind the application's back. Exit status 0 when
everything holds, 1 with the list of problems otherwise. Writes nothing.
"""

import csv
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from allocations.models import Fund
from allocations.verify import verify
from unionfunds.models import Federation


class Command(BaseCommand):
    help = (
        "Verify the ledger: every fund's hash chain, recomputed from the entries, and every balance; "
        "exit status 1 and a list of what was changed, added or deleted behind the application's back."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fund", type=int, action="append", help="Only this fund (by id); may be repeated")
        parser.add_argument("--federation", help="Only the funds of this federation's subtree (by code, e.g. 63)")
        parser.add_argument(
            "--totals", action="store_true", help="Also compare the running totals with what a rebuild would give"
        )
        parser.add_argument(
            "--audit",
            action="store_true",
            help="Also check that the audit trail records every entry and every decision",
        )
        parser.add_argument("--limit", type=int, default=50, help="Print at most this many problems (default 50)")
        parser.add_argument(
            "--save-heads",
            type=Path,
            metavar="FILE",
            help="After a clean run, write every fund's chain head to FILE (CSV), to keep away from the database",
        )
        parser.add_argument(
            "--check-heads",
            type=Path,
            metavar="FILE",
            help="Heads saved by an earlier run: every chain must still pass through them",
        )
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            help=f"Language of the report (default {settings.LANGUAGE_CODE})",
        )

    def handle(self, *args, **options):
        with translation.override(options["language"] or settings.LANGUAGE_CODE):
            funds = self._scope(options["fund"], options["federation"])
            anchors = _read_heads(options["check_heads"]) if options["check_heads"] else None
            report = _in_snapshot(
                lambda: verify(
                    funds=funds,
                    totals=options["totals"],
                    audit=options["audit"],
                    limit=max(options["limit"], 0),
                    anchors=anchors,
                )
            )
            counts = {
                "funds": f"{report.funds:,}",
                "entries": f"{report.entries:,}",
                "seconds": f"{report.seconds:.1f}",
            }
            if report.clean:
                self.stdout.write(
                    self.style.SUCCESS(
                        _("Ledger verified: %(funds)s funds, %(entries)s ledger entries, %(seconds)s s; no problems.")
                        % counts
                    )
                )
                if options["save_heads"]:
                    _write_heads(options["save_heads"], report.heads)
                    self.stdout.write(
                        _("Heads of %(funds)s funds saved to %(path)s.")
                        % {"funds": f"{len(report.heads):,}", "path": options["save_heads"]}
                    )
                return
            for line in report.lines():
                self.stdout.write(line)
            if report.found > len(report.problems):
                more = report.found - len(report.problems)
                self.stdout.write(
                    ngettext("… and %(more)s more.", "… and %(more)s more.", more) % {"more": f"{more:,}"}
                )
            self.stderr.write(
                ngettext(
                    "%(found)s problem in %(funds)s funds and %(entries)s ledger entries (%(seconds)s s).",
                    "%(found)s problems in %(funds)s funds and %(entries)s ledger entries (%(seconds)s s).",
                    report.found,
                )
                % {**counts, "found": f"{report.found:,}"}
            )
            if options["save_heads"]:
                self.stderr.write(_("Heads not saved: the ledger did not verify."))
            # Not a CommandError: that would put its class name before a report in Chinese.
            raise SystemExit(1)

    def _scope(self, fund_ids: list[int] | None, federation_code: str | None):
        if not fund_ids and not federation_code:
            return None
        funds = Fund.objects.all()
        if fund_ids:
            missing = set(fund_ids) - set(Fund.objects.filter(pk__in=fund_ids).values_list("pk", flat=True))
            if missing:
                raise CommandError(_("No fund with id %(ids)s.") % {"ids": ", ".join(map(str, sorted(missing)))})
            funds = funds.filter(pk__in=fund_ids)
        if federation_code:
            federation = Federation.objects.filter(code=federation_code).first()
            if federation is None:
                raise CommandError(_("No federation with code %(code)s.") % {"code": federation_code})
            funds = funds.filter(federation__path__startswith=federation.path)
        return funds


HEADS_HEADER = ["fund", "entries", "hash"]


def _write_heads(path: Path, heads: dict[int, tuple[int, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADS_HEADER)
        writer.writerows((pk, seq, head) for pk, (seq, head) in sorted(heads.items()))


def _read_heads(path: Path) -> dict[int, tuple[int, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as source:
            rows = list(csv.reader(source))
        if not rows or rows[0] != HEADS_HEADER:
            raise ValueError(",".join(HEADS_HEADER))
        return {int(pk): (int(seq), head) for pk, seq, head in rows[1:]}
    except (OSError, ValueError) as error:
        raise CommandError(
            _("Cannot read the saved heads in %(path)s: %(error)s") % {"path": path, "error": error}
        ) from error


def _in_snapshot(run):
    """Run the checks on one consistent snapshot: on PostgreSQL a read-only
    REPEATABLE READ transaction, so that approvals committed meanwhile neither
    wait for the check nor show up half-seen in it."""
    if connection.in_atomic_block:  # called inside a transaction (tests): use it
        return run()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SET LOCAL work_mem = '64MB'")
        return run()
