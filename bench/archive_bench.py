"""Hardship-archive benchmark (issue 16, "Done when": `BENCH import_archive_over_plain`).

    make bench         # with the other benches: a 100,000-row payment list
    make bench-quick   # the same at a tenth of the scale (10,000 rows)

    scripts/with-postgres .venv/bin/python bench/archive_bench.py --scale quick

On the database it is given (PostgreSQL, empty: it refuses one that holds funds),
it builds a county with its 低保 line and a household cap rule
(生活救助 at most 12 months of the 低保 line per household a year), files the
list's people in households of two from a household sheet (the browser's flow:
read, preview, commit), opens their entries, then times the same payment list
into two kinds of fund, in turns, each run into a fresh fund:

- plain: a 送温暖 fund, which asks for no archive and no rule binds;
- archive: a 困难职工帮扶 fund, which pays archived households only (依档帮扶),
  its payments held to the household cap.

It prints one line per figure:

    BENCH <name> <value> goal <op><target>

- import_archive_over_plain (import_archive_over_plain_10k at bench-quick): the
  seconds of the plain fund's check (the preview) and write (the commit) of
  the list over the archive fund's, the median of the runs' pair ratios: the
  archive and the cap cost at most a fifth more when the figure is 0.8 or more.

docs/PERFORMANCE.md gets the figures, the phases, where the archive fund's extra
time goes (`policy.check` and its parts, `policy.charge`), and the filing of the
household sheet. The goals are reported, not enforced: the exit status is 0
unless the run itself failed (or --strict and a goal is missed).
"""

import argparse
import cProfile
import datetime
import functools
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "unionfunds.settings")
# The development secret key and plain static files, without DEBUG's query log.
os.environ.setdefault("UNIONFUNDS_TESTING", "1")

import django  # noqa: E402

django.setup()

import xlsxwriter  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from rollup_bench import DOC, Figure, label, machine, report_head, say, write_part  # noqa: E402

from allocations import archive_imports, imports, lists, policy, services  # noqa: E402
from allocations.models import Disbursement, Fund, PolicyUsage, RuleScope  # noqa: E402
from beneficiaries import archive, archive_lists, idnumber  # noqa: E402
from beneficiaries.archive_models import (  # noqa: E402
    ArchiveChange,
    ArchiveEntry,
    ArchiveStatus,
    ChangeStatus,
    HouseholdMember,
)
from beneficiaries.models import Beneficiary  # noqa: E402
from unionfunds import sheetreader  # noqa: E402
from unionfunds.models import Federation, Level, Role  # noqa: E402
from unionfunds.services import federation_create, membership_grant  # noqa: E402

SCALES = {"full": 100_000, "quick": 10_000}
SECTIONS = {"full": "archive-full", "quick": "archive-quick"}
GOAL = 0.8
MEMBERS = 2  # a head and a spouse: each household is paid twice per list
AMOUNT = 400  # 800 a household and list, under the cap of 12 x 840 for a dozen runs
DIBAO = Decimal("840.00")
PAID_ON = datetime.date(2022, 6, 15)
FILED_ON = datetime.date(2022, 1, 1)
AREA_CODE = "710000"  # a code no federation has: the people are all new
BIRTH_BASE = datetime.date(1950, 1, 1)
BIRTH_DAYS = 18_000
PHASES = ("read", "check", "create")
# What of the money core's time is the archive's and the rules' (allocations.policy).
TIMED = {
    "policy.check": (policy, "check"),
    "archive.open_entries": (archive, "open_entries"),
    "policy._check_rules": (policy, "_check_rules"),
    "policy._usage": (policy, "_usage"),
    "policy.charge": (policy, "charge"),
}


@dataclass
class Timing:
    phases: dict[str, float]
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def written(self) -> float:
        """What the figure compares: the preview's check and the commit."""
        return self.phases["check"] + self.phases["create"]


@dataclass
class Run:
    scale: str
    rows: int
    filing: dict[str, float] = field(default_factory=dict)
    plain: list[Timing] = field(default_factory=list)
    archived: list[Timing] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    profile: str = ""


# The setting ---------------------------------------------------------------------


@dataclass
class Setting:
    county: Federation
    clerk: object
    approver: object
    funds: int = 0

    def fund(self, rows: int, *, archived: bool) -> Fund:
        """A fresh fund holding exactly enough for the list, approved."""
        self.funds += 1
        kind = ("hardship", "困难职工帮扶资金") if archived else ("warmth", "送温暖资金")
        fund = services.fund_create(
            federation=self.county, name=f"{kind[1]}{self.funds}", purpose=kind[0], fiscal_year=2022, by=self.clerk
        )
        entry = services.contribution_create(
            fund=fund, source="own_funds", amount=Decimal(rows * AMOUNT), by=self.clerk
        )
        services.movement_approve(movement=entry, by=self.approver)
        fund.refresh_from_db()
        assert fund.requires_archive == archived
        return fund


def setting() -> Setting:
    nation = Federation.objects.filter(parent=None).first() or federation_create(
        code="CN", name="中华全国总工会", level=Level.NATIONAL, parent=None
    )
    province = federation_create(code="BENCH-A", name="基准省总工会", level=Level.PROVINCE, parent=nation)
    city = federation_create(code="BENCH-A01", name="基准市总工会", level=Level.CITY, parent=province)
    county = federation_create(code="BENCH-A0101", name="基准县总工会", level=Level.COUNTY, parent=city)
    clerk = membership_grant(username="bench-archive-clerk", federation=county, role=Role.CLERK).user
    approver = membership_grant(username="bench-archive-approver", federation=county, role=Role.APPROVER).user
    admin = membership_grant(username="bench-archive-admin", federation=province, role=Role.ADMIN).user
    archive.dibao_line_set(
        federation=city,
        year=2022,
        monthly=DIBAO,
        by=membership_grant(username="bench-archive-city-clerk", federation=city, role=Role.CLERK).user,
    )
    policy.rule_create(
        federation=province,
        by=admin,
        name="生活救助年度限额",
        purpose="hardship",
        assistance_type="living",
        scope=RuleScope.HOUSEHOLD,
        cap_dibao_months=Decimal("12"),
    )
    return Setting(county=county, clerk=clerk, approver=approver)


def people(rows: int, *, seed: int = 2022) -> list[tuple[str, str]]:
    """`rows` distinct synthetic people: (name, ID number)."""
    rng = random.Random(seed)
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
    result = []
    for number in range(rows):
        birth = BIRTH_BASE + datetime.timedelta(days=number % BIRTH_DAYS)
        name = rng.choice(surnames) + rng.choice(given) + (rng.choice(given) if rng.random() < 0.6 else "")
        result.append((name, idnumber.build(AREA_CODE, birth, number // BIRTH_DAYS)))
    return result


def household_sheet(persons: list[tuple[str, str]]) -> bytes:
    """The households as a clerk's sheet: the import template's headers, a head
    and a spouse per 户号, the head's line with the household's figures."""
    with tempfile.TemporaryFile() as output:
        book = xlsxwriter.Workbook(output, {"in_memory": False})
        sheet = book.add_worksheet("家庭成员")
        for column, spec in enumerate(archive_imports.COLUMNS):
            sheet.write_string(0, column, spec.header)
        for index, (name, number) in enumerate(persons):
            line, key, head = index + 1, str(index // MEMBERS + 1), index % MEMBERS == 0
            sheet.write_string(line, 0, key)
            sheet.write_string(line, 1, name)
            sheet.write_string(line, 2, number)
            sheet.write_string(line, 3, "户主" if head else "配偶")
            if head:
                sheet.write_string(line, 5, "相对困难")
                sheet.write_number(line, 6, 600)
                sheet.write_string(line, 7, "因病、子女上学")
        book.close()
        output.seek(0)
        return output.read()


def file_households(content: bytes, setting: Setting, run: Run) -> None:
    """The household sheet through the browser's flow (`allocations.archive_tasks`):
    read, preview, commit; then every filing approved, set-based (the approvals'
    own speed is not what is measured here)."""
    arguments = {"federation": setting.county, "by": setting.clerk, "valid_from": FILED_ON}
    started = time.perf_counter()
    reading = sheetreader.read(content, max_rows=archive_lists.MAX_ROWS + imports.HEADER_SEARCH_LINES + 1)
    parsed = archive_imports.parse_households(reading.lines)
    if parsed.problems:
        raise RuntimeError(f"the household sheet has problems: {parsed.problems[:3]}")
    run.filing["read"] = time.perf_counter() - started
    started = time.perf_counter()
    archive_lists.households_check(rows=archive_imports.household_rows(parsed.rows), **arguments)
    run.filing["check"] = time.perf_counter() - started
    started = time.perf_counter()
    with transaction.atomic():
        filed = archive_lists.households_file_many(rows=archive_imports.household_rows(parsed.rows), **arguments)
    run.filing["create"] = time.perf_counter() - started
    run.filing["households"] = len(filed.households)
    with transaction.atomic():
        entries = ArchiveEntry.objects.filter(federation=setting.county, status=ArchiveStatus.PENDING)
        entries.update(status=ArchiveStatus.OPEN, opened_on=FILED_ON, checked_on=FILED_ON)
        HouseholdMember.objects.filter(household__federation=setting.county).update(in_open_archive=True)
        ArchiveChange.objects.filter(entry__federation=setting.county, status=ChangeStatus.PENDING).update(
            status=ChangeStatus.APPROVED, decided_by=setting.approver, decided_at=timezone.now()
        )


def payment_sheet(persons: list[tuple[str, str]]) -> bytes:
    with tempfile.TemporaryFile() as output:
        book = xlsxwriter.Workbook(output, {"in_memory": False})
        sheet = book.add_worksheet("发放名单")
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        for column, header in enumerate(("姓名", "身份证号", "金额", "救助类别", "发放日期")):
            sheet.write_string(0, column, header)
        paid_on = datetime.datetime.combine(PAID_ON, datetime.time())
        for line, (name, number) in enumerate(persons, start=1):
            sheet.write_string(line, 0, name)
            sheet.write_string(line, 1, number)
            sheet.write_number(line, 2, AMOUNT)
            sheet.write_string(line, 3, "生活救助")
            sheet.write_datetime(line, 4, paid_on, day)
        book.close()
        output.seek(0)
        return output.read()


# The timed list ----------------------------------------------------------------------


class Parts:
    """Seconds spent in the functions of `TIMED` while it is on (nested ones count
    in each); the functions are wrapped once, for the whole run."""

    def __init__(self):
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.on = False
        for name, (module, attribute) in TIMED.items():
            setattr(module, attribute, self._timed(name, getattr(module, attribute)))

    def _timed(self, name, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            if not self.on:
                return function(*args, **kwargs)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return timed

    def take(self) -> dict[str, float]:
        taken, self.seconds = dict(self.seconds), defaultdict(float)
        return taken


def analyze() -> None:
    tables = [Disbursement._meta.db_table, PolicyUsage._meta.db_table, Beneficiary._meta.db_table]
    tables += [ArchiveEntry._meta.db_table, HouseholdMember._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(table) for table in tables))


def import_list(content: bytes, fund: Fund, clerk, parts: Parts) -> Timing:
    """The browser's flow for a payment list (`allocations.tasks`, `_check` then `_commit`)."""
    phases = {}
    started = time.perf_counter()
    reading = sheetreader.read(content, max_rows=lists.MAX_ROWS + imports.HEADER_SEARCH_LINES + 1)
    parsed = imports.parse_list(reading.lines)
    phases["read"] = time.perf_counter() - started
    if parsed.problems:
        raise RuntimeError(f"the list has problems: {parsed.problems[:3]}")
    parts.on = True
    started = time.perf_counter()
    services.disbursements_check(fund=fund, rows=imports.list_rows(parsed.rows), by=clerk)
    phases["check"] = time.perf_counter() - started
    started = time.perf_counter()
    created = services.disbursements_create(fund=fund, rows=imports.list_rows(parsed.rows), by=clerk, batch="基准")
    phases["create"] = time.perf_counter() - started
    parts.on = False
    if len(created) != len(parsed.rows):
        raise RuntimeError(f"created {len(created)} disbursements for {len(parsed.rows)} rows")
    paid = Disbursement.objects.filter(fund=fund)
    if fund.requires_archive and paid.filter(household__isnull=True).exists():
        raise RuntimeError("an archive fund's payment names no household")
    return Timing(phases, parts.take())


def measure(run: Run, runs: int, profile: bool) -> None:
    rows = run.rows
    persons = people(rows)
    setup = setting()
    say(f"== filing {rows // MEMBERS:,} households of {MEMBERS} from a household sheet")
    file_households(household_sheet(persons), setup, run)
    say("   " + ", ".join(f"{phase} {run.filing[phase]:.2f} s" for phase in PHASES))
    content = payment_sheet(persons)
    say(f"== the {rows:,}-row payment list ({len(content) / 1024 / 1024:.1f} MB), {runs} runs of each fund, in turns")
    parts = Parts()
    for number in range(runs):
        order = (False, True) if number % 2 == 0 else (True, False)
        for archived in order:
            fund = setup.fund(rows, archived=archived)
            analyze()
            timing = import_list(content, fund, setup.clerk, parts)
            (run.archived if archived else run.plain).append(timing)
            kind = "archive" if archived else "plain"
            say(f"   run {number + 1} {kind:7}: " + ", ".join(f"{p} {s:.2f} s" for p, s in timing.phases.items()))
    if profile:
        fund = setup.fund(rows, archived=True)
        analyze()
        reading = sheetreader.read(content, max_rows=lists.MAX_ROWS + imports.HEADER_SEARCH_LINES + 1)
        rows_read = imports.list_rows(imports.parse_list(reading.lines).rows)
        profiler = cProfile.Profile()
        profiler.enable()
        services.disbursements_create(fund=fund, rows=rows_read, by=setup.clerk, batch="基准")
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(r"(allocations|beneficiaries)/", 30)
        run.profile = text.getvalue()
        say(run.profile)


def figures(run: Run) -> list[Figure]:
    ratios = [plain.written / archived.written for plain, archived in zip(run.plain, run.archived, strict=True)]
    name = "import_archive_over_plain" if run.scale == "full" else f"import_archive_over_plain_{label(run.rows)}"
    return [Figure(name, statistics.median(ratios), ">=", GOAL)]


# The report ------------------------------------------------------------------------------

DOC_PART = """## Hardship archive

Paying by the archive (依档帮扶) with a household cap, against paying from a fund that asks
for neither (issue 16, "Done when"), and filing households from a sheet, measured by
`bench/archive_bench.py`.

### What is measured

- The setting: a county under a city whose 低保 line is 840.00 a month in 2022, and a rule
  of the province: 生活救助 from hardship funds at most 12 months of the 低保 line per
  household a year (10,080.00), counted per household.
- The households: the list's people, two to a household (head and spouse), filed from a
  household sheet (the import template's headers) through the browser's flow: read
  (`sheetreader.read`, `archive_imports.parse_households`), preview
  (`archive_lists.households_check`), commit (`archive_lists.households_file_many`: people
  registered, households, members, entries, filings and their audit records, set-based).
  The filings are then approved by three UPDATEs, which is not what is measured.
- The list: an XLSX of 100,000 rows (`make bench`) or 10,000 (`make bench-quick`), one
  per person, 400 yuan of 生活救助 each on 2022-06-15: every household is paid twice in
  the list, and its running total is checked against its cap as the list goes.
- Each run takes the list through the payment import's flow (`allocations.tasks`):
  read and parse, the preview `services.disbursements_check` (check) and the commit
  `services.disbursements_create` (create), into a fresh fund holding exactly enough,
  the people registered. The plain fund is a 送温暖 fund: no archive, no rule binds it.
  The archive fund is a 困难职工帮扶 fund: `policy.check` finds each person's open entry
  (`archive.open_entries`, locking the entries), the household's running total
  (`policy._usage`: on the commit one upsert per batch, in key order, that locks each
  total and adds what the list brings to it; the total before the list is what it
  returns less that) and the cap (the 低保 line read once); `policy.charge` is left
  only the payments to people the list registers (none here).
- What made the archive fund's overhead small enough: one write per running total
  (the lock and the charge are the same upsert; a refusal rolls both back); array
  parameters sent in PostgreSQL's text form (`bulkload.pg_array`), where psycopg2
  quoted each element; room on the running totals' pages (fillfactor 70) so that
  adding to one is a heap-only update touching no index; the entries looked up
  with one join of the members and read straight from the cursor.
- The runs alternate (plain, archive; then archive, plain; ...), the tables analyzed
  before each, so that a slow minute of the machine weighs on both; the figure is the
  median of the pairs' ratios. The read is the same for both and is not in the figure.
- On a throwaway PostgreSQL 15 cluster (`scripts/with-postgres`: default memory
  settings, fsync off).

Goal: the plain fund's check and write over the archive fund's at least 0.8
(`import_archive_over_plain` ≥ 0.8; `import_archive_over_plain_10k` at `make bench-quick`).
"""


def report(run: Run, info: dict[str, str]) -> str:
    lines = report_head(f"{info['command']}: a {run.rows:,}-row payment list", info, run.figures)

    def median(timings: list[Timing], phase: str) -> float:
        return statistics.median(t.phases.get(phase, t.written) for t in timings)

    lines += [
        "",
        f"The {run.rows:,}-row list, seconds (medians of {len(run.plain)} runs each):",
        "",
        "| fund | read and parse | check (preview) | create (commit) | check + create | rows/s (check + create) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for who, timings in (("plain (送温暖)", run.plain), ("archive and cap (困难职工帮扶)", run.archived)):
        written = median(timings, "written")
        cells = " | ".join(f"{median(timings, phase):.2f}" for phase in PHASES)
        lines.append(f"| {who} | {cells} | {written:.2f} | {run.rows / written:,.0f} |")
    lines += [
        "",
        "Where the archive fund's time goes, in its check and create together (medians; "
        "`policy.check` runs once in each and holds the three below it):",
        "",
        "| part | seconds | share of check + create |",
        "| --- | --- | --- |",
    ]
    written = median(run.archived, "written")
    for name in TIMED:
        seconds = statistics.median(t.parts.get(name, 0.0) for t in run.archived)
        lines.append(f"| `{name}` | {seconds:.2f} | {100 * seconds / written:.0f}% |")
    filing = sum(run.filing[phase] for phase in PHASES)
    lines += [
        "",
        f"Filing the {run.filing['households']:,} households ({run.rows:,} members, all new people) from their "
        f"sheet: read {run.filing['read']:.2f} s, preview {run.filing['check']:.2f} s, commit "
        f"{run.filing['create']:.2f} s; {filing:.1f} s in all, {run.filing['households'] / filing:,.0f} households/s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="quick")
    parser.add_argument("--runs", type=int, default=3, help="Timed runs of each fund (the figure: median of pairs)")
    parser.add_argument("--profile", action="store_true", help="Profile one more archive commit and print it")
    # What `make bench` passes every benchmark; this one builds no national tree.
    parser.add_argument("--townships", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-doc", action="store_true", help="Do not write docs/PERFORMANCE.md")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a goal is missed")
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        say(f"bench: needs PostgreSQL, not {connection.vendor} (run it under scripts/with-postgres, or make bench)")
        return 2
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    if Fund.objects.exists():
        say("bench: this database already holds funds; use a throwaway one (make bench does)")
        return 2
    info = machine(args.scale)
    run = Run(scale=args.scale, rows=SCALES[args.scale])
    measure(run, max(args.runs, 1), args.profile)
    run.figures = figures(run)
    say()
    for figure in run.figures:
        say(figure.line())
    met = sum(figure.met for figure in run.figures)
    say(f"{met} of {len(run.figures)} goals met; {time.perf_counter() - started:.0f} s in all")
    if not args.no_doc:
        names = list(SECTIONS.values())
        write_part(DOC, head=DOC_PART, names=names, name=SECTIONS[args.scale], section=report(run, info))
        say(f"wrote {DOC.relative_to(ROOT)}")
    return 1 if args.strict and met < len(run.figures) else 0


if __name__ == "__main__":
    sys.exit(main())
