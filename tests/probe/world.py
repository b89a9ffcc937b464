"""The two counties: what tells one's data from the other's, and their records of every kind."""

import datetime
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from allocations import lists, policy
from allocations import services as money
from allocations.models import Fund, Status
from beneficiaries import archive, idnumber
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, Unit, mask_phone
from tests.conftest import member, synthetic_id
from tests.factories import FundFactory, approved_contribution
from unionfunds.models import Federation, Role
from unionfunds.services import federation_create

DAY = datetime.date(2022, 6, 1)


@dataclass(frozen=True)
class Cast:
    """What tells one county's data from the other's: every free text of a side
    holds its tag, and the neighbour's amounts all have cents (the clerk's own are
    whole yuan), so that any of them found in an answer is a leak."""

    tag: str
    clerk: str  # usernames
    approver: str
    people: tuple[str, str, str, str]  # two registered, one added by a list, one by an import
    first_sequence: int  # of their ID numbers' order codes: the masked forms differ too
    phone_prefix: str
    first_amount: Decimal
    step: Decimal


OWN = Cast(
    tag="城中",
    clerk="alice",
    approver="bob",
    people=("张三丰", "李秋水", "王语嫣", "段誉"),
    first_sequence=1,
    phone_prefix="1380000",
    first_amount=Decimal("100.00"),
    step=Decimal("1.00"),
)
NEIGHBOUR = Cast(
    tag="城东",
    clerk="chengdong-clerk",
    approver="chengdong-approver",
    people=("欧阳东海", "司马东阳", "诸葛东来", "上官东临"),
    first_sequence=501,
    phone_prefix="1390000",
    first_amount=Decimal("7301.17"),
    step=Decimal("11.11"),
)


@dataclass
class Side:
    county: Federation
    grassroots: Federation
    clerk: object
    fund: Fund
    worker: Beneficiary
    unit: Unit
    batch: str
    rows: dict[type, list] = field(default_factory=dict)  # every row made for this side, by concrete model
    markers: set[str] = field(default_factory=set)
    # What any clerk may see of the side: its federations' names and codes, the public
    # directory the recipient search shows to every clerk (docs/DOMAIN.md, allocations).
    directory: set[str] = field(default_factory=set)

    def pending(self, model) -> list[int]:
        return [row.pk for row in self.rows.get(model, []) if row.status == Status.PENDING]

    def sample(self, model, keep: Callable = lambda row: True) -> list[str]:
        """A few of the side's rows of `model` (those it `keep`s), one of each kind: by
        the values of its fields with choices, its flags, its federation and which
        of its nullable links are set (a reversal, a person or a unit)."""
        concrete = model._meta.concrete_model
        picked: dict[tuple, object] = {}
        for row in filter(keep, self.rows.get(concrete, [])):
            signature = []
            for f in concrete._meta.concrete_fields:
                if f.choices or isinstance(f, models.BooleanField) or f.related_model is Federation:
                    signature.append(getattr(row, f.attname))
                elif f.is_relation and f.null:
                    signature.append(getattr(row, f.attname) is None)
            picked.setdefault(tuple(signature), row)
        rows = list(picked.values())[:5]
        if model._meta.proxy:  # the proxy may name its rows otherwise (DRF's TokenProxy: by user id)
            rows = model.objects.filter(pk__in=[row.pk for row in rows])
        return [str(row.pk) for row in rows]


class Amounts:
    """The side's amounts, one after the other, remembered as markers."""

    def __init__(self, cast: Cast):
        self.next_amount, self.step, self.used = cast.first_amount, cast.step, []

    def __call__(self, plus: int = 0) -> Decimal:
        amount, self.next_amount = self.next_amount + plus, self.next_amount + self.step
        self.used.append(amount)
        return amount


def all_pks() -> dict[type, set]:
    return {model: set(model.objects.values_list("pk", flat=True)) for model in concrete_models()}


def concrete_models() -> list[type]:
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.managed and not m._meta.proxy]


def build_side(cast: Cast, *, county, city_fund, province_clerk, province_approver) -> Side:
    """One county's records of every kind, in every state, made the ways users make them."""
    before = all_pks()
    t, amount = cast.tag, Amounts(cast)
    clerk, approver = member(cast.clerk, county, Role.CLERK), member(cast.approver, county, Role.APPROVER)
    member(f"{cast.clerk}-auditor", county, Role.AUDITOR)

    def person_id(n: int) -> str:
        return synthetic_id(cast.first_sequence + n, area=county.code)

    grassroots = federation_create(
        code=f"{county.code}-G{cast.first_sequence:03d}", name=f"{t}区纺织厂工会", level="grassroots", parent=county
    )
    fund = money.fund_create(federation=county, name=f"{t}区送温暖资金", purpose="warmth", fiscal_year=2022, by=clerk)
    down = money.allocation_create(
        from_fund=city_fund, to_federation=county, amount=amount(), batch=f"{t}第一批", date=DAY, by=province_clerk
    )
    money.movement_approve(movement=down, by=province_approver)
    workers = [
        people.beneficiary_register(
            name=name,
            id_number=person_id(n),
            federation=county,
            phone=f"{cast.phone_prefix}{n:04d}",
            employer=f"{t}纺织厂",
            categories=["migrant_worker"],
            by=clerk,
        )
        for n, name in enumerate(cast.people[:2])
    ]
    unit = people.unit_create(name=f"{t}区人民医院", kind="hospital", federation=county, by=clerk)

    def approve(movement):
        return money.movement_approve(movement=movement, by=approver)

    def in_every_state(create: Callable) -> None:
        approve(create())
        create()  # pending
        money.movement_reject(movement=create(), by=approver, reason=f"{t}驳回：金额有误")
        approve(money.movement_reverse(movement=approve(create()), by=clerk, reason=f"{t}冲销：重复录入"))
        money.movement_reverse(movement=approve(create()), by=clerk, reason=f"{t}冲销：待审批")

    in_every_state(
        lambda: money.contribution_create(
            fund=fund, source="donation", amount=amount(700000), reference=f"{t}捐赠1号", note=f"{t}备注", by=clerk
        )
    )
    in_every_state(
        lambda: money.allocation_create(
            from_fund=fund, to_federation=grassroots, amount=amount(), batch=f"{t}第二批", date=DAY, by=clerk
        )
    )
    recipients = itertools.cycle([{"beneficiary": workers[0]}, {"unit": unit}, {"beneficiary": workers[1]}])
    in_every_state(
        lambda: money.disbursement_create(
            fund=fund,
            assistance_type="living",
            amount=amount(),
            batch=f"{t}第三批",
            note=f"{t}慰问",
            date=DAY,
            confirm_duplicate=True,
            by=clerk,
            **next(recipients),
        )
    )
    batch = f"{t}名单第一批"
    money.disbursements_create(
        fund=fund,
        rows=[
            lists.ListRow(name=workers[1].name, id_number=workers[1].id_number, amount=amount()),
            lists.ListRow(
                name=cast.people[2], id_number=person_id(2), amount=amount(), phone=f"{cast.phone_prefix}0002"
            ),
        ],
        assistance_type="pandemic_subsidy",
        date=DAY,
        batch=batch,
        by=clerk,
    )

    # The archive: the county's 低保 line and rule, the first worker's household
    # filed, admitted and paid from a hardship fund, a review waiting, a document.
    archive.dibao_line_set(federation=county, year=2022, monthly=amount(900), by=clerk)
    county_admin_user = member(f"{cast.clerk}-admin", county, Role.ADMIN)
    policy.rule_create(
        federation=county,
        name=f"{t}生活救助上限",
        purpose="hardship",
        assistance_type="living",
        cap_dibao_months=Decimal("12"),
        by=county_admin_user,
    )
    house = archive.household_file(
        federation=county,
        members=[archive.MemberLine(people.person_line(name=workers[0].name, id_number=workers[0].id_number), "head")],
        address=f"{t}区幸福路1号",
        by=clerk,
    )
    filing = archive.archive_open(
        household=house,
        figures=archive.Figures(tier="deep", income_per_head=amount(500), causes=("illness",)),
        valid_from=datetime.date(2022, 1, 1),
        standard=f"{t}困难职工认定标准",
        note=f"{t}建档",
        by=clerk,
    )
    archive.archive_change_approve(change=filing, by=approver)
    archive.evidence_add(entry=filing.entry, upload=SimpleUploadedFile(f"{t}收入证明.pdf", b"%PDF-1.4 probe"), by=clerk)
    hardship = money.fund_create(
        federation=county, name=f"{t}区帮扶资金", purpose="hardship", fiscal_year=2022, by=clerk
    )
    approve(money.contribution_create(fund=hardship, source="own_funds", amount=amount(90000), by=clerk))
    approve(
        money.disbursement_create(
            fund=hardship, beneficiary=workers[0], assistance_type="living", amount=amount(), date=DAY, by=clerk
        )
    )
    archive.archive_review(
        entry=filing.entry,
        figures=archive.Figures(tier="relative", income_per_head=amount(600), causes=("illness",)),
        reviewed_on=DAY,
        note=f"{t}复查",
        by=clerk,
    )

    # The doors that leave their own rows: a list import waiting for its
    # confirmation, a long export done by the worker, an export log line, an
    # API write with its idempotency key, a failed sign-in.
    browser = Client()
    browser.force_login(clerk)
    sheet = f"姓名,身份证号,金额\r\n{cast.people[3]},{person_id(3)},{amount()}\r\n".encode("utf-8-sig")
    started = browser.post(
        reverse("list_import"),
        {
            "fund": fund.pk,
            "assistance_type": "living",
            "date": "2022-06-01",
            "batch": f"{t}名单第二批",
            "sheet": SimpleUploadedFile(f"{t}名单.csv", sheet),
        },
    )
    assert started.status_code == 302, started.content.decode()[:1000]
    with override_settings(UNIONFUNDS_EXPORT_INLINE_ROWS=0):
        assert browser.get(reverse("list_export", args=["disbursements", "xlsx"])).status_code == 302
    assert browser.get(reverse("list_export", args=["beneficiaries", "csv"]), {"full_ids": "1"}).status_code == 200
    api = APIClient()
    token = Token.objects.create(user=clerk)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    written = api.post(
        "/api/v1/contributions/",
        {"fund": fund.pk, "source": "matching", "amount": str(amount(700000)), "reference": f"{t}接口1号"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"{county.code}-probe-1",
    )
    assert written.status_code == 201, written.content
    Client().post(reverse("login"), {"username": clerk.username, "password": "not-the-password"})
    # The county's administrator opens an account for a newcomer in the admin.
    county_admin = Client()
    county_admin.force_login(county_admin_user)
    newcomer = f"{cast.clerk}-newcomer"
    opened = county_admin.post(
        "/admin/auth/user/add/",
        {"username": newcomer, "first_name": f"{t}新人", "federation": county.pk, "role": Role.CLERK},
    )
    assert opened.status_code == 200 and "temporary-password" in opened.content.decode(), opened.content[:2000]

    side = Side(county=county, grassroots=grassroots, clerk=clerk, fund=fund, worker=workers[0], unit=unit, batch=batch)
    for model, pks in all_pks().items():
        new = pks - before[model]
        if new:
            side.rows[model] = list(model.objects.filter(pk__in=new).order_by("pk"))

    # What shows that a page holds this side's data: its tag (in every name, batch,
    # note, reason and reference), its people, its keys, and its amounts with cents.
    side.markers = {t, clerk.get_username(), approver.get_username(), newcomer, token.key, browser.session.session_key}
    for n, name in enumerate(cast.people):
        number, phone = person_id(n), f"{cast.phone_prefix}{n:04d}"
        side.markers |= {name, number, idnumber.mask(number), phone, mask_phone(phone)}
    figures = [*amount.used]
    for fund_row in Fund.objects.filter(federation__path__startswith=county.path):
        figures += [fund_row.balance, fund_row.reserved, fund_row.available]
    side.markers |= {f"{a:.2f}" for a in figures if a % 1} | {f"{a:,.2f}" for a in figures if a % 1}
    for federation in Federation.objects.filter(path__startswith=county.path):
        side.directory |= {federation.name, federation.code}
    return side


def cards_across(own: Side, neighbour: Side) -> None:
    """People registered on one side whom the other registers or pays by ID
    number, each side under its own words: the register is national, but what a
    side sees of a person registered next door is its own card (登记卡), never the
    neighbour's words. The neighbour's people carded by the clerk are hers to
    open (her sample), their ID numbers hers (she typed them); the neighbour's
    card of one of hers holds the neighbour's words, and is the neighbour's."""
    n, o = NEIGHBOUR, OWN

    def made(step: Callable) -> dict[type, list]:
        before = all_pks()
        step()
        return {model: sorted(pks - before[model]) for model, pks in all_pks().items() if pks - before[model]}

    def register(side: Side, cast: Cast, number: str, name: str, phone: str, category: str):
        return people.beneficiary_register(
            name=name,
            id_number=number,
            federation=side.county,
            phone=phone,
            employer=f"{cast.tag}钢铁厂",
            categories=[category],
            by=side.clerk,
        )

    theirs = [synthetic_id(n.first_sequence + 8 + k, area=neighbour.county.code) for k in range(2)]
    mine = synthetic_id(o.first_sequence + 8, area=own.county.code)
    phones = [f"{n.phone_prefix}{9 + k:04d}" for k in range(3)]
    steps_theirs = made(
        lambda: [
            register(neighbour, n, number, f"{n.tag}登记{k}号", phones[k], "model_worker")
            for k, number in enumerate(theirs)
        ]
    )
    steps_mine = made(lambda: register(own, o, mine, f"{o.tag}登记号", f"{o.phone_prefix}0009", "migrant_worker"))
    # The clerk registers the first of theirs under her words, and pays the second.
    carded_by_her = made(
        lambda: (
            register(own, o, theirs[0], f"{o.tag}卡一号", f"{o.phone_prefix}0010", "migrant_worker"),
            money.disbursements_create(
                fund=own.fund,
                rows=[lists.ListRow(name=f"{o.tag}卡二号", id_number=theirs[1], amount=Decimal("100.00"))],
                assistance_type="medical",
                date=DAY,
                batch=f"{o.tag}跨区名单",
                by=own.clerk,
            ),
        )
    )
    # The neighbour registers one of hers under the neighbour's words.
    carded_by_them = made(lambda: register(neighbour, n, mine, f"{n.tag}卡号", phones[2], "hard_industry"))

    def add(side: Side, rows: dict[type, list]) -> None:
        for model, pks in rows.items():
            side.rows.setdefault(model, []).extend(model.objects.filter(pk__in=pks).order_by("pk"))

    # Their registrations are theirs, but the people carded by her are hers to open.
    add(own, {Beneficiary: steps_theirs.pop(Beneficiary)})
    add(neighbour, steps_theirs)
    add(own, steps_mine)
    add(own, carded_by_her)
    add(neighbour, carded_by_them)
    neighbour.markers |= set(phones) | {mask_phone(phone) for phone in phones}


@dataclass
class World:
    own: Side
    neighbour: Side
    prober: object

    def side(self, which: str) -> Side:
        return self.own if which == "own" else self.neighbour


def build_world(tree, *, province_clerk, province_approver) -> World:
    """城中区 (alice's) and 城东区 next door, both under 西宁, which allocates to both;
    alice, the prober, made staff so that the admin opens to her."""
    city_fund = FundFactory(federation=tree["xining"], name="西宁市疫情防控专项资金", by=province_clerk)
    approved_contribution(city_fund, "1000000", source="matching", by=province_clerk, approver=province_approver)
    common = {"city_fund": city_fund, "province_clerk": province_clerk, "province_approver": province_approver}
    own = build_side(OWN, county=tree["chengzhong"], **common)
    neighbour = build_side(NEIGHBOUR, county=tree["chengdong"], **common)
    cards_across(own, neighbour)
    prober = get_user_model().objects.get(username=OWN.clerk)
    prober.is_staff = True
    prober.save(update_fields=["is_staff"])
    return World(own=own, neighbour=neighbour, prober=prober)
