"""The steps of a national dataset build (see `allocations.dataset`)."""

import datetime
import random
import time
from array import array
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Q

from allocations import ledger, services, totals
from allocations.dataset import people
from allocations.dataset.tables import (
    CHUNK_ROWS,
    broken_references,
    chunked,
    quoted,
    rebuilt_constraints,
    rebuilt_indexes,
    reserve_ids,
    set_heads,
)
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
from beneficiaries.models import Beneficiary, Unit
from unionfunds.bulkload import copy_chunks
from unionfunds.divisions import NATIONAL_CODE, load_tree, read_divisions
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
                    cursor.execute(f"TRUNCATE {', '.join(quoted(t) for t in tables)} RESTART IDENTITY CASCADE")
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
            cursor.execute(f"LOCK TABLE {', '.join(quoted(t) for t in loaded_tables())} IN SHARE ROW EXCLUSIVE MODE")
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
            note.append(f"{services.funds_settle_from_entries():,} funds updated")
        # Approval keeps the roll-ups' running totals; a bulk load bypasses it.
        with self.step("running totals"):
            totals.rebuild()
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
                chunked(rows),
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
                    keys, broken = broken_references(table, first_id)
                    if broken:
                        raise CommandError("\n".join(broken))
                    checked += keys
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
            counters = people.numbered_so_far()
            payees: list[tuple[str, str]] = []
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
                    people.beneficiary_rows(
                        self.rng,
                        first=first_person,
                        home=home,
                        payers=payers,
                        nodes=self.nodes,
                        counters=counters,
                        created=f"{self.years[0]}-01-01 08:00:00+08",
                        said=payees,
                    ),
                )
            note.append(f"{persons:,} persons")
            self.counts["beneficiaries"] += persons
        with self.step("beneficiary categories") as note:
            through = Beneficiary.categories.through._meta.db_table
            self.first_ids[through] = reserve_ids(through, 0)
            with rebuilt_indexes(through, persons >= REBUILD_INDEXES_FROM):
                tagged = copy_chunks(
                    through,
                    ("beneficiary_id", "category_id"),
                    people.category_rows(self.rng, first=first_person, persons=persons),
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
                        "payee_name",
                        "payee_id_number",
                    ),
                    self._disbursement_rows(first, payments, reversals, first_person, home, payers, payees),
                )
            note.append(f"{payments:,} payments, {reversals:,} reversals")
            if rebuilt:
                note.append(f"{len(rebuilt)} indexes rebuilt")
            self.counts["disbursements"] += to_add

    def _disbursement_rows(self, first, payments, reversals, first_person, home, payers, payees) -> Iterator[str]:
        """The rows to COPY; on the way, each row's fund, signed amount and content
        digest (`ledger.content_digest` of the same values as the row) for
        `_ledger`, which chains them once the inflows before them are known."""
        rng = self.rng
        rnd = rng.random
        clerk, approver, batch = self.clerk, self.approver, f"第{self.batch}批"
        # (amount in fen, assistance type) pairs: flat amounts mostly, some varied to the fen.
        kinds = rng.choices(ASSISTANCE, weights=[weight for _, weight, _ in ASSISTANCE], k=65_536)
        pair_amount, pair_yuan, pair_kind, pair_text = [], [], [], []
        for kind, _, amounts in kinds:
            amount = rng.choice(amounts)
            if rng.random() < 0.35:
                amount += rng.randint(-amount // 5, amount // 5)
            pair_amount.append(amount)
            pair_yuan.append(fen_to_yuan(amount))
            pair_kind.append(kind)
            pair_text.append(f"{amount}\t{kind}")
        n_pairs = len(pair_amount)
        # What a row says, in the order the ledger hashes it: per fiscal year and
        # day, every value but the four that vary per row (filled in below).
        fields = ledger.FIELDS[LedgerKind.DISBURSEMENT]
        at = {name: fields.index(name) for name in ("fund_id", "beneficiary_id", "assistance_type", "amount")}
        at_fund, at_person, at_kind, at_amount = at.values()
        at_reverses, at_reason = fields.index("reverses_id"), fields.index("reason")
        at_payee, at_payee_number = fields.index("payee_name"), fields.index("payee_id_number")
        paid_as = [f"\t{name}\t{number}\n" for name, number in payees]
        day_tail, day_values = {}, {}
        for year in self.years:
            days = (datetime.date(year, 12, 31) - datetime.date(year, 1, 1)).days + 1
            tails, values = [], []
            for day in range(days):
                date = datetime.date(year, 1, 1) + datetime.timedelta(days=day)
                decided = min(date + datetime.timedelta(days=1 + day % 3), datetime.date(year, 12, 31))
                tails.append(
                    f"{date}\t{Status.APPROVED}\t{clerk}\t{date} 09:30:00+08"
                    f"\t{approver}\t{decided} 15:00:00+08\t{batch}"
                )
                known = {
                    "unit_id": None,
                    "batch": batch,
                    "duplicate_confirmed": False,
                    "date": date,
                    "status": Status.APPROVED,
                    "note": "",
                    "reverses_id": None,
                    "reason": "",
                    "created_by_id": clerk,
                    "created_at": _at(date, 9, 30),
                    "decided_by_id": approver,
                    "decided_at": _at(decided, 15),
                    "rejection_reason": "",
                }
                values.append([known.get(name) for name in fields])
            day_tail[year], day_values[year] = tails, values
        years = self.years
        fund_of = [{year: self.funds[(node.id, year)] for year in years} for node in payers]
        digest = ledger.content_digest
        kind_of_entry = LedgerKind.DISBURSEMENT
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
            append(
                f"{next_id}\t{fund}\t{first_person + person}\t{pair_text[pair]}\t{tails[day]}\t\t\t\tf\t\\N\t\\N"
                + paid_as[person]
            )
            says = day_values[year][day].copy()
            says[at_fund], says[at_person] = fund, first_person + person
            says[at_kind], says[at_amount] = pair_kind[pair], pair_yuan[pair]
            says[at_payee], says[at_payee_number] = payees[person]
            digests += bytes.fromhex(digest(kind_of_entry, says))
            chain_funds.append(fund)
            chain_amounts.append(-pair_amount[pair])
            if index in reversed_at:
                later = min(day + 1 + int(rnd() * 20), len(tails) - 1)
                append(
                    f"{next_id + 1}\t{fund}\t{first_person + person}\t{pair_text[pair]}\t{tails[later]}\t\t"
                    f"{REVERSAL_REASON}\t\tf\t{next_id}\t\\N" + paid_as[person]
                )
                says = day_values[year][later].copy()
                says[at_fund], says[at_person] = fund, first_person + person
                says[at_kind], says[at_amount] = pair_kind[pair], pair_yuan[pair]
                says[at_payee], says[at_payee_number] = payees[person]
                says[at_reverses], says[at_reason] = next_id, REVERSAL_REASON
                digests += bytes.fromhex(digest(kind_of_entry, says))
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
                chunked(rows),
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
                chunked(rows),
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
            heads = {
                pk: [seq, head, owner]
                for pk, seq, head, owner in Fund.objects.values_list("pk", "ledger_seq", "ledger_hash", "federation_id")
            }
            before = {pk: seq for pk, (seq, _head, _owner) in heads.items()}
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
                head[1] = link(head[1], fund, head[0], kind, movement_id, amount, content, owner_id=head[2])
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
            head[1] = link(head[1], fund, seq, kind, movement_id, amount, content, owner_id=head[2])
            rows.append(f"{next_id}\t{fund}\t{seq}\t{kind}\t{movement_id}\t{amount}\t{head[1]}\n")
            next_id += 1
            movement_id += 1
            if len(rows) >= CHUNK_ROWS:
                yield "".join(rows)
                rows.clear()
        if rows:
            yield "".join(rows)


def _at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    """A time of day as the rows write it (China time)."""
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=CHINA)
