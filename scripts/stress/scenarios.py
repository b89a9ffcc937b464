"""The four scenarios of `make stress`, and the world they run in.

Imported once Django is set up (by `__main__`). Each scenario has its own county
and fund, so that its figures (and its roll-up) are its own; each returns a
`Scenario` with its figures and every problem found.
"""

import datetime
import json
import re
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from clients import Browser, Http, at_once, in_parallel, latency
from django.conf import settings
from django.db import connection
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from rest_framework.authtoken.models import Token
from servers import PYTHON, ROOT, WORKER_APP, WORKERS, Servers
from spreadsheet_bench import list_sheet

from allocations import services as money
from allocations.models import Disbursement, Fund, Status
from beneficiaries import idnumber
from beneficiaries import services as people
from beneficiaries.models import Beneficiary
from unionfunds.models import AuditEvent, IdempotencyKey, Job, Level, RateWindow, Role
from unionfunds.services import federation_create, membership_grant

CLIENTS, AFFORDABLE, AMOUNT = 100, 50, Decimal("1000.00")  # the bench's list pays 1,000.00 a row too
RETRIES, LIST_ROWS = 10, 1000
ZERO = Decimal("0.00")
# What the job page must say once the killed worker is noticed (unionfunds.jobs, in Chinese).
GONE_WRITING = "后台处理程序在写入名单时停止运行，未写入任何数据。请重新上传名单。"


@dataclass
class Scenario:
    name: str
    figures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return ok

    def expect(self, what: str, actual, expected) -> bool:
        return self.check(actual == expected, f"{what}: {actual!r}, expected {expected!r}")

    @property
    def passed(self) -> bool:
        return not self.problems

    def line(self) -> str:
        text = f"{'PASS' if self.passed else 'FAIL'} {self.name}: " + "; ".join(self.figures)
        return text + "".join(f"\n     problem: {problem}" for problem in self.problems)


def verify_ledger(env: dict[str, str], scenario: Scenario) -> None:
    """`manage.py verify_ledger` (hash chains and balances recomputed) must exit 0."""
    if not (ROOT / "allocations" / "management" / "commands" / "verify_ledger.py").exists():
        scenario.check(False, "manage.py verify_ledger does not exist yet: the ledger was not verified")
        return
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "manage.py", "verify_ledger", "--totals", "--language", "en"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    output = (done.stdout + done.stderr).strip()
    if scenario.check(done.returncode == 0, f"verify_ledger exited {done.returncode}:\n{output[-3000:]}"):
        scenario.figures.append(f"verify_ledger --totals clean ({output.splitlines()[-1] if output else seconds})")


# The world ------------------------------------------------------------------------------------


@dataclass
class World:
    counties: list
    clerks: list[tuple]  # (user, password)
    approvers: list[tuple]
    auditor: tuple
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, who: tuple) -> str:
        return self.tokens[who[0].username]


def build_world() -> World:
    """A province with three counties, one per scenario; its clerks, approvers and
    auditor act over all three. Random passwords: the run signs in with them."""
    nation = federation_create(code="STRESS", name="压力测试全国总工会", level=Level.NATIONAL, parent=None)
    province = federation_create(code="STRESS-63", name="压力测试省总工会", level=Level.PROVINCE, parent=nation)
    counties = [
        federation_create(code=f"STRESS-63-{n}", name=f"压力测试第{n}区总工会", level=Level.COUNTY, parent=province)
        for n in (1, 2, 3)
    ]

    def account(username: str, role: str) -> tuple:
        password = uuid.uuid4().hex + "-Aa1"
        return membership_grant(username=username, federation=province, role=role, password=password).user, password

    return World(
        counties=counties,
        clerks=[account(f"stress-clerk-{n}", Role.CLERK) for n in range(1, 5)],
        approvers=[account(f"stress-approver-{n}", Role.APPROVER) for n in (1, 2)],
        auditor=account("stress-auditor", Role.AUDITOR),
    )


def sign_in_api(port: int, world: World) -> None:
    """Tokens from the token endpoint, with the right passwords only (django-axes counts failures)."""
    for user, password in [*world.clerks, *world.approvers, world.auditor]:
        answer = Http(port).api("POST", "auth/token/", {"username": user.username, "password": password})
        if answer.status != 200:
            raise RuntimeError(f"token for {user.username}: {answer.status} {answer.body[:300]!r}")
        world.tokens[user.username] = answer.json()["token"]


def funded(world: World, county, name: str, amount: Decimal) -> Fund:
    """A fund of the county holding `amount`, from one approved contribution."""
    clerk, approver = world.clerks[0][0], world.approvers[0][0]
    fund = money.fund_create(federation=county, name=name, purpose="pandemic", fiscal_year=2022, by=clerk)
    contribution = money.contribution_create(fund=fund, source="own_funds", amount=amount, by=clerk)
    money.movement_approve(movement=contribution, by=approver)
    return Fund.objects.get(pk=fund.pk)


def synthetic_id(area: str, n: int) -> str:
    return idnumber.build(area, datetime.date(1970, 1, 1) + datetime.timedelta(days=n), n % 1000)


# 1. A hundred payments at once, fifty affordable -----------------------------------------------


def concurrent_disbursements(servers: Servers, world: World) -> Scenario:
    scenario = Scenario("concurrent-disbursements")
    county = world.counties[0]
    fund = funded(world, county, "并发发放专项资金", AMOUNT * AFFORDABLE)
    workers = [
        people.beneficiary_register(
            name=f"并发职工{n:03d}", id_number=synthetic_id("630103", n), federation=county, by=world.clerks[0][0]
        )
        for n in range(CLIENTS)
    ]
    payments = [
        (
            world.token(world.clerks[n % len(world.clerks)]),
            "POST",
            "disbursements/",
            {"fund": fund.pk, "beneficiary": worker.pk, "assistance_type": "living", "amount": str(AMOUNT)},
            None,
        )
        for n, worker in enumerate(workers)
    ]
    answers, seconds = at_once(servers.port, payments)
    outcomes = Counter(answer.outcome for answer in answers)
    scenario.figures.append(
        f"{CLIENTS} POSTs by {len(world.clerks)} clerks at once: {outcomes[201]} created, "
        f"{outcomes['insufficient_funds']} insufficient_funds in {seconds:.2f} s ({latency(answers)})"
    )
    scenario.expect(
        "answers to the payments", outcomes, Counter({201: AFFORDABLE, "insufficient_funds": CLIENTS - AFFORDABLE})
    )
    created = sorted(answer.json()["id"] for answer in answers if answer.status == 201)
    written = Disbursement.objects.filter(fund=fund)
    scenario.expect("ids answered, ids written", created, sorted(written.values_list("pk", flat=True)))
    scenario.expect(
        "statuses written", Counter(written.values_list("status", flat=True)), Counter({Status.PENDING: AFFORDABLE})
    )
    scenario.expect(
        "audit events of the entries",
        AuditEvent.objects.filter(action="disbursement.created", object_id__in=created).count(),
        AFFORDABLE,
    )
    fund.refresh_from_db()
    scenario.expect(
        "balance, reserved, available once entered",
        (fund.balance, fund.reserved, fund.available),
        (AMOUNT * AFFORDABLE, AMOUNT * AFFORDABLE, ZERO),
    )

    # Both approvers approve every entered payment, all at the same moment.
    approvals = [
        (world.token(approver), "POST", f"disbursements/{pk}/approve/", None, None)
        for pk in created
        for approver in world.approvers
    ]
    answers, seconds = at_once(servers.port, approvals)
    outcomes = Counter(answer.outcome for answer in answers)
    scenario.figures.append(
        f"{len(approvals)} approvals by {len(world.approvers)} approvers at once: {outcomes[200]} approved, "
        f"{outcomes['not_pending']} not_pending in {seconds:.2f} s ({latency(answers)})"
    )
    scenario.expect("answers to the approvals", outcomes, Counter({200: AFFORDABLE, "not_pending": AFFORDABLE}))
    scenario.expect(
        "statuses written", Counter(written.values_list("status", flat=True)), Counter({Status.APPROVED: AFFORDABLE})
    )
    fund.refresh_from_db()
    scenario.expect(
        "balance, reserved, available once approved", (fund.balance, fund.reserved, fund.available), (ZERO, ZERO, ZERO)
    )
    auditor = Http(servers.port, world.token(world.auditor))
    shown = auditor.api("GET", f"funds/{fund.pk}/").json()
    scenario.expect(
        "the fund in the API (balance, available)", (shown["balance"], shown["available"]), ("0.00", "0.00")
    )
    total = auditor.api("GET", f"rollups/{county.pk}/").json()["total"]
    scenario.expect(
        "the county's roll-up (disbursed, person-times, persons, balance)",
        (total["disbursed"], total["person_times"], total["persons"], total["balance"]),
        (f"{AMOUNT * AFFORDABLE:.2f}", AFFORDABLE, AFFORDABLE, "0.00"),
    )
    scenario.figures.append(
        f"balance {fund.balance:,.2f}, reserved {fund.reserved:,.2f}; roll-up paid "
        f"{Decimal(total['disbursed']):,.2f} to {total['persons']} persons, balance {total['balance']}"
    )
    return scenario


# 2. One Idempotency-Key, ten clients ----------------------------------------------------------


def idempotent_retries(servers: Servers, world: World) -> Scenario:
    scenario = Scenario("idempotent-retries")
    county, clerk = world.counties[1], world.clerks[1][0]
    fund = funded(world, county, "幂等重试专项资金", AMOUNT * (LIST_ROWS + 1))
    worker = people.beneficiary_register(
        name="重试职工", id_number=synthetic_id("630104", 0), federation=county, by=clerk
    )
    rows = [
        {"name": f"名单职工{n:04d}", "id_number": synthetic_id("630105", n), "amount": str(AMOUNT)}
        for n in range(LIST_ROWS)
    ]
    cases = [
        (
            "one payment",
            "disbursements/",
            {"fund": fund.pk, "beneficiary": worker.pk, "assistance_type": "living", "amount": str(AMOUNT)},
            1,
        ),
        (
            f"a {LIST_ROWS:,}-row list",
            "disbursements/bulk/",
            {"fund": fund.pk, "assistance_type": "pandemic_subsidy", "batch": "重试名单", "rows": rows},
            LIST_ROWS,
        ),
    ]
    entered = 0
    for what, path, body, count in cases:
        key = f"stress-{uuid.uuid4()}"
        before = Disbursement.objects.filter(fund=fund).count()
        request = (world.token(world.clerks[1]), "POST", path, body, {"Idempotency-Key": key})
        answers, seconds = at_once(servers.port, [request] * RETRIES)
        outcomes = Counter(answer.outcome for answer in answers)
        replayed = sum(answer.headers.get("idempotent-replayed") == "true" for answer in answers)
        bodies = {json.dumps(answer.json(), sort_keys=True) for answer in answers if answer.status == 201}
        written = Disbursement.objects.filter(fund=fund).count() - before
        scenario.figures.append(
            f"{what}: {RETRIES} POSTs with one key at once in {seconds:.2f} s: {outcomes[201]} × 201 "
            f"({replayed} replayed, {len(bodies)} distinct bodies), {written:,} disbursements written"
        )
        scenario.expect(f"{what}: answers", outcomes, Counter({201: RETRIES}))
        scenario.expect(f"{what}: replayed answers", replayed, RETRIES - 1)
        scenario.expect(f"{what}: distinct answer bodies", len(bodies), 1)
        scenario.expect(f"{what}: disbursements written", written, count)
        scenario.expect(f"{what}: keys stored", IdempotencyKey.objects.filter(key=key).count(), 1)
        entered += count
    fund.refresh_from_db()
    scenario.expect("reserved", fund.reserved, AMOUNT * entered)
    events = AuditEvent.objects.filter(
        action="disbursement.created", object_id__in=Disbursement.objects.filter(fund=fund).values("pk")
    )
    scenario.expect("audit events of the entries", events.count(), entered)
    scenario.figures.append(f"reserved {fund.reserved:,.2f} for {entered:,} entries")
    return scenario


# 3. SIGKILL in the middle of a 100,000-row import ----------------------------------------------


def killed_import(servers: Servers, world: World, rows: int) -> Scenario:
    scenario = Scenario("killed-import")
    county, (clerk, password) = world.counties[2], world.clerks[2]
    fund = funded(world, county, "导入中断专项资金", AMOUNT * rows)
    started = time.perf_counter()
    content = list_sheet(rows)  # the bench's list: distinct new people, 1,000.00 each
    scenario.figures.append(
        f"{rows:,}-row XLSX ({len(content) / 1024 / 1024:.1f} MB, {time.perf_counter() - started:.0f} s to write)"
    )
    people_before = Beneficiary.objects.count()
    browser = Browser(servers.port)
    browser.sign_in(clerk.username, password)

    job, checked = upload_and_check(browser, fund, content, scenario)
    if job is None:
        return scenario
    scenario.figures.append(f"checked in {checked:.0f} s")
    confirm(browser, job)
    killed = kill_inside_the_commit(servers, job, scenario)
    if killed is None:
        return scenario
    scenario.figures.append(killed)
    deadline = time.monotonic() + 60
    while worker_backends() and time.monotonic() < deadline:  # PostgreSQL ends the dead worker's sessions
        time.sleep(0.1)
    scenario.expect("the dead worker's sessions left in PostgreSQL", worker_backends(), 0)

    # Nothing of the list, and the job stuck as the killed worker left it.
    fund.refresh_from_db()
    scenario.expect("disbursements of the list after the kill", Disbursement.objects.filter(fund=fund).count(), 0)
    scenario.expect("people registered after the kill", Beneficiary.objects.count() - people_before, 0)
    scenario.expect("balance, reserved after the kill", (fund.balance, fund.reserved), (AMOUNT * rows, ZERO))
    job.refresh_from_db()
    scenario.expect("the job's state after the kill", job.state, Job.State.COMMITTING)
    scenario.expect(
        "its task's state after the kill", DBTaskResult.objects.get(pk=job.task_id).status, TaskResultStatus.RUNNING
    )

    started = servers.start()
    restarted = time.perf_counter()
    state = wait_for(browser, job, {"failed", "done", "preview"}, timeout=servers_stale(servers) * 6 + 120)
    noticed = time.perf_counter() - restarted
    scenario.expect("the job's state seen after the restart", state, "failed")
    page = browser.page(f"/jobs/{job.pk}/")
    scenario.check(GONE_WRITING in page, f"the job page does not say {GONE_WRITING!r}")
    scenario.expect(
        "its task's state after recovery", DBTaskResult.objects.get(pk=job.task_id).status, TaskResultStatus.FAILED
    )
    scenario.figures.append(
        f"restarted in {started:.1f} s; the job page said 'failed, nothing written' {noticed:.0f} s later"
    )
    fund.refresh_from_db()
    scenario.expect("disbursements after the restart", Disbursement.objects.filter(fund=fund).count(), 0)

    # The same list, uploaded again, is written whole.
    again, checked = upload_and_check(browser, fund, content, scenario)
    if again is None:
        return scenario
    started = time.perf_counter()
    confirm(browser, again)
    state = wait_for(browser, again, {"done", "failed", "preview"}, timeout=3600)
    scenario.expect("the second upload's state", state, "done")
    fund.refresh_from_db()
    written = Disbursement.objects.filter(fund=fund).count()
    scenario.expect("disbursements of the second upload", written, rows)
    scenario.expect("people registered by the second upload", Beneficiary.objects.count() - people_before, rows)
    scenario.expect(
        "balance, reserved after the second upload", (fund.balance, fund.reserved), (AMOUNT * rows, AMOUNT * rows)
    )
    scenario.figures.append(
        f"uploaded again: checked in {checked:.0f} s, all {written:,} rows written in "
        f"{time.perf_counter() - started:.0f} s; reserved {fund.reserved:,.2f}"
    )
    return scenario


def servers_stale(servers: Servers) -> int:
    return int(servers.env["UNIONFUNDS_JOB_STALE_SECONDS"])


def upload_and_check(browser: Browser, fund: Fund, content: bytes, scenario: Scenario) -> tuple[Job | None, float]:
    """The import page, as a clerk uses it: upload, wait for the worker's preview."""
    fields = {
        **browser.hidden_fields("/disbursements/import/"),
        "fund": fund.pk,
        "assistance_type": "pandemic_subsidy",
        "date": "2022-11-03",
        "batch": "压力测试名单",
    }
    started = time.perf_counter()
    answer = browser.post("/disbursements/import/", fields, {"sheet": ("stress-list.xlsx", content)})
    if not scenario.check(answer.status == 302, f"the upload answered {answer.status}: {answer.body[:500]!r}"):
        return None, 0.0
    job = Job.objects.get(pk=int(answer.headers["location"].rstrip("/").rsplit("/", 1)[1]))
    state = wait_for(browser, job, {"preview", "failed"}, timeout=1800)
    job.refresh_from_db()
    if not scenario.expect("the check's outcome (state, problems)", (state, job.problems[:3]), ("preview", [])):
        return None, 0.0
    return job, time.perf_counter() - started


def confirm(browser: Browser, job: Job) -> None:
    answer = browser.post(f"/jobs/{job.pk}/confirm/", browser.hidden_fields(f"/jobs/{job.pk}/"))
    if answer.status != 302:
        raise RuntimeError(f"confirming job {job.pk}: {answer.status}")


def wait_for(browser: Browser, job: Job, states: set[str], *, timeout: float) -> str:
    """Poll the job's progress as its page does (every two seconds) until it reaches one of `states`."""
    deadline = time.monotonic() + timeout
    while True:
        state = browser.json(f"/jobs/{job.pk}/progress/")["state"]
        if state in states or time.monotonic() > deadline:
            return state
        time.sleep(2)


def kill_inside_the_commit(servers: Servers, job: Job, scenario: Scenario) -> str | None:
    """Watch the worker's sessions in pg_stat_activity until its commit transaction,
    having registered the people and reserved the money, writes the disbursements
    (INSERT, or COPY on PostgreSQL); then SIGKILL the worker and gunicorn at once.
    Returns what was killed when, or None (with a problem) if the moment was missed."""
    query = """
        SELECT extract(epoch FROM now() - xact_start), query FROM pg_stat_activity
        WHERE application_name = %s AND datname = current_database() AND backend_xid IS NOT NULL
    """
    writing = re.compile(r'^\s*(INSERT INTO|COPY) "allocations_disbursement"', re.IGNORECASE)
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(query, [WORKER_APP])
            seen = [(age, statement) for age, statement in cursor.fetchall() if writing.match(statement)]
        if seen:
            servers.kill()
            age, statement = seen[0]
            return (
                f"worker and gunicorn SIGKILLed {age:.1f} s into the commit, during {statement.split('(')[0].strip()}"
            )
        if Job.objects.filter(pk=job.pk).exclude(state=Job.State.COMMITTING).exists():
            scenario.check(False, "the commit ended before it could be killed: nothing was proved")
            return None
        time.sleep(0.02)
    scenario.check(False, "the commit never started writing the disbursements")
    return None


def worker_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [WORKER_APP])
        return cursor.fetchone()[0]


# 4. Request limits across the gunicorn workers ------------------------------------------------

LIMIT_CONCURRENCY, LIMIT_TRIES, OVER_THE_LIMIT = 8, 70, 60


def parse_rate(rate: str) -> tuple[int, int]:
    """DRF's "10/minute": requests and the window's seconds."""
    number, period = rate.split("/")
    return int(number), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


def request_limits(servers: Servers, world: World) -> Scenario:
    """The limits of settings.REST_FRAMEWORK, counted once for all workers: the
    token endpoint per username and per address, and the API per token, answered
    exactly up to the limit and refused (`throttled`, with Retry-After) beyond it.
    The counters start empty for each part, as a minute later they would."""
    scenario = Scenario("request-limits")
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    per_username, window = parse_rate(rates["login_username"])
    per_address, _ = parse_rate(rates["login"])
    per_token, _ = parse_rate(rates["token"])

    def tried(what: str, requests: list[tuple], limit: int) -> None:
        RateWindow.objects.all().delete()
        answers, seconds = in_parallel(servers.port, requests, LIMIT_CONCURRENCY)
        refused = [answer for answer in answers if answer.outcome == "throttled"]
        scenario.figures.append(
            f"{what}: {len(requests):,} at concurrency {LIMIT_CONCURRENCY} on {WORKERS} workers, "
            f"{len(answers) - len(refused):,} answered, {len(refused):,} throttled in {seconds:.1f} s "
            f"({latency(answers)})"
        )
        if not scenario.check(seconds < window, f"{what}: took {seconds:.0f} s, longer than the {window} s window"):
            return
        scenario.expect(f"{what}: answered", len(answers) - len(refused), limit)
        waits = {int(answer.headers.get("retry-after", 0)) for answer in refused}
        scenario.check(waits and min(waits) >= 1 and max(waits) <= window, f"{what}: Retry-After {sorted(waits)}")

    tried(
        f"token endpoint, one username (limit {per_username})",
        [
            (None, "POST", "auth/token/", {"username": "stress-guesser", "password": f"guess-{n}"}, None)
            for n in range(LIMIT_TRIES)
        ],
        per_username,
    )
    tried(
        f"token endpoint, one address, a username each (limit {per_address})",
        [
            (None, "POST", "auth/token/", {"username": f"stress-guess-{n}", "password": "x"}, None)
            for n in range(LIMIT_TRIES)
        ],
        per_address,
    )
    reader = membership_grant(
        username="stress-limits", federation=world.counties[0], role=Role.AUDITOR, password=uuid.uuid4().hex + "-Aa1"
    ).user
    token = Token.objects.create(user=reader).key
    tried(
        f"API, one token (limit {per_token:,})",
        [(token, "GET", "funds/?page_size=1", None, None)] * (per_token + OVER_THE_LIMIT),
        per_token,
    )
    return scenario
