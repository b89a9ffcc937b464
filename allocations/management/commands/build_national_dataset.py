"""A national-scale dataset on PostgreSQL, for roll-up benchmarks (issue item 5).

    manage.py build_national_dataset --disbursements 5000000 [--years 2022] [--reset]

Loads the whole federation tree (31 provinces, 333 city federations, 2,978
counties and the 41,352 townships of streets.csv as the grassroots level), then
writes with COPY, in one transaction on Django's connection:

- a system clerk and a system approver (members of the national federation);
- one pandemic fund per federation per fiscal year;
- approved contributions: each province's own funds, each city's matching money,
  each township's self-raised money;
- approved allocations down the tree: province → city → county → township
  (counties of municipalities straight from the province);
- approved disbursements from township funds to synthetic beneficiaries (about
  one person per two payments, checksum-valid ID numbers from `idnumber.build`
  with the county's area code), with a few approved reversals;

- each fund's hash chain of what it approved (`allocations.ledger`), hashed in
  Python as the rows are generated: inflows first, then what it passed down,
  then its payments, so that `verify_ledger` finds the dataset clean;

and finally sets every fund's balance from the entries, so that every CHECK
constraint holds, rebuilds the running totals if the roll-ups keep any, and
ANALYZEs. The money flows bottom-up: each township receives what it pays out
plus a margin, partly raised by itself and the rest allocated by its county,
and so on up to the province, which puts in its own funds.

Without --reset the command tops up: it adds disbursements (and the people,
contributions and allocations behind them, as a new numbered batch) until the
table holds N rows; run again with the same N it adds nothing. --reset truncates
the money and beneficiary tables first (the federation tree stays).

Speed: rows are generated in Python and streamed to COPY while PostgreSQL
ingests them; secondary indexes of the big tables are dropped and rebuilt
around a large load; as a superuser the foreign-key triggers are skipped during
the load (session_replication_role = replica) and every new reference is checked
afterwards with one anti-join per foreign key instead.
"""

import datetime
import hashlib
import random
import time
from array import array
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Q

from allocations import ledger
from allocations.models import (
    Allocation,
    AssistanceType,
    Contribution,
    Disbursement,
    Fund,
    LedgerEntry,
    LedgerKind,
    Purpose,
    Source,
    Status,
)
from beneficiaries import idnumber
from beneficiaries.models import Beneficiary, Category, CategoryCode, Unit
from unionfunds.bulkload import copy_chunks
from unionfunds.divisions import FIXTURES, NATIONAL_CODE, load_tree, read_divisions
from unionfunds.models import Federation, Level, Membership, Role
from unionfunds.money import fen_to_yuan

# China's townships (乡镇/街道), from the same public dataset as fixtures/areas.csv.
DEFAULT_TOWNSHIPS = Path(settings.BASE_DIR) / "fixtures" / "streets.csv"
CLERK = "dataset-clerk"
APPROVER = "dataset-approver"
FUND_NAME = "{year}年疫情防控专项资金"
REFERENCE = "national-dataset batch {batch}"
REVERSAL_RATE = 0.002  # share of the disbursement rows that are approved reversals
REVERSAL_REASON = "发放对象信息有误，冲销"
# A load this large drops and rebuilds the table's secondary indexes.
REBUILD_INDEXES_FROM = 100_000
CHUNK_ROWS = 20_000
CHINA = datetime.timezone(datetime.timedelta(hours=8))  # the offset the rows' times are written with

# How much of a federation's money it raises itself, by level; the rest is
# allocated by its parent. A province (under the national root) raises all of it.
CONTRIBUTION = {
    Level.PROVINCE: (Source.OWN_FUNDS, 1.0),
    Level.CITY: (Source.MATCHING, 0.3),
    Level.TOWNSHIP: (Source.SELF_RAISED, 0.2),
    Level.GRASSROOTS: (Source.SELF_RAISED, 0.2),
}
PAYER_LEVELS = {Level.GRASSROOTS, Level.TOWNSHIP}

# Assistance types (weight) and typical amounts in fen for a pandemic fund.
ASSISTANCE = [
    (AssistanceType.PANDEMIC_SUBSIDY, 40, (50_000, 100_000, 100_000, 100_000, 200_000, 500_000)),
    (AssistanceType.LIVING, 20, (50_000, 80_000, 100_000, 150_000, 200_000)),
    (AssistanceType.MEDICAL, 10, (100_000, 200_000, 300_000, 500_000)),
    (AssistanceType.SERIOUS_ILLNESS, 4, (500_000, 1_000_000, 2_000_000)),
    (AssistanceType.CONDOLENCE, 12, (50_000, 100_000, 200_000)),
    (AssistanceType.EDUCATION, 8, (100_000, 200_000, 300_000, 500_000)),
    (AssistanceType.TRAINING, 4, (30_000, 50_000, 80_000)),
    (AssistanceType.JOB_PLACEMENT, 2, (20_000, 50_000)),
]
CATEGORY_WEIGHTS = {
    CategoryCode.FRONTLINE_MEDICAL: 25,
    CategoryCode.MIGRANT_WORKER: 25,
    CategoryCode.REGISTERED_HARDSHIP: 20,
    CategoryCode.HARD_INDUSTRY: 12,
    CategoryCode.WORK_INJURY: 6,
    CategoryCode.MODEL_WORKER: 4,
    CategoryCode.OUTSTANDING_MODEL: 3,
    CategoryCode.FAMILY_OF_FALLEN: 2,
    CategoryCode.SECONDED_CADRE: 3,
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力国庆春梅海林峰鹏志宏"

# ID numbers: per county, the k-th synthetic person gets birth day and sequence
# from k * _ID_STRIDE mod (_ID_DAYS * 1000), a bijection, so numbers never repeat.
_ID_BIRTH_BASE = datetime.date(1960, 1, 1)
_ID_DAYS = 16_000  # up to 2003-10
_ID_SLOTS = _ID_DAYS * 1000
_ID_STRIDE = 7919  # prime, coprime with _ID_SLOTS = 2**10 * 5**6


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
        parser.add_argument("--verify", action="store_true", help="Check the ledger invariants afterwards")
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
                cursor.execute("VACUUM " + ", ".join(_q(table) for table in loaded_tables()))
        if options["verify"]:
            with builder.step("verify"):
                problems = check_ledger()
            if problems:
                raise CommandError("Ledger invariants do not hold:\n" + "\n".join(problems))
            self.stdout.write("  ledger invariants hold")
        self.stdout.write(self.style.SUCCESS(f"Done in {time.perf_counter() - started:.1f} s: {builder.summary()}"))


def loaded_tables() -> list[str]:
    return [
        LedgerEntry._meta.db_table,
        Disbursement._meta.db_table,
        Beneficiary._meta.db_table,
        Beneficiary.categories.through._meta.db_table,
        Allocation._meta.db_table,
        Contribution._meta.db_table,
        Fund._meta.db_table,
    ]


class Node:
    __slots__ = ("code", "depth", "id", "level", "parent_id", "path")

    def __init__(self, id, code, path, depth, level, parent_id):
        self.id, self.code, self.path, self.depth, self.level, self.parent_id = id, code, path, depth, level, parent_id


class Builder:
    def __init__(self, *, out, years, seed, folder, townships, provinces):
        self.out = out
        self.years = years
        self.seed = seed
        self.folder = folder
        self.townships = townships
        self.provinces = provinces
        self.counts: dict[str, int] = defaultdict(int)
        self.superuser = False

    # Steps ---------------------------------------------------------------------

    @contextmanager
    def step(self, name: str):
        started = time.perf_counter()
        self.out.write(f"  {name} ...", ending="")
        self.out.flush()
        note: list[str] = []
        try:
            yield note
        except BaseException:
            self.out.write(" failed")
            raise
        self.out.write(f" {time.perf_counter() - started:.1f} s" + (f" ({'; '.join(note)})" if note else ""))

    def summary(self) -> str:
        added = [f"{count:,} {name}" for name, count in self.counts.items() if count]
        return "added " + ", ".join(added) if added else "nothing added"

    def build(self, target: int, *, reset: bool) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('is_superuser') = 'on'")
            self.superuser = cursor.fetchone()[0]
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cursor.execute("SET LOCAL work_mem = '64MB'")
        if reset:
            with self.step("reset"):
                tables = [*loaded_tables(), Unit._meta.db_table]
                with connection.cursor() as cursor:
                    # TRUNCATE refuses while checks of earlier writes in this
                    # transaction are still deferred: run them now.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute(f"TRUNCATE {', '.join(_q(t) for t in tables)} RESTART IDENTITY CASCADE")
                    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        with self.step("federation tree") as note:
            divisions = read_divisions(self.folder, self.townships, township_level=Level.GRASSROOTS)
            if self.provinces is not None:
                unknown = self.provinces - {d.code for d in divisions if d.level == Level.PROVINCE}
                if unknown:
                    raise CommandError(f"No province with code {', '.join(sorted(unknown))}.")
                divisions = [d for d in divisions if d.code[:2] in self.provinces]
            created = load_tree(divisions)
            self.nodes = self._nodes()
            note.append(f"{len(self.nodes):,} federations in scope, {created:,} created")
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {', '.join(_q(t) for t in loaded_tables())} IN SHARE ROW EXCLUSIVE MODE")
        with self.step("users and funds") as note:
            self.clerk, self.approver = self._users()
            self.funds = self._funds(note)
        existing = Disbursement.objects.count()
        to_add = target - existing
        if to_add <= 0:
            self.out.write(
                f"  {existing:,} disbursements already, {target:,} wanted: nothing to add "
                "(rows are never deleted but with --reset)"
            )
        else:
            self.batch = (
                1
                + Contribution.objects.filter(reference__startswith=REFERENCE.format(batch=""))
                .values("reference")
                .distinct()
                .count()
            )
            self.rng = random.Random(f"{self.seed}:{self.batch}")
            with self._fast_load():
                self._people_and_payments(to_add)
                self._money_flow()
                self._ledger()
        # The balances and totals are summed from what was just loaded: without
        # statistics of it, the planner takes its tables for empty and can pick
        # nested loops that read the whole of them once per fund.
        with self.step("analyze the loaded tables"), connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        with self.step("fund balances from the entries") as note:
            note.append(f"{set_balances():,} funds updated")
        self._rebuild_totals()
        with self.step("analyze the totals"), connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    def _nodes(self) -> dict[int, Node]:
        root = Federation.objects.filter(code=NATIONAL_CODE).first()
        if root is None:
            raise CommandError("No national federation after loading the tree.")
        federations = Federation.objects.filter(path__startswith=root.path)
        if self.provinces is not None:
            in_scope = Q(pk=root.pk)
            for path in Federation.objects.filter(code__in=self.provinces).values_list("path", flat=True):
                in_scope |= Q(path__startswith=path)
            federations = federations.filter(in_scope)
        nodes = {
            row[0]: Node(*row)
            for row in federations.order_by("path").values_list("id", "code", "path", "depth", "level", "parent_id")
        }
        self.root = nodes[root.pk]
        return nodes

    def _users(self):
        User = get_user_model()
        users = []
        for username, role in ((CLERK, Role.CLERK), (APPROVER, Role.APPROVER)):
            user, created = User.objects.get_or_create(username=username, defaults={"first_name": "dataset"})
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            Membership.objects.get_or_create(user=user, federation_id=self.root.id, role=role)
            users.append(user.pk)
        return users

    def _funds(self, note: list[str]) -> dict[tuple[int, int], int]:
        """{(federation id, year): fund id}, creating the funds that are missing."""
        funds: dict[tuple[int, int], int] = {}
        for year in self.years:
            for federation_id, fund_id in (
                Fund.objects.filter(purpose=Purpose.PANDEMIC, fiscal_year=year, name=FUND_NAME.format(year=year))
                .order_by("-pk")
                .values_list("federation_id", "pk")
            ):
                funds[(federation_id, year)] = fund_id
        missing = [
            (node.id, year) for year in self.years for node in self.nodes.values() if (node.id, year) not in funds
        ]
        if missing:
            start = reserve_ids(Fund._meta.db_table, len(missing))
            rows = []
            for offset, (federation_id, year) in enumerate(missing):
                funds[(federation_id, year)] = start + offset
                rows.append(
                    f"{start + offset}\t{federation_id}\t{FUND_NAME.format(year=year)}\t{Purpose.PANDEMIC}\t{year}"
                    f"\t0\t0\t0\t{ledger.GENESIS}\t{year}-01-01 08:00:00+08\n"
                )
            copy_chunks(
                Fund._meta.db_table,
                (
                    "id",
                    "federation_id",
                    "name",
                    "purpose",
                    "fiscal_year",
                    "balance",
                    "reserved",
                    "ledger_seq",
                    "ledger_hash",
                    "created_at",
                ),
                _chunked(rows),
            )
        self.counts["funds"] += len(missing)
        note.append(f"{len(missing):,} funds created, {len(funds):,} in scope")
        return funds

    @contextmanager
    def _fast_load(self):
        """Foreign-key triggers off for the load (superuser only), checked in bulk after."""
        if self.superuser:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        self.first_ids: dict[str, int] = {}
        try:
            yield
        finally:
            if self.superuser:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL session_replication_role = origin")
        if self.superuser:
            with self.step("check references") as note:
                checked = 0
                for table, first_id in self.first_ids.items():
                    checked += check_references(table, first_id)
                note.append(f"{checked} foreign keys, all rows")

    # People and payments -------------------------------------------------------

    def _people_and_payments(self, to_add: int) -> None:
        rng = self.rng
        payers = [node for node in self.nodes.values() if node.level in PAYER_LEVELS and node.depth > 1]
        if not payers:
            raise CommandError("No township (grassroots) federations in scope to pay from.")
        reversals = round(to_add * REVERSAL_RATE) if to_add >= 2 else 0
        payments = to_add - reversals
        persons = max(1, payments // 2)
        # Some townships pay far more people than others.
        weights = [rng.uniform(0.2, 1.8) for _ in payers]
        home = rng.choices(range(len(payers)), weights=weights, k=persons)

        with self.step("beneficiaries") as note:
            first_person = reserve_ids(Beneficiary._meta.db_table, persons)
            self.first_ids[Beneficiary._meta.db_table] = first_person
            counters = self._id_counters()
            with rebuilt_indexes(Beneficiary._meta.db_table, persons >= REBUILD_INDEXES_FROM):
                copy_chunks(
                    Beneficiary._meta.db_table,
                    (
                        "id",
                        "name",
                        "id_number",
                        "gender",
                        "birth_date",
                        "phone",
                        "employer",
                        "federation_id",
                        "created_at",
                    ),
                    self._beneficiary_rows(first_person, home, payers, counters),
                )
            note.append(f"{persons:,} persons")
            self.counts["beneficiaries"] += persons
        with self.step("beneficiary categories") as note:
            through = Beneficiary.categories.through._meta.db_table
            self.first_ids[through] = reserve_ids(through, 0)
            with rebuilt_indexes(through, persons >= REBUILD_INDEXES_FROM):
                tagged = copy_chunks(
                    through, ("beneficiary_id", "category_id"), self._category_rows(first_person, persons)
                )
            note.append(f"{tagged:,} tags")

        with self.step("disbursements") as note:
            table = Disbursement._meta.db_table
            first = reserve_ids(table, to_add)
            self.first_ids[table] = first
            self.paid: dict[int, int] = defaultdict(int)  # fund id -> fen paid out in this batch
            with rebuilt_indexes(table, to_add >= REBUILD_INDEXES_FROM) as rebuilt:
                copy_chunks(
                    table,
                    (
                        "id",
                        "fund_id",
                        "beneficiary_id",
                        "amount",
                        "assistance_type",
                        "date",
                        "status",
                        "created_by_id",
                        "created_at",
                        "decided_by_id",
                        "decided_at",
                        "batch",
                        "note",
                        "reason",
                        "rejection_reason",
                        "duplicate_confirmed",
                        "reverses_id",
                        "unit_id",
                    ),
                    self._disbursement_rows(first, payments, reversals, first_person, home, payers),
                )
            note.append(f"{payments:,} payments, {reversals:,} reversals")
            if rebuilt:
                note.append(f"{len(rebuilt)} indexes rebuilt")
            self.counts["disbursements"] += to_add

    def _id_counters(self) -> dict[str, int]:
        """Synthetic people already numbered per area code (a top-up continues after them)."""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT substr(id_number, 1, 6), count(*) FROM {_q(Beneficiary._meta.db_table)} GROUP BY 1")
            return defaultdict(int, cursor.fetchall())

    def _area_code(self, node: Node) -> str:
        """The area code of a payer's county (the first six digits of its people's ID numbers)."""
        current = node
        while current is not None:
            if current.level == Level.COUNTY and len(current.code) == 6 and current.code.isdigit():
                return current.code
            if current.level == Level.PROVINCE and current.code.isdigit():
                return current.code[:2] + "0000"
            current = self.nodes.get(current.parent_id)
        return node.code[:6] if node.code[:6].isdigit() and len(node.code) >= 6 else "110000"

    def _beneficiary_rows(self, first: int, home: list[int], payers: list[Node], counters) -> Iterator[str]:
        rnd = self.rng.random
        area = [self._area_code(node) for node in payers]
        births = [_ID_BIRTH_BASE + datetime.timedelta(days=day) for day in range(_ID_DAYS)]
        birth_text = [f"{day:%Y-%m-%d}" for day in births]
        surnames, given = SURNAMES, GIVEN
        created = f"{self.years[0]}-01-01 08:00:00+08"
        build = idnumber.build
        rows = []
        for offset, payer in enumerate(home):
            code = area[payer]
            k = counters[code]
            counters[code] = k + 1
            slot = (k * _ID_STRIDE + int(code) * 104_729) % _ID_SLOTS
            day, sequence = slot % _ID_DAYS, slot // _ID_DAYS
            name = surnames[int(rnd() * len(surnames))] + given[int(rnd() * len(given))]
            if rnd() < 0.6:
                name += given[int(rnd() * len(given))]
            rows.append(
                f"{first + offset}\t{name}\t{build(code, births[day], sequence)}\t"
                f"{'male' if sequence % 2 else 'female'}\t{birth_text[day]}\t\t\t{payers[payer].id}\t{created}\n"
            )
            if len(rows) >= CHUNK_ROWS:
                yield "".join(rows)
                rows.clear()
        if rows:
            yield "".join(rows)

    def _category_rows(self, first: int, persons: int) -> Iterator[str]:
        # Queried before the COPY starts: no other statement may run during it.
        ids = dict(Category.objects.values_list("code", "pk"))
        codes = [code for code in CATEGORY_WEIGHTS if code in ids]
        return self._category_rows_for(first, persons, ids, codes) if codes else iter(())

    def _category_rows_for(self, first: int, persons: int, ids: dict, codes: list) -> Iterator[str]:
        rng = self.rng
        weights = [CATEGORY_WEIGHTS[code] for code in codes]
        rows = []
        for offset in range(persons):
            draw = rng.random()
            if draw < 0.4:
                picked = set(rng.choices(codes, weights=weights, k=2 if draw < 0.05 else 1))
                rows.extend(f"{first + offset}\t{ids[code]}\n" for code in picked)
            if len(rows) >= CHUNK_ROWS:
                yield "".join(rows)
                rows.clear()
        if rows:
            yield "".join(rows)

    def _disbursement_rows(self, first, payments, reversals, first_person, home, payers) -> Iterator[str]:
        """The rows to COPY; on the way, each row's fund, signed amount and content
        digest (`ledger.content_digest`, built from the same pieces as the row) for
        `_ledger`, which chains them once the inflows before them are known."""
        rng = self.rng
        rnd = rng.random
        clerk, approver, batch = self.clerk, self.approver, f"第{self.batch}批"
        token = ledger.token
        # (amount in fen, assistance type) pairs: flat amounts mostly, some varied to the fen.
        kinds = rng.choices(ASSISTANCE, weights=[weight for _, weight, _ in ASSISTANCE], k=65_536)
        pair_amount, pair_text, pair_hashed = [], [], []
        for kind, _, amounts in kinds:
            amount = rng.choice(amounts)
            if rng.random() < 0.35:
                amount += rng.randint(-amount // 5, amount // 5)
            pair_amount.append(amount)
            pair_text.append(f"{amount}\t{kind}")
            # unit_id, assistance_type, batch, duplicate_confirmed, amount
            pair_hashed.append(
                token(None) + token(kind) + token(batch) + token(False) + token(ledger.money_text(amount))
            )
        n_pairs = len(pair_amount)
        # Per fiscal year and day: the date and decision columns, ready to join;
        # hashed, from the date to the end, for a payment and (without
        # reverses_id and reason, which go between) for a reversal.
        day_tail, paid_hashed, dates_hashed, decisions_hashed = {}, {}, {}, {}
        not_reversing = token(None) + token("")  # reverses_id, reason
        for year in self.years:
            days = (datetime.date(year, 12, 31) - datetime.date(year, 1, 1)).days + 1
            tails, paid_tails, dates, decisions = [], [], [], []
            for day in range(days):
                date = datetime.date(year, 1, 1) + datetime.timedelta(days=day)
                decided = min(date + datetime.timedelta(days=1 + day % 3), datetime.date(year, 12, 31))
                tails.append(
                    f"{date}\t{Status.APPROVED}\t{clerk}\t{date} 09:30:00+08"
                    f"\t{approver}\t{decided} 15:00:00+08\t{batch}"
                )
                dates.append(token(date) + token(Status.APPROVED) + token(""))  # date, status, note
                decisions.append(
                    token(clerk) + token(_at(date, 9, 30)) + token(approver) + token(_at(decided, 15)) + token("")
                )
                paid_tails.append(dates[-1] + not_reversing + decisions[-1])
            day_tail[year], paid_hashed[year] = tails, paid_tails
            dates_hashed[year], decisions_hashed[year] = dates, decisions
        years = self.years
        fund_of = [{year: self.funds[(node.id, year)] for year in years} for node in payers]
        prefix = ledger.content_prefix(LedgerKind.DISBURSEMENT)
        fund_hashed = {fund: prefix + token(fund) for funds in fund_of for fund in funds.values()}
        sha256 = hashlib.sha256
        self.first_disbursement = first
        # Row k (id first + k): its fund, signed fen, and 32 bytes of digest at 32k.
        self.chain_funds = chain_funds = array("q")
        self.chain_amounts = chain_amounts = array("q")
        self.chain_digests = digests = bytearray()
        reversed_at = set(rng.sample(range(payments), reversals)) if reversals else set()
        persons = len(home)
        paid = self.paid
        next_id = first
        rows = []
        append = rows.append
        single_year = years[0] if len(years) == 1 else None
        for index in range(payments):
            person = index if index < persons else int(rnd() * persons)
            year = single_year or years[int(rnd() * len(years))]
            fund = fund_of[home[person]][year]
            pair = int(rnd() * n_pairs)
            tails = day_tail[year]
            day = int(rnd() * len(tails))
            paid[fund] += pair_amount[pair]
            append(f"{next_id}\t{fund}\t{first_person + person}\t{pair_text[pair]}\t{tails[day]}\t\t\t\tf\t\\N\t\\N\n")
            # ledger.content_digest of the row, from its pieces: fund_id, beneficiary_id,
            # then unit_id to amount (the pair), then date to rejection_reason.
            beneficiary = str(first_person + person)
            paying = f"{fund_hashed[fund]}{len(beneficiary)}:{beneficiary}{pair_hashed[pair]}"
            digests += sha256(f"{paying}{paid_hashed[year][day]}".encode()).digest()
            chain_funds.append(fund)
            chain_amounts.append(-pair_amount[pair])
            if index in reversed_at:
                later = min(day + 1 + int(rnd() * 20), len(tails) - 1)
                append(
                    f"{next_id + 1}\t{fund}\t{first_person + person}\t{pair_text[pair]}\t{tails[later]}\t\t"
                    f"{REVERSAL_REASON}\t\tf\t{next_id}\t\\N\n"
                )
                reversing = token(next_id) + token(REVERSAL_REASON)  # reverses_id, reason
                dates, decisions = dates_hashed[year], decisions_hashed[year]
                digests += sha256(f"{paying}{dates[later]}{reversing}{decisions[later]}".encode()).digest()
                chain_funds.append(fund)
                chain_amounts.append(pair_amount[pair])
                next_id += 1
            next_id += 1
            if len(rows) >= CHUNK_ROWS:
                yield "".join(rows)
                rows.clear()
        if rows:
            yield "".join(rows)

    # Money flowing down to the payers -----------------------------------------

    def _money_flow(self) -> None:
        """Size every fund's inflow from what it pays out or passes down, leaves first."""
        rng = self.rng
        first_batch = self.batch == 1
        contributions, allocations = [], []
        by_depth = sorted(self.nodes.values(), key=lambda node: -node.depth)
        for year in self.years:
            passed_down: dict[int, int] = defaultdict(int)
            for node in by_depth:
                if node.depth == 1:
                    continue  # the national fund neither raises nor receives in this dataset
                fund = self.funds[(node.id, year)]
                needed = passed_down[node.id] + self.paid.get(fund, 0)
                if needed == 0 and not first_batch:
                    continue
                margin = int(needed * rng.uniform(0.02, 0.08))
                if first_batch:
                    margin += rng.randint(1_000, 10_000) * 100
                total = -(-(needed + margin) // 10_000) * 10_000  # up to whole hundreds of yuan
                source, share = CONTRIBUTION.get(node.level, (None, 0.0))
                parent = self.nodes.get(node.parent_id)
                if parent is None or parent.depth == 1:
                    source, share = source or Source.OWN_FUNDS, 1.0
                raised = min(total, round(total * share / 10_000) * 10_000) if source else 0
                if raised > 0:
                    contributions.append((fund, source, raised, year, node.depth))
                if total - raised > 0:
                    from_fund = self.funds[(parent.id, year)]
                    allocations.append((from_fund, node.id, fund, total - raised, year, node.depth))
                    passed_down[parent.id] += total - raised

        def dated(year: int, depth: int) -> tuple[datetime.date, datetime.date]:
            start = datetime.date(year, 1, 1) + datetime.timedelta(days=(self.batch - 1) * 45 + depth * 6)
            day = min(start + datetime.timedelta(days=int(rng.random() * 6)), datetime.date(year, 12, 31))
            return day, min(day + datetime.timedelta(days=1), datetime.date(year, 12, 31))

        common = f"{Status.APPROVED}\t{self.clerk}\t{{entered}} 10:00:00+08\t{self.approver}\t{{decided}} 16:00:00+08"
        # What `_ledger` chains before the payments: (kind, id, {fund: signed fen}, content digest, order).
        self.inflows = []

        def chain(kind: int, id_: int, legs: dict, order: int, own: tuple, day, decided) -> None:
            """`own`: the kind's own fields (ledger.FIELDS) before the amount, then the amount."""
            decision = (
                day,
                Status.APPROVED,
                "",
                None,
                "",
                self.clerk,
                _at(day, 10),
                self.approver,
                _at(decided, 16),
                "",
            )
            self.inflows.append((kind, id_, legs, ledger.content_digest(kind, [*own, *decision]), order))

        with self.step("contributions") as note:
            table = Contribution._meta.db_table
            first = reserve_ids(table, len(contributions))
            self.first_ids[table] = first
            rows = []
            reference = REFERENCE.format(batch=self.batch)
            for offset, (fund, source, amount, year, depth) in enumerate(contributions):
                day, decided = dated(year, depth - 1)
                rows.append(
                    f"{first + offset}\t{fund}\t{source}\t{reference}\t{amount}\t{day}\t"
                    + common.format(entered=day, decided=decided)
                    + "\t\t\t\t\\N\n"
                )
                own = (fund, source, reference, fen_to_yuan(amount))
                chain(LedgerKind.CONTRIBUTION, first + offset, {fund: amount}, 0, own, day, decided)
            copy_chunks(
                table,
                (
                    "id",
                    "fund_id",
                    "source",
                    "reference",
                    "amount",
                    "date",
                    "status",
                    "created_by_id",
                    "created_at",
                    "decided_by_id",
                    "decided_at",
                    "note",
                    "reason",
                    "rejection_reason",
                    "reverses_id",
                ),
                _chunked(rows),
            )
            note.append(f"{len(contributions):,}")
            self.counts["contributions"] += len(contributions)
        with self.step("allocations") as note:
            table = Allocation._meta.db_table
            first = reserve_ids(table, len(allocations))
            self.first_ids[table] = first
            rows = []
            for offset, (from_fund, to_federation, to_fund, amount, year, depth) in enumerate(allocations):
                day, decided = dated(year, depth)
                rows.append(
                    f"{first + offset}\t{from_fund}\t{to_federation}\t{to_fund}\t{amount}\t{day}\t"
                    + common.format(entered=day, decided=decided)
                    + f"\t第{self.batch}批\t\t\t\t\\N\n"
                )
                own = (from_fund, to_federation, to_fund, f"第{self.batch}批", fen_to_yuan(amount))
                legs = {from_fund: -amount, to_fund: amount}
                chain(LedgerKind.ALLOCATION, first + offset, legs, depth, own, day, decided)
            copy_chunks(
                table,
                (
                    "id",
                    "from_fund_id",
                    "to_federation_id",
                    "to_fund_id",
                    "amount",
                    "date",
                    "status",
                    "created_by_id",
                    "created_at",
                    "decided_by_id",
                    "decided_at",
                    "batch",
                    "note",
                    "reason",
                    "rejection_reason",
                    "reverses_id",
                ),
                _chunked(rows),
            )
            note.append(f"{len(allocations):,}")
            self.counts["allocations"] += len(allocations)

    # The hash chains -------------------------------------------------------------------

    def _ledger(self) -> None:
        """Chain this batch into each fund's ledger, after what it already holds:
        contributions, then allocations from the top of the tree down (a fund
        receives before it passes on), then the payments in id order."""
        table = LedgerEntry._meta.db_table
        count = sum(len(legs) for _kind, _id, legs, _digest, _depth in self.inflows) + len(self.chain_funds)
        with self.step("ledger") as note:
            heads = {pk: [seq, head] for pk, seq, head in Fund.objects.values_list("pk", "ledger_seq", "ledger_hash")}
            before = {pk: seq for pk, (seq, _head) in heads.items()}
            first = reserve_ids(table, count)
            self.first_ids[table] = first
            with rebuilt_constraints(table, count >= REBUILD_INDEXES_FROM) as rebuilt:
                copy_chunks(
                    table,
                    ("id", "fund_id", "seq", "kind", "movement_id", "amount", "hash"),
                    self._ledger_rows(first, heads),
                )
            changed = set_heads({pk: head for pk, head in heads.items() if head[0] != before[pk]})
            note.append(f"{count:,} entries, {changed:,} fund heads")
            if rebuilt:
                note.append(f"{len(rebuilt)} constraints rebuilt")
        del self.chain_funds, self.chain_amounts, self.chain_digests, self.inflows

    def _ledger_rows(self, first: int, heads: dict[int, list]) -> Iterator[str]:
        link = ledger.link
        rows = []
        next_id = first
        # Contributions come first (order 0), then allocations by the recipient's depth.
        for kind, movement_id, legs, content, _order in sorted(self.inflows, key=lambda inflow: inflow[4]):
            for fund, amount in sorted(legs.items()):
                head = heads[fund]
                head[0] += 1
                head[1] = link(head[1], fund, head[0], kind, movement_id, amount, content)
                rows.append(f"{next_id}\t{fund}\t{head[0]}\t{kind}\t{movement_id}\t{amount}\t{head[1]}\n")
                next_id += 1
        kind = int(LedgerKind.DISBURSEMENT)
        digests, amounts = self.chain_digests, self.chain_amounts
        movement_id = self.first_disbursement
        for index, fund in enumerate(self.chain_funds):
            head = heads[fund]
            seq = head[0] = head[0] + 1
            amount = amounts[index]
            content = digests[32 * index : 32 * index + 32].hex()
            head[1] = link(head[1], fund, seq, kind, movement_id, amount, content)
            rows.append(f"{next_id}\t{fund}\t{seq}\t{kind}\t{movement_id}\t{amount}\t{head[1]}\n")
            next_id += 1
            movement_id += 1
            if len(rows) >= CHUNK_ROWS:
                yield "".join(rows)
                rows.clear()
        if rows:
            yield "".join(rows)

    def _rebuild_totals(self) -> None:
        """The roll-ups' running totals (if the code keeps any) are written by the
        services on approval; a bulk load bypasses them, so rebuild them here."""
        try:
            from allocations import totals
        except ImportError:
            return
        rebuild = getattr(totals, "rebuild", None)
        if rebuild is not None:
            with self.step("running totals"):
                rebuild()


# SQL helpers -------------------------------------------------------------------


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _chunked(rows: list[str]) -> Iterator[str]:
    for start in range(0, len(rows), CHUNK_ROWS):
        yield "".join(rows[start : start + CHUNK_ROWS])


def reserve_ids(table: str, count: int) -> int:
    """The first of `count` consecutive primary keys taken from the table's sequence."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        cursor.execute(f"SELECT GREATEST(nextval(%s), (SELECT COALESCE(MAX(id), 0) + 1 FROM {_q(table)}))", [sequence])
        first = cursor.fetchone()[0]
        if count:
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


@contextmanager
def rebuilt_indexes(table: str, enabled: bool):
    """Drop the table's secondary indexes (not those behind a constraint) for a big
    load and build them again afterwards: sorting once beats millions of inserts."""
    if not enabled:
        yield []
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [table],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield [name for name, _ in indexes]
    with connection.cursor() as cursor:
        for _name, definition in indexes:
            cursor.execute(definition)


@contextmanager
def rebuilt_constraints(table: str, enabled: bool):
    """Drop the table's unique constraints for a big load and add them back
    afterwards, as `rebuilt_indexes` does with plain indexes."""
    if not enabled:
        yield []
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'u'",
            [table],
        )
        constraints = cursor.fetchall()
        for name, _definition in constraints:
            cursor.execute(f"ALTER TABLE {_q(table)} DROP CONSTRAINT {_q(name)}")
    yield [name for name, _ in constraints]
    with connection.cursor() as cursor:
        # ALTER TABLE refuses while checks of rows written in this transaction are deferred.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for name, definition in constraints:
            cursor.execute(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} {definition}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def set_heads(heads: dict[int, list]) -> int:
    """Write each fund's chain head ({fund id: [position, hash]}); returns how many."""
    items = sorted(heads.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), 1000):
            chunk = items[start : start + 1000]
            cursor.execute(
                f"UPDATE {_q(Fund._meta.db_table)} f SET ledger_seq = v.seq, ledger_hash = v.hash "
                f"FROM (VALUES {', '.join(['(%s::bigint, %s::bigint, %s)'] * len(chunk))}) AS v(id, seq, hash) "
                "WHERE f.id = v.id",
                [value for pk, (seq, head) in chunk for value in (pk, seq, head)],
            )
    return len(items)


def _at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    """A time of day as the rows write it (China time)."""
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=CHINA)


def check_references(table: str, first_id: int) -> int:
    """Every foreign key of the rows with id >= first_id points at a row; returns
    how many foreign keys were checked."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, c.confrelid::regclass::text, fa.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1] "
            "WHERE c.conrelid = %s::regclass AND c.contype = 'f' AND array_length(c.conkey, 1) = 1",
            [table],
        )
        keys = cursor.fetchall()
        for column, target, target_column in keys:
            cursor.execute(
                f"SELECT count(*) FROM {_q(table)} t WHERE t.id >= %s AND t.{_q(column)} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {target} r WHERE r.{_q(target_column)} = t.{_q(column)})",
                [first_id],
            )
            broken = cursor.fetchone()[0]
            if broken:
                raise CommandError(f"{broken} rows of {table} point at no {target} row ({column}).")
    return len(keys)


def _flows_sql() -> str:
    """Per fund: approved in − approved out (`held`), and what pending outflows
    reserve (`reserved`), from the entries."""
    contribution, allocation, disbursement = (
        _q(model._meta.db_table) for model in (Contribution, Allocation, Disbursement)
    )
    approved, pending = f"status = '{Status.APPROVED}'", f"status = '{Status.PENDING}'"
    plus = "CASE WHEN reverses_id IS NULL THEN amount ELSE -amount END"
    minus = "CASE WHEN reverses_id IS NULL THEN -amount ELSE amount END"
    return f"""
        flows(fund_id, delta) AS (
            SELECT fund_id, {plus} FROM {contribution} WHERE {approved}
            UNION ALL SELECT to_fund_id, {plus} FROM {allocation} WHERE {approved}
            UNION ALL SELECT from_fund_id, {minus} FROM {allocation} WHERE {approved}
            UNION ALL SELECT fund_id, {minus} FROM {disbursement} WHERE {approved}
        ),
        held AS (SELECT fund_id, SUM(delta) AS amount FROM flows GROUP BY fund_id),
        holds(fund_id, amount) AS (
            SELECT fund_id, amount FROM {contribution} WHERE {pending} AND reverses_id IS NOT NULL
            UNION ALL SELECT CASE WHEN reverses_id IS NULL THEN from_fund_id ELSE to_fund_id END, amount
                FROM {allocation} WHERE {pending}
            UNION ALL SELECT fund_id, amount FROM {disbursement} WHERE {pending} AND reverses_id IS NULL
        ),
        reserved AS (SELECT fund_id, SUM(amount) AS amount FROM holds GROUP BY fund_id),
        expected AS (
            SELECT f.id, COALESCE(h.amount, 0) AS balance, COALESCE(r.amount, 0) AS reserved
            FROM {_q(Fund._meta.db_table)} f
            LEFT JOIN held h ON h.fund_id = f.id LEFT JOIN reserved r ON r.fund_id = f.id
        )"""


def set_balances() -> int:
    """Every fund's balance and reservation from its entries; returns how many changed.
    The CHECK constraints refuse a negative balance or an over-reservation."""
    fund = _q(Fund._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {_flows_sql()} UPDATE {fund} f SET balance = e.balance, reserved = e.reserved FROM expected e "
            "WHERE e.id = f.id AND (f.balance, f.reserved) IS DISTINCT FROM (e.balance, e.reserved)"
        )
        return cursor.rowcount


def check_ledger() -> list[str]:
    """The ledger invariants, from the raw entries: every fund's balance is its
    approved inflows less its approved outflows, its reservation what pending
    outflows hold, and the money in the system adds up (the balances plus what was
    paid out equal what was contributed). Returns what does not hold."""
    problems = []
    contribution, disbursement = (_q(model._meta.db_table) for model in (Contribution, Disbursement))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {_flows_sql()} SELECT f.id, f.balance, e.balance, f.reserved, e.reserved "
            f"FROM {_q(Fund._meta.db_table)} f JOIN expected e ON e.id = f.id "
            "WHERE (f.balance, f.reserved) IS DISTINCT FROM (e.balance, e.reserved) ORDER BY f.id LIMIT 20"
        )
        for fund_id, balance, expected, reserved, expected_reserved in cursor.fetchall():
            problems.append(
                f"fund {fund_id}: balance {balance} fen, entries say {expected}; "
                f"reserved {reserved}, pending entries say {expected_reserved}"
            )
        net = "COALESCE(SUM(CASE WHEN reverses_id IS NULL THEN amount ELSE -amount END), 0)"
        approved = f"status = '{Status.APPROVED}'"
        cursor.execute(
            f"SELECT (SELECT COALESCE(SUM(balance), 0) FROM {_q(Fund._meta.db_table)}), "
            f"(SELECT {net} FROM {disbursement} WHERE {approved}), "
            f"(SELECT {net} FROM {contribution} WHERE {approved})"
        )
        balances, disbursed, contributed = cursor.fetchone()
        if balances + disbursed != contributed:
            problems.append(
                f"balances {balances} + disbursed {disbursed} != contributed {contributed} (fen): "
                "money appeared or vanished"
            )
        cursor.execute(f"SELECT count(*) FROM {_q(Fund._meta.db_table)} WHERE balance < 0 OR reserved > balance")
        if (negative := cursor.fetchone()[0]) > 0:
            problems.append(f"{negative} funds hold less than zero or reserve more than they hold")
    return problems
