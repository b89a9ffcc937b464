"""Roll-up benchmark (the issue "Roll-ups ... fast at national scale", item 6).

    make bench         # 500k then 5M disbursements, on a throwaway PostgreSQL
    make bench-quick   # the same figures at a tenth of the scale (50k then 500k)

    scripts/with-postgres .venv/bin/python bench/rollup_bench.py --scale quick

On the database it is given (which must be PostgreSQL, and is wiped: the money
and beneficiary tables are truncated), it builds the national dataset at the
small and the large size in two databases of one cluster, times them in turns,
and prints one line per figure:

    BENCH <name> <value> goal <op><target>

- rollup_{national,province}_<large>_over_<small>: the roll-up page (Django test
  client, logged-in superuser) at the large size over the same page at the
  small size; a roll-up that reads running totals stays flat;
- rollup_{national,province}_over_groupby_<large>: the same page over one
  hand-written SQL GROUP BY of the raw approved disbursements by child subtree
  (sum and count), at the large size;
- rollup_queries_20_over_2_children: SQL queries of the roll-up page for a
  province with 20 children over one with 2 (both built through the services
  inside a transaction that is rolled back).

Each timing is the median of several warm runs. docs/PERFORMANCE.md gets the
figures, the absolute timings and the machine. The goals are reported, not
enforced: the exit status is 0 unless the run itself failed (or --strict and a
goal is missed).
"""

import argparse
import datetime
import itertools
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "unionfunds.settings")
# The development secret key and plain static files, without DEBUG's query log.
os.environ.setdefault("UNIONFUNDS_TESTING", "1")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from allocations import rollups, verify  # noqa: E402
from allocations.dataset.builder import APPROVER, CLERK, DEFAULT_TOWNSHIPS  # noqa: E402
from allocations.models import Disbursement, Fund, Status  # noqa: E402
from unionfunds.divisions import NATIONAL_CODE  # noqa: E402
from unionfunds.models import Federation  # noqa: E402

SCALES = {"full": (500_000, 5_000_000), "quick": (50_000, 500_000)}
DOC = ROOT / "docs" / "PERFORMANCE.md"
GOAL_RATIO = 1.3
GOAL_VS_SQL = 0.5


@dataclass
class Timing:
    rollup: float  # seconds, median: allocations.rollups.rollup()
    page: float  # seconds, median: GET of the roll-up page
    sql: float  # seconds, median: the hand-written GROUP BY
    runs: int
    children: int
    disbursed_matches: bool
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (seconds, SQL) of one page request


@dataclass
class Figure:
    name: str
    value: float
    op: str
    target: float
    exact: tuple[int, int] | None = None  # for a ratio of counts: (numerator, denominator)

    @property
    def met(self) -> bool:
        if self.op == "==":
            return self.exact[0] == self.exact[1] if self.exact else self.value == self.target
        return self.value >= self.target if self.op == ">=" else self.value <= self.target

    @property
    def shown(self) -> str:
        if self.exact and self.exact[0] == self.exact[1]:
            return "1.00"
        if self.exact:
            return f"{self.value:.4f}"
        return f"{self.value:.2f}" if self.value >= 0.1 else f"{self.value:.3f}"

    def line(self) -> str:
        return f"BENCH {self.name} {self.shown} goal {self.op}{self.target:g}"


@dataclass
class Run:
    scale: str
    small: int
    large: int
    builds: dict[str, float] = field(default_factory=dict)
    timings: dict[tuple[str, int], Timing] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def label(count: int) -> str:
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}m"
    if count >= 1_000 and count % 1_000 == 0:
        return f"{count // 1_000}k"
    return str(count)


def say(message: str = "") -> None:
    print(message, flush=True)


def group_by_sql(federation: Federation) -> tuple[str, list]:
    """One hand-written GROUP BY over the raw rows: approved disbursements (net of
    reversals) summed and counted per child subtree of `federation`."""
    child = len(federation.path) + Federation.steplen
    sql = f"""
        SELECT substr(f.path, 1, {child}) AS child,
               SUM(CASE WHEN d.reverses_id IS NULL THEN d.amount ELSE -d.amount END) AS amount,
               SUM(CASE WHEN d.reverses_id IS NULL THEN 1 ELSE -1 END) AS times
        FROM {Disbursement._meta.db_table} d
        JOIN {Fund._meta.db_table} fu ON fu.id = d.fund_id
        JOIN {Federation._meta.db_table} f ON f.id = fu.federation_id
        WHERE d.status = %s AND f.path LIKE %s
        GROUP BY 1"""
    return sql, [Status.APPROVED, federation.path + "%"]


def run_sql(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def use_database(name: str) -> None:
    """Point Django's connection at another database of the same cluster."""
    if connection.settings_dict["NAME"] != name:
        connection.close()
        connection.settings_dict["NAME"] = name


def fresh_database(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)}")
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")


def interleaved(actions: dict[str, object], runs: int) -> dict[str, float]:
    """Median seconds of each action, by database; the databases take turns, run
    after run, so that whatever else loads the machine weighs on each alike.
    After each switch of database one untimed call warms the new session up."""
    samples = defaultdict(list)
    for _ in range(runs):
        for database, action in actions.items():
            use_database(database)
            action()
            started = time.perf_counter()
            action()
            samples[database].append(time.perf_counter() - started)
    return {database: statistics.median(times) for database, times in samples.items()}


def measure(clients: dict[str, Client], code: str, runs: int) -> dict[str, Timing]:
    """The roll-up of the federation with `code` in each database."""
    federations, pages = {}, {}
    for database, client in clients.items():
        use_database(database)
        federations[database] = Federation.objects.get(code=code)
        url = reverse("rollup", args=[federations[database].pk])

        def page(client=client, url=url):
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} answered {response.status_code}")

        pages[database] = page
    rollup_seconds = interleaved(
        {database: lambda f=each: rollups.rollup(f, rollups.Filters()) for database, each in federations.items()}, runs
    )
    page_seconds = interleaved(pages, runs)
    queries = {database: group_by_sql(federation) for database, federation in federations.items()}
    sql_seconds = interleaved({database: lambda q=query: run_sql(*q) for database, query in queries.items()}, runs)
    timings = {}
    for database, federation in federations.items():
        use_database(database)
        result = rollups.rollup(federation, rollups.Filters())
        raw_fen = sum(amount or 0 for _, amount, _ in run_sql(*queries[database]))
        with CaptureQueriesContext(connection) as captured:
            pages[database]()
        slowest = sorted(((float(query["time"]), query["sql"]) for query in captured.captured_queries), reverse=True)
        timings[database] = Timing(
            slowest=slowest[:3],
            rollup=rollup_seconds[database],
            page=page_seconds[database],
            sql=sql_seconds[database],
            runs=runs,
            children=len(result.children),
            disbursed_matches=int(result.total.disbursed * 100) == raw_fen,
        )
    return timings


def build(run: Run, disbursements: int, *, reset: bool, townships: Path) -> None:
    say(f"== build_national_dataset --disbursements {disbursements:,}{' --reset' if reset else ''}")
    started = time.perf_counter()
    call_command(
        "build_national_dataset",
        disbursements=disbursements,
        reset=reset,
        townships=townships,
        stdout=sys.stdout,
    )
    run.builds[label(disbursements)] = time.perf_counter() - started


class _RollBack(Exception):
    pass


def page_queries(client: Client, sizes=(2, 20)) -> dict[str, int]:
    """SQL queries of the roll-up page for provinces with `sizes` children, made
    through the services (funds, a contribution, allocations and a payment in every
    child, all approved) inside a transaction that is rolled back."""
    from allocations import services as money
    from beneficiaries import idnumber
    from beneficiaries.services import beneficiary_register
    from unionfunds.services import federation_create

    User = get_user_model()
    clerk, approver = User.objects.get(username=CLERK), User.objects.get(username=APPROVER)
    root = Federation.objects.get(code=NATIONAL_CODE)
    counts: dict[str, int] = {}
    person = 0
    try:
        with transaction.atomic():
            for size in sizes:
                province = federation_create(
                    code=f"BENCH{size}", name=f"基准{size}省总工会", level="province", parent=root
                )
                fund = money.fund_create(
                    federation=province, name="基准专项资金", purpose="pandemic", fiscal_year=2022, by=clerk
                )
                entry = money.contribution_create(fund=fund, source="own_funds", amount=f"{size * 10_000}", by=clerk)
                money.movement_approve(movement=entry, by=approver)
                for number in range(size):
                    city = federation_create(
                        code=f"BENCH{size}-{number:02d}",
                        name=f"基准{size}-{number}市总工会",
                        level="city",
                        parent=Federation.objects.get(pk=province.pk),
                    )
                    allocation = money.allocation_create(from_fund=fund, to_federation=city, amount="5000", by=clerk)
                    money.movement_approve(movement=allocation, by=approver)
                    person += 1
                    beneficiary = beneficiary_register(
                        name="基准职工",
                        id_number=idnumber.build(
                            "810000", datetime.date(1980, 1, 1) + datetime.timedelta(days=person), 1
                        ),
                        federation=city,
                        by=clerk,
                    )
                    payment = money.disbursement_create(
                        fund=allocation.to_fund,
                        beneficiary=beneficiary,
                        assistance_type="living",
                        amount="1000.00",
                        by=clerk,
                    )
                    money.movement_approve(movement=payment, by=approver)
            for size in sizes:
                province = Federation.objects.get(code=f"BENCH{size}")
                url = reverse("rollup", args=[province.pk])
                client.get(url)  # warm
                with CaptureQueriesContext(connection) as captured:
                    response = client.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {url} answered {response.status_code}")
                counts[f"{size}_children"] = len(captured.captured_queries)
            raise _RollBack
    except _RollBack:
        pass
    return counts


def machine(scale: str) -> dict[str, str]:
    def first(pattern: str, text: str, default: str = "?") -> str:
        match = re.search(pattern, text, re.MULTILINE)
        return match.group(1).strip() if match else default

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = first(r"^MemTotal:\s+(\d+)", meminfo, "0")
    try:
        cpus = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        cpus = str(os.cpu_count())
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
        settings = []
        for name in ("shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit"):
            cursor.execute(f"SHOW {name}")
            settings.append(f"{name}={cursor.fetchone()[0]}")
    try:
        git = ["git", "-C", str(ROOT)]
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, check=True)
        commit = commit.stdout.strip() + (" plus uncommitted changes" if status.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    loadavg = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": first(r"^model name\s*:\s*(.+)$", cpuinfo),
        "nproc": cpus,
        "memory": f"{int(mem_kb) / 1024 / 1024:.1f} GiB",
        "postgresql": f"{pg_version} ({', '.join(settings)})",
        "python": f"{platform.python_version()}, Django {django.get_version()}",
        "commit": commit,
        "load": " ".join(loadavg),
        "command": "make bench" if scale == "full" else "make bench-quick",
    }


def figures(run: Run) -> list[Figure]:
    small, large = label(run.small), label(run.large)
    result = []
    for scope in ("national", "province"):
        before, after = run.timings[(scope, run.small)], run.timings[(scope, run.large)]
        result.append(Figure(f"rollup_{scope}_{large}_over_{small}", after.page / before.page, "<=", GOAL_RATIO))
    for scope in ("national", "province"):
        after = run.timings[(scope, run.large)]
        result.append(Figure(f"rollup_{scope}_over_groupby_{large}", after.page / after.sql, "<=", GOAL_VS_SQL))
    q2, q20 = run.queries["2_children"], run.queries["20_children"]
    result.append(Figure("rollup_queries_20_over_2_children", q20 / q2, "==", 1, exact=(q20, q2)))
    return result


def report_head(title: str, info: dict[str, str], figures: list[Figure]) -> list[str]:
    """The lines every bench section starts with: what ran where, and the figures."""
    lines = [
        f"### {title}",
        "",
        f"Run {info['date']} on {info['cpu']}, {info['nproc']} CPUs (nproc), {info['memory']} memory; "
        f"load average {info['load']} at the start; PostgreSQL {info['postgresql']}; Python {info['python']}; "
        f"commit {info['commit']}.",
        "",
        "| figure | value | goal | met |",
        "| --- | --- | --- | --- |",
    ]
    for figure in figures:
        lines.append(
            f"| `{figure.name}` | {figure.shown} | {figure.op}{figure.target:g} | {'yes' if figure.met else 'NO'} |"
        )
    return lines


def report(run: Run, info: dict[str, str], province: Federation) -> str:
    small, large = label(run.small), label(run.large)
    lines = report_head(f"{info['command']}: {small} then {large} disbursements", info, run.figures)
    lines += [
        "",
        "Medians of warm runs, in milliseconds (the page includes `rollup()`, the template and the chart):",
        "",
        "| scope | disbursements | children | runs | `rollup()` | roll-up page | SQL GROUP BY | page / SQL |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (scope, size), timing in sorted(run.timings.items(), key=lambda item: (item[0][0], item[0][1])):
        name = "national root" if scope == "national" else f"province {province.name} ({province.code})"
        lines.append(
            f"| {name} | {size:,} | {timing.children} | {timing.runs} | {timing.rollup * 1000:,.0f} | "
            f"{timing.page * 1000:,.0f} | {timing.sql * 1000:,.0f} | {timing.page / timing.sql:.2f} |"
        )
    lines += [
        "",
        "SQL queries per roll-up page: "
        + ", ".join(f"{count} for a province with {key.replace('_', ' ')}" for key, count in run.queries.items())
        + ".",
        "",
        "Dataset build (`build_national_dataset`, including the federation tree): "
        + "; ".join(f"{size} {seconds:.0f} s" for size, seconds in run.builds.items())
        + " (each from scratch).",
    ]
    lines += ["", f"Slowest SQL of one roll-up page at {large} (seconds, statement cut at 300 characters):", ""]
    for scope in ("national", "province"):
        for seconds, statement in run.timings[(scope, run.large)].slowest:
            cut = " ".join(statement.split())
            cut = cut if len(cut) <= 300 else cut[:300] + " …"
            lines.append(f"- {scope}, {seconds:.3f} s: `{cut}`")
    if run.problems:
        lines += ["", "Problems seen during the run:", "", *(f"- {problem}" for problem in run.problems)]
    return "\n".join(lines) + "\n"


DOC_HEAD = """# Performance

The figures of `make bench` (full scale) and `make bench-quick` (a tenth of the scale),
each printed as a line `BENCH <name> <value> goal <op><target>`. Two benchmarks write
this file, each only its own part: `bench/rollup_bench.py` the roll-ups,
`bench/spreadsheet_bench.py` the spreadsheets. A run rewrites its part's text and the
results of its scale (a section between HTML comment markers), and keeps every other
section as it was. The goals are reported, not enforced.
"""

ROLLUP_HEAD = """## Roll-ups

Roll-up speed at national scale (the issue "Roll-ups ... fast at national scale",
items 5 and 6), measured by `bench/rollup_bench.py`.

### What is measured

- The dataset: `manage.py build_national_dataset` loads the whole tree (31 provinces,
  333 city federations, 2,978 counties, 41,352 townships as the grassroots level), one
  pandemic fund per federation, contributions and allocations down the tree, and the
  given number of approved disbursements (about one person per two payments, 0.2%
  reversals) from the township funds, with COPY. The benchmark builds the small and the
  large size from scratch, each in a database of its own on one cluster, and times them
  in turns (small, large, small, large, ...), so that whatever else the machine is doing
  weighs on both sizes alike.
- The roll-up page: `GET /rollup/<id>/` with Django's test client, logged in as a
  superuser, no filters, for the national root and for one province; `rollup()` is the
  function the page calls, timed on its own.
- The baseline: one hand-written SQL `GROUP BY` over the raw approved disbursement rows
  (join to fund and federation, `substr` of the path per child subtree, sum and count).
- Each timing is the median of several warm runs (an untimed call after each switch of
  database), on a throwaway PostgreSQL 15 cluster (`scripts/with-postgres`: default
  memory settings, fsync off).

Building from scratch: `build_national_dataset --disbursements 5000000 --reset --verify` took
211 s on the machine below (2026-11-22, sharing its 2 CPUs with other jobs): tree 8 s,
2.5M beneficiaries 71 s, 5M disbursements with their index rebuild 87 s, foreign-key
checks 11 s, balances 4 s, running totals 6 s; the database is then 2.1 GB.

Goals: page at the large size over the small size ≤ 1.3; page over the raw `GROUP BY`
≤ 0.5; the same number of SQL queries for a province with 2 children as for one with 20.
"""

# A marked section: what one run of one benchmark at one scale wrote.
MARKED = re.compile(r"<!-- bench:(?P<name>[\w-]+):begin -->\n(?P<body>.*?)<!-- bench:(?P=name):end -->\n?", re.DOTALL)


def write_doc(scale: str, section: str) -> None:
    write_part(DOC, head=ROLLUP_HEAD, names=list(SCALES), name=scale, section=section)


def write_part(path: Path, *, head: str, names: list[str], name: str, section: str) -> None:
    """Rewrite one benchmark's part of the shared document `path`.

    A part is a `## ` heading and its text (`head`, which starts with that heading
    line), then the benchmark's marked sections in the order of `names`; `section`
    replaces section `name`, and the benchmark's other sections stay (moved into its
    part if they stood elsewhere). The title is rewritten from DOC_HEAD. Every other
    part, and every section not in `names` wherever it stands, is kept as it was.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    sections: dict[str, str] = {}

    def take(match: re.Match) -> str:
        if match["name"] not in names:
            return match[0]
        sections[match["name"]] = match["body"]
        return ""

    text = MARKED.sub(take, text)
    sections[name] = section
    heading = head.split("\n", 1)[0]
    preamble, *parts = _split_parts(text)
    mine = head.rstrip("\n") + "\n" + "".join(_marked(n, sections[n]) for n in names if n in sections)
    pieces, placed = [DOC_HEAD + _others(preamble)], False
    for part in parts:
        if part.split("\n", 1)[0] != heading:
            pieces.append(part)
        elif not placed:
            pieces.append(mine + _others(part))
            placed = True
        elif _others(part):
            pieces.append(_others(part))
    if not placed:
        pieces.append(mine)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(piece.strip("\n") + "\n" for piece in pieces), encoding="utf-8")


def _marked(name: str, body: str) -> str:
    return f"\n<!-- bench:{name}:begin -->\n{body}<!-- bench:{name}:end -->\n"


def _others(text: str) -> str:
    """The marked sections found in a piece of text that is being rewritten."""
    return "".join(_marked(match["name"], match["body"]) for match in MARKED.finditer(text))


def _split_parts(text: str) -> list[str]:
    """The text before the first `## ` heading, then one piece per `## ` heading
    (headings inside marked sections do not count)."""
    inside = [match.span() for match in MARKED.finditer(text)]
    starts = [
        match.start()
        for match in re.finditer(r"^## ", text, re.MULTILINE)
        if not any(begin <= match.start() < end for begin, end in inside)
    ]
    bounds = [0, *starts, len(text)]
    return [text[begin:end] for begin, end in itertools.pairwise(bounds)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="quick")
    parser.add_argument("--runs", type=int, default=5, help="Timed runs per measurement (median)")
    parser.add_argument("--province", default="44", help="Code of the province to measure (default 44, 广东)")
    parser.add_argument("--townships", type=Path, default=DEFAULT_TOWNSHIPS)
    parser.add_argument("--no-doc", action="store_true", help="Do not write docs/PERFORMANCE.md")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a goal is missed")
    parser.add_argument(
        "--wipe", action="store_true", help="Run even if the database already holds funds (they are truncated)"
    )
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        say(f"bench: needs PostgreSQL, not {connection.vendor} (run it under scripts/with-postgres, or make bench)")
        return 2
    small, large = SCALES[args.scale]
    run = Run(scale=args.scale, small=small, large=large)
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    if Fund.objects.exists() and not args.wipe:
        say("bench: this database already holds funds, and the benchmark truncates them; use a throwaway one")
        say("       (make bench does) or pass --wipe")
        return 2
    setup_test_environment()
    # Each size in a database of its own on the same cluster, so that the two can be
    # timed in turns: a slow minute of the machine then slows both, not one.
    databases = {small: connection.settings_dict["NAME"], large: f"{connection.settings_dict['NAME']}_large"}
    fresh_database(databases[large])
    clients = {}
    User = get_user_model()
    for size, database in databases.items():
        use_database(database)
        call_command("migrate", verbosity=0, interactive=False)
        build(run, size, reset=True, townships=args.townships)
        run.problems += [f"ledger at {label(size)}: {problem}" for problem in verify.verify(totals=True).lines()]
        admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_superuser": True, "is_staff": True})
        clients[database] = Client()
        clients[database].force_login(admin)

    for scope, code in {"national": NATIONAL_CODE, "province": args.province}.items():
        say(f"== measuring the roll-up of {scope} ({code}) at {small:,} and {large:,} disbursements, in turns")
        timings = measure(clients, code, args.runs)
        for size, database in databases.items():
            timing = run.timings[(scope, size)] = timings[database]
            say(
                f"   {size:,}: rollup() {timing.rollup * 1000:,.0f} ms, page {timing.page * 1000:,.0f} ms, "
                f"SQL GROUP BY {timing.sql * 1000:,.0f} ms (median of {timing.runs})"
            )
            if not timing.disbursed_matches:
                run.problems.append(f"{scope} at {label(size)}: rollup() disbursed differs from the raw SQL sum")
    use_database(databases[small])
    province = Federation.objects.get(code=args.province)
    client = clients[databases[small]]
    say("== counting the SQL queries of the roll-up page")
    run.queries = page_queries(client)
    say("   " + ", ".join(f"{key}: {count}" for key, count in run.queries.items()))

    run.figures = figures(run)
    info = machine(args.scale)
    say()
    for problem in run.problems:
        say(f"PROBLEM {problem}")
    for figure in run.figures:
        say(figure.line())
    met = sum(figure.met for figure in run.figures)
    say(f"{met} of {len(run.figures)} goals met; {time.perf_counter() - started:.0f} s in all")
    if not args.no_doc:
        write_doc(args.scale, report(run, info, province))
        say(f"wrote {DOC.relative_to(ROOT)}")
    if run.problems:
        return 1
    return 1 if args.strict and met < len(run.figures) else 0


if __name__ == "__main__":
    sys.exit(main())
