"""Spreadsheet benchmark (the issue's performance figures for imports and exports).

    make bench         # with the roll-up bench: a 100,000-row import; exports of 100k and 1M rows
    make bench-quick   # the same figures at a tenth of the scale (10,000; 10k and 100k)

    scripts/with-postgres .venv/bin/python bench/spreadsheet_bench.py --scale quick

On the database it is given (which must be PostgreSQL, and is wiped: the money
and beneficiary tables are truncated), it builds the national dataset with the
large export size of disbursements, measures the exports, then the imports, and
prints one line per figure:

    BENCH <name> <value> goal <op><target>

- import_<n>_vs_import_export: seconds of django-import-export's default import
  (a plain ModelResource, `import_data(dataset, dry_run=False)` once) of an
  n-row XLSX list of payments over the seconds of ours for the same file: read,
  parse, check (the preview), create (the commit), as the browser flow runs
  them. Both write n disbursements of people already registered, each into a
  fresh fund; ours is the median of --runs runs.
- export_{xlsx,csv}_memory_<large>_over_<small>: peak memory (VmHWM, see
  `peak_kb`) of a fresh process exporting the disbursements list, as a
  superuser, limited to <large> rows, over the same at <small> rows.

docs/PERFORMANCE.md gets the figures, timings, rows per second, peak memory and
the machine. The goals are reported, not enforced: the exit status is 0 unless
the run itself failed (or --strict and a goal is missed).

An export is measured in a child process (this script with --export-child), so
that its peak memory is the export's own:

    bench/spreadsheet_bench.py --export-child --rows 100000 --format xlsx
"""

import argparse
import datetime
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
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

import tablib  # noqa: E402
import xlsxwriter  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import QueryDict  # noqa: E402
from django.utils import translation  # noqa: E402
from import_export import fields, resources, widgets  # noqa: E402
from rollup_bench import DOC, Figure, label, machine, report_head, say, write_part  # noqa: E402

from allocations import imports, lists, services  # noqa: E402
from allocations import services as money  # noqa: E402
from allocations.dataset.builder import DEFAULT_TOWNSHIPS  # noqa: E402
from allocations.models import AssistanceType, Disbursement, Fund  # noqa: E402
from beneficiaries import idnumber  # noqa: E402
from beneficiaries.models import Beneficiary, CategoryCode  # noqa: E402
from unionfunds import listexports, sheetreader, spreadsheets  # noqa: E402
from unionfunds.divisions import NATIONAL_CODE  # noqa: E402
from unionfunds.models import Federation, Level, Role  # noqa: E402
from unionfunds.services import federation_create, membership_grant  # noqa: E402

# scale: (rows imported, (small, large) disbursements exported)
SCALES = {"full": (100_000, (100_000, 1_000_000)), "quick": (10_000, (10_000, 100_000))}
SECTIONS = {"full": "sheets-full", "quick": "sheets-quick"}
GOAL_IMPORT = 10
GOAL_MEMORY = 1.2
FORMATS = ("xlsx", "csv")
ADMIN = "bench-admin"
FEDERATION = "BENCH-SHEETS"
CLERK = "bench-sheets-clerk"
APPROVER = "bench-sheets-approver"
AMOUNT = 1000
PAID_ON = datetime.date(2022, 11, 3)
# No federation of the national dataset has this area code, so the people of the
# list are all new to the database. Birth days vary first, then the sequence.
AREA_CODE = "710000"
BIRTH_BASE = datetime.date(1950, 1, 1)
BIRTH_DAYS = 18_000
EMPLOYERS = ("城中区建筑公司", "西宁市第一人民医院", "城北区物流园", "湟中区环卫所", "大通县煤矿")


@dataclass
class Import:
    """One timed import of the list; phases in seconds, in order."""

    who: str
    rows: int
    phases: dict[str, float]
    runs: int = 1
    sample: int | None = None  # rows actually timed, when scaled up from a sample

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


@dataclass
class Export:
    format: str
    rows: int
    seconds: float
    peak_mb: float
    file_mb: float


@dataclass
class Run:
    scale: str
    rows: int
    small: int
    large: int
    build_seconds: float = 0.0
    imports: dict[str, Import] = field(default_factory=dict)
    exports: list[Export] = field(default_factory=list)
    idle_mb: float = 0.0
    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# The list -------------------------------------------------------------------------


def list_sheet(rows: int, *, seed: int = 2022) -> bytes:
    """An XLSX list of `rows` payments of 1,000 yuan to distinct synthetic people,
    with the nine headers of the import template, as a clerk would fill it in."""
    rng = random.Random(seed)
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
    with translation.override("zh-hans"):
        kinds = [str(label) for _code, label in AssistanceType.choices]
        # Not "工伤/职业病致残": the import splits a cell at "/", so that label cannot be imported.
        categories = [str(label) for _code, label in CategoryCode.choices if "/" not in str(label)]
    with tempfile.TemporaryFile() as output:
        # Not constant_memory: that mode writes inline strings, and Excel and WPS save
        # shared strings, which read about a quarter faster.
        book = xlsxwriter.Workbook(output, {"in_memory": False})
        sheet = book.add_worksheet("发放名单")
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        for column, spec in enumerate(imports.COLUMNS):
            sheet.write_string(0, column, spec.header)
        paid_on = datetime.datetime.combine(PAID_ON, datetime.time())
        for number in range(rows):
            line = number + 1
            name = rng.choice(surnames) + rng.choice(given) + (rng.choice(given) if rng.random() < 0.6 else "")
            sheet.write_string(line, 0, name)
            sheet.write_string(line, 1, person_id(number))  # text: Excel would corrupt 18 digits
            sheet.write_number(line, 2, AMOUNT)
            sheet.write_string(line, 3, kinds[number % len(kinds)])
            sheet.write_datetime(line, 4, paid_on, day)
            if rng.random() < 0.4:
                sheet.write_string(line, 5, rng.choice(categories))
            sheet.write_string(line, 6, f"13{rng.randrange(10**9):09d}")
            sheet.write_string(line, 7, rng.choice(EMPLOYERS))
        book.close()
        output.seek(0)
        return output.read()


def person_id(number: int) -> str:
    birth = BIRTH_BASE + datetime.timedelta(days=number % BIRTH_DAYS)
    return idnumber.build(AREA_CODE, birth, number // BIRTH_DAYS)


# The imports ----------------------------------------------------------------------


@dataclass
class Setting:
    federation: Federation
    clerk: object
    approver: object
    funds: int = 0

    def fund(self, rows: int) -> Fund:
        """A fresh fund holding exactly enough for `rows` payments, approved."""
        self.funds += 1
        fund = money.fund_create(
            federation=self.federation,
            name=f"基准导入专项资金{self.funds}",
            purpose="pandemic",
            fiscal_year=2022,
            by=self.clerk,
        )
        entry = money.contribution_create(fund=fund, source="own_funds", amount=Decimal(rows * AMOUNT), by=self.clerk)
        money.movement_approve(movement=entry, by=self.approver)
        fund.refresh_from_db()
        return fund


def import_setting() -> Setting:
    # Kept from an earlier run on the same database (--wipe): the reset keeps the tree.
    federation = Federation.objects.filter(code=FEDERATION).first() or federation_create(
        code=FEDERATION, name="基准导入总工会", level=Level.CITY, parent=Federation.objects.get(code=NATIONAL_CODE)
    )
    clerk = membership_grant(username=CLERK, federation=federation, role=Role.CLERK).user
    approver = membership_grant(username=APPROVER, federation=federation, role=Role.APPROVER).user
    return Setting(federation=federation, clerk=clerk, approver=approver)


def analyze() -> None:
    """Fresh planner statistics before each timed import, so that none of them
    runs on the statistics of an emptier table than the others."""
    tables = [Disbursement._meta.db_table, Beneficiary._meta.db_table, Beneficiary.categories.through._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(table) for table in tables))


def import_ours(content: bytes, fund: Fund, clerk) -> dict[str, float]:
    """The browser flow (allocations.tasks: `_check`, then `_commit`) from the file's bytes."""
    phases = {}
    started = time.perf_counter()
    reading = sheetreader.read(content, max_rows=lists.MAX_ROWS + imports.HEADER_SEARCH_LINES + 1)
    parsed = imports.parse_list(reading.lines)  # the rows are read as they are parsed
    phases["read"] = time.perf_counter() - started
    if parsed.problems:
        raise RuntimeError(f"the list has problems: {parsed.problems[:3]}")
    started = time.perf_counter()
    services.disbursements_check(fund=fund, rows=imports.list_rows(parsed.rows), by=clerk)
    phases["check"] = time.perf_counter() - started
    started = time.perf_counter()
    created = services.disbursements_create(fund=fund, rows=imports.list_rows(parsed.rows), by=clerk, batch="基准")
    phases["create"] = time.perf_counter() - started
    if len(created) != len(parsed.rows):
        raise RuntimeError(f"created {len(created)} disbursements for {len(parsed.rows)} rows")
    return phases


class DisbursementResource(resources.ModelResource):
    """django-import-export as its documentation sets it up: a ModelResource over
    the model, default options (no bulk, no skip_diff, no caching widgets), the
    person found by ID number. Fund and clerk are those of the page, as an admin
    import would set them from the request."""

    beneficiary = fields.Field(
        attribute="beneficiary", column_name="beneficiary", widget=widgets.ForeignKeyWidget(Beneficiary, "id_number")
    )

    class Meta:
        model = Disbursement
        fields = ("id", "beneficiary", "amount", "assistance_type", "date")

    def __init__(self, *, fund: Fund, user):
        super().__init__()
        self.fund, self.user = fund, user
        with translation.override("zh-hans"):
            self.kinds = {str(label): code for code, label in AssistanceType.choices}

    def before_import_row(self, row, **kwargs):
        # The sheet names the type as the template asks, in Chinese; the column holds the code.
        row["assistance_type"] = self.kinds.get(row["assistance_type"], row["assistance_type"])

    def before_save_instance(self, instance, row, **kwargs):
        instance.fund, instance.created_by = self.fund, self.user


# The sheet's headers as the resource's field names. The person's own columns
# (name, categories, phone, employer) have no field on a disbursement; the note
# (empty in this list) is left out because the default widget of a TextField
# saves an empty cell as NULL, which the table refuses.
BASELINE_HEADERS = {"身份证号": "beneficiary", "金额": "amount", "救助类别": "assistance_type", "发放日期": "date"}


def import_baseline(content: bytes, fund: Fund, clerk) -> dict[str, float]:
    started = time.perf_counter()
    dataset = tablib.Dataset().load(content, format="xlsx")
    dataset.headers = [BASELINE_HEADERS.get(header, header) for header in dataset.headers]
    read = time.perf_counter() - started
    started = time.perf_counter()
    result = DisbursementResource(fund=fund, user=clerk).import_data(dataset, dry_run=False)
    create = time.perf_counter() - started
    if result.has_errors() or result.has_validation_errors():
        errors = [error.error for _line, row_errors in result.row_errors() for error in row_errors][:3]
        raise RuntimeError(f"django-import-export refused the list: {errors or result.invalid_rows[:3]}")
    if result.totals["new"] != len(dataset):
        raise RuntimeError(f"django-import-export created {result.totals['new']} of {len(dataset)} rows")
    return {"read": read, "create": create}


def measure_imports(run: Run, runs: int, baseline_rows: int | None) -> None:
    rows = run.rows
    say(f"== writing the {rows:,}-row list")
    content = list_sheet(rows)
    say(f"   {len(content) / 1024 / 1024:.1f} MB")
    setting = import_setting()

    def ours(key: str, who: str, times: int) -> None:
        samples = []
        for number in range(times):
            fund = setting.fund(rows)
            analyze()
            phases = import_ours(content, fund, setting.clerk)
            written = Disbursement.objects.filter(fund=fund).count()
            if written != rows:
                raise RuntimeError(f"{who}: {written} disbursements in the fund, {rows} expected")
            samples.append(phases)
            say(f"   run {number + 1}: " + ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in phases.items()))
        middle = sorted(samples, key=lambda phases: sum(phases.values()))[len(samples) // 2]
        run.imports[key] = Import(who, rows, middle, runs=times)

    say(f"== our import, {rows:,} people new (the commit registers them)")
    ours("ours_new", "ours, people new (the commit registers them)", 1)
    say(f"== our import, {rows:,} people registered (median of {runs})")
    ours("ours", "ours, people registered", runs)

    timed = min(baseline_rows or rows, rows)
    say(f"== django-import-export, {timed:,} rows, people registered")
    fund = setting.fund(rows)
    analyze()
    phases = import_baseline(content if timed == rows else list_sheet(timed), fund, setting.clerk)
    written = Disbursement.objects.filter(fund=fund).count()
    if written != timed:
        raise RuntimeError(f"django-import-export: {written} disbursements in the fund, {timed} expected")
    say("   " + ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in phases.items()))
    if timed != rows:
        phases = {phase: seconds * rows / timed for phase, seconds in phases.items()}
        say(f"   scaled linearly to {rows:,} rows: {sum(phases.values()):.1f} s")
    run.imports["baseline"] = Import(
        "django-import-export, people registered", rows, phases, sample=timed if timed != rows else None
    )


# The exports ---------------------------------------------------------------------


def export_child(rows: int, format: str) -> dict:
    """Run in a fresh process: export `rows` disbursements as the list page's
    export does, into a temporary file, and report the process's peak memory."""
    result = {"rows": 0, "seconds": 0.0, "bytes": 0}
    if format != "none":
        user = get_user_model().objects.get(username=ADMIN)
        query = QueryDict("")
        counter = listexports.Counter()
        started = time.perf_counter()
        queryset, form = listexports.EXPORTS["disbursements"].filtered(user, query)
        sheet = listexports.build_sheet(
            "disbursements", user, query, counter=counter, queryset=queryset[:rows], form=form
        )
        with tempfile.TemporaryFile() as output:
            if format == "csv":
                for text in spreadsheets.csv_lines(sheet):
                    output.write(text.encode("utf-8"))
            else:
                spreadsheets.xlsx_file(sheet, output)
            result["bytes"] = output.seek(0, os.SEEK_END)
        result["seconds"] = time.perf_counter() - started
        result["rows"] = counter.rows
    result["peak_kb"] = peak_kb()
    return result


def peak_kb() -> int:
    """This process's peak resident memory, in kilobytes.

    VmHWM, the high-water mark of the process's own memory since it started. Not
    ru_maxrss: on Linux that survives fork and exec, so a child started by this
    (much bigger) benchmark process would report the parent's peak.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def export_in_child(rows: int, format: str) -> dict:
    command = [sys.executable, __file__, "--export-child", "--rows", str(rows), "--format", format]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"export child {format} {rows:,} failed:\n{finished.stderr[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def measure_exports(run: Run) -> None:
    get_user_model().objects.get_or_create(username=ADMIN, defaults={"is_superuser": True, "is_staff": True})
    idle = export_in_child(0, "none")
    run.idle_mb = idle["peak_kb"] / 1024
    say(f"== exports, each in a fresh process (one that only starts: {run.idle_mb:.0f} MB)")
    for format in FORMATS:
        for rows in (run.small, run.large):
            done = export_in_child(rows, format)
            if done["rows"] != rows:
                run.problems.append(f"export {format} {label(rows)}: {done['rows']:,} rows written, {rows:,} asked")
            export = Export(format, rows, done["seconds"], done["peak_kb"] / 1024, done["bytes"] / 1024 / 1024)
            run.exports.append(export)
            say(
                f"   {format} {rows:,} rows: {export.seconds:.1f} s, {rows / export.seconds:,.0f} rows/s, "
                f"peak {export.peak_mb:.0f} MB, file {export.file_mb:.1f} MB"
            )


# The report ----------------------------------------------------------------------


def figures(run: Run) -> list[Figure]:
    result = []
    if "baseline" in run.imports:
        baseline, ours = run.imports["baseline"], run.imports["ours"]
        name = f"import_{label(run.rows)}_vs_import_export"
        result.append(Figure(name, baseline.seconds / ours.seconds, ">=", GOAL_IMPORT))
    for format in FORMATS:
        peaks = {export.rows: export.peak_mb for export in run.exports if export.format == format}
        if run.small in peaks and run.large in peaks:
            name = f"export_{format}_memory_{label(run.large)}_over_{label(run.small)}"
            result.append(Figure(name, peaks[run.large] / peaks[run.small], "<=", GOAL_MEMORY))
    return result


DOC_PART = """## Spreadsheets

Importing a real-name disbursement list and exporting the disbursements list (the
issue's performance figures for spreadsheets), measured by `bench/spreadsheet_bench.py`.

### What is measured

- The list: an XLSX written with XlsxWriter (shared strings, as Excel and WPS save
  them) with the nine Chinese headers of the import template, one row per person
  (distinct synthetic people, ID numbers as text cells, 1,000 yuan each, the
  assistance type by its Chinese name, a date cell, a category for 40%, a phone and
  an employer), 100,000 rows (`make bench`) or 10,000
  (`make bench-quick`).
- Our import: what the browser flow runs (`allocations.tasks`, `_check` then `_commit`)
  from the file's bytes: `sheetreader.read` and `imports.parse_list` (read), the
  preview `services.disbursements_check` (check), the commit
  `services.disbursements_create`, which checks again under the fund's lock, registers
  unknown people and bulk-inserts the disbursements and their audit events in one
  transaction (create). The sheet is read by calamine (openpyxl only for a sheet that
  holds formulas, which is refused); the rows go in by COPY (`unionfunds/bulkload.py`).
  The job's bookkeeping around it (the parsed rows stored on the job between preview
  and commit, progress) is not timed.
- The baseline: django-import-export's default import of the same file into the same
  table: `tablib.Dataset().load(bytes, format="xlsx")` with the headers renamed to
  field names (read), then `import_data(dataset, dry_run=False)` once (create) on a
  plain `ModelResource` for `Disbursement` with default options (row by row, with its
  diff, in one transaction), the person by `ForeignKeyWidget(Beneficiary, "id_number")`,
  fund and clerk set in `before_save_instance`, the Chinese type name mapped to its code
  in `before_import_row`. It does none of our checks. The admin would run it twice (a
  dry run for the confirmation page, then the import): the figure counts it once.
- Fairness: the baseline needs the people registered, so both are timed with the
  people already registered, each into a fresh fund holding exactly enough; that is
  the figure, our import the median of several runs, the baseline one run. Our first
  run, with every person new (registered by the commit), is shown for information.
  The tables are analyzed before each run. The exports' national dataset (1,000,000
  disbursements, or 100,000 for `make bench-quick`) is in the database meanwhile.
- The exports: `manage.py build_national_dataset` loads the disbursements (COPY);
  each export then runs in a fresh Python process (`--export-child`) that builds the
  disbursements list's sheet (`listexports.build_sheet`, a superuser, no filters, the list's
  order, limited to N rows; ID numbers masked) and writes it to a temporary file:
  `spreadsheets.xlsx_file` (XlsxWriter, constant memory) or `spreadsheets.csv_lines`.
  Peak memory is the child's high-water mark of resident memory (`VmHWM` in
  `/proc/self/status`), which includes Python and Django (the "process start" row:
  a child that starts and exports nothing). Not `ru_maxrss`: on Linux it carries the
  parent's peak across fork and exec, and every child would report the benchmark's
  own 150 MB or more.
- On a throwaway PostgreSQL 15 cluster (`scripts/with-postgres`: default memory
  settings, fsync off).

Goals: our import at least 10 times as fast as django-import-export's default import
(`import_100k_vs_import_export` ≥ 10); the peak memory of an export of 1,000,000
disbursements at most 1.2 times that of 100,000 (`export_{xlsx,csv}_memory_1m_over_100k`
≤ 1.2). `make bench-quick` measures the same at 10,000 rows and 10k/100k disbursements.
"""

PHASES = {"read": "read and parse", "check": "check (preview)", "create": "create (commit)"}


def report(run: Run, info: dict[str, str]) -> str:
    lines = report_head(
        f"{info['command']}: a {run.rows:,}-row import; exports of {run.small:,} and {run.large:,} disbursements",
        info,
        run.figures,
    )
    if run.imports:
        lines += [
            "",
            f"Import of the {run.rows:,}-row list, seconds:",
            "",
            "| import | runs | " + " | ".join(PHASES.values()) + " | total | rows/s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for key in ("ours", "baseline", "ours_new"):
            timing = run.imports.get(key)
            if timing is None:
                continue
            cells = [f"{timing.phases[phase]:.2f}" if phase in timing.phases else "—" for phase in PHASES]
            lines.append(
                f"| {timing.who} | {timing.runs} | {' | '.join(cells)} | {timing.seconds:.2f} | "
                f"{timing.rows / timing.seconds:,.0f} |"
            )
        baseline, ours_new = run.imports.get("baseline"), run.imports.get("ours_new")
        if baseline:
            notes = [
                "For django-import-export, read is tablib's load and create is `import_data`; as the admin "
                f"runs it (a dry run, then the import) it would take about "
                f"{baseline.phases['read'] + 2 * baseline.phases['create']:.0f} s."
            ]
            if ours_new:
                notes.append(
                    f"It takes {baseline.seconds / ours_new.seconds:.2f} times our import with every person new."
                )
            if baseline.sample:
                notes.append(f"It was timed on the first {baseline.sample:,} rows and scaled linearly to {run.rows:,}.")
            lines += ["", " ".join(notes)]
    if run.exports:
        lines += [
            "",
            "Export of the disbursements list, each in a fresh process:",
            "",
            "| format | rows | seconds | rows/s | peak MB | file MB |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| (process start) | 0 | — | — | {run.idle_mb:.0f} | — |",
        ]
        for export in run.exports:
            lines.append(
                f"| {export.format} | {export.rows:,} | {export.seconds:.1f} | {export.rows / export.seconds:,.0f} | "
                f"{export.peak_mb:.0f} | {export.file_mb:.1f} |"
            )
        lines += ["", f"Dataset build (`build_national_dataset`, with the tree): {run.build_seconds:.0f} s."]
    if run.problems:
        lines += ["", "Problems seen during the run:", "", *(f"- {problem}" for problem in run.problems)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="quick")
    parser.add_argument("--runs", type=int, default=3, help="Timed runs of our import (median); the baseline runs once")
    parser.add_argument("--townships", type=Path, default=DEFAULT_TOWNSHIPS)
    parser.add_argument(
        "--baseline-rows", type=int, help="Time the baseline on this many first rows and scale linearly"
    )
    parser.add_argument("--only", choices=("import", "export"), help="Measure only the imports or the exports")
    parser.add_argument("--no-doc", action="store_true", help="Do not write docs/PERFORMANCE.md")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a goal is missed")
    parser.add_argument(
        "--wipe", action="store_true", help="Run even if the database already holds funds (they are truncated)"
    )
    parser.add_argument("--export-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--format", choices=(*FORMATS, "none"), default="none", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.export_child:
        print(json.dumps(export_child(args.rows, args.format)), flush=True)
        return 0
    if connection.vendor != "postgresql":
        say(f"bench: needs PostgreSQL, not {connection.vendor} (run it under scripts/with-postgres, or make bench)")
        return 2
    rows, (small, large) = SCALES[args.scale]
    run = Run(scale=args.scale, rows=rows, small=small, large=large)
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    if Fund.objects.exists() and not args.wipe:
        say("bench: this database already holds funds, and the benchmark truncates them; use a throwaway one")
        say("       (make bench does) or pass --wipe")
        return 2
    info = machine(args.scale)
    say(f"== build_national_dataset --disbursements {large:,} --reset")
    building = time.perf_counter()
    call_command("build_national_dataset", disbursements=large, reset=True, townships=args.townships, stdout=sys.stdout)
    run.build_seconds = time.perf_counter() - building
    if args.only != "import":
        measure_exports(run)
    if args.only != "export":
        measure_imports(run, max(args.runs, 1), args.baseline_rows)

    run.figures = figures(run)
    say()
    for problem in run.problems:
        say(f"PROBLEM {problem}")
    for figure in run.figures:
        say(figure.line())
    met = sum(figure.met for figure in run.figures)
    say(f"{met} of {len(run.figures)} goals met; {time.perf_counter() - started:.0f} s in all")
    if not args.no_doc:
        section = SECTIONS[args.scale]
        write_part(DOC, head=DOC_PART, names=list(SECTIONS.values()), name=section, section=report(run, info))
        say(f"wrote {DOC.relative_to(ROOT)}")
    if run.problems:
        return 1
    return 1 if args.strict and met < len(run.figures) else 0


if __name__ == "__main__":
    sys.exit(main())
