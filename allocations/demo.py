"""Demo data built from the real figures in docs/DOMAIN.md, entered through the same
services as a clerk would, so the audit trail and every rule hold for it too.

The people are synthetic: their ID numbers pass the checksum but belong to
nobody (random birth dates and order codes, a fixed seed).
"""

import datetime
import os
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Fund, ListOrigin, NoticeVerb, Notification
from beneficiaries import idnumber
from beneficiaries import services as people
from unionfunds.models import Federation, Level, Role
from unionfunds.services import federation_create, membership_grant

DEMO_PASSWORD = os.environ.get("UNIONFUNDS_DEMO_PASSWORD", "demo-2026")


@dataclass(frozen=True)
class Account:
    username: str
    federation_code: str
    role: str
    description: str


ACCOUNTS = [
    Account("clerk", "63", Role.CLERK, "青海省总工会 经办人"),
    Account("approver", "63", Role.APPROVER, "青海省总工会 审批人"),
    Account("auditor", "63", Role.AUDITOR, "青海省总工会 审计"),
    Account("admin", "CN", Role.ADMIN, "中华全国总工会 系统管理员"),
    Account("county-clerk", "630103", Role.CLERK, "城中区总工会 经办人"),
    Account("county-approver", "630103", Role.APPROVER, "城中区总工会 审批人"),
    Account("shandong-clerk", "37", Role.CLERK, "山东省总工会 经办人"),
    Account("shandong-approver", "37", Role.APPROVER, "山东省总工会 审批人"),
    Account("heyuan-clerk", "4416", Role.CLERK, "河源市总工会 经办人"),
    Account("heyuan-approver", "4416", Role.APPROVER, "河源市总工会 审批人"),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉鹏飞慧琳海燕晓东志强春梅"


def is_loaded() -> bool:
    return get_user_model().objects.filter(username=ACCOUNTS[0].username).exists()


@transaction.atomic
def load() -> None:
    users = _accounts()
    _Demo(users).build()
    # The demo's years of approvals are old news to its clerks; what is still open
    # (waiting, rejected) stays unread, as it would be on the first morning.
    Notification.objects.filter(verb=NoticeVerb.APPROVED).update(read_at=timezone.now())


def _accounts() -> dict:
    users = {}
    for account in ACCOUNTS:
        federation = Federation.objects.get(code=account.federation_code)
        membership = membership_grant(
            username=account.username, federation=federation, role=account.role, password=DEMO_PASSWORD
        )
        # An administrator's role opens the admin site too (is_staff); everyone else works in the pages.
        users[account.username] = membership.user
    return users


class _Demo:
    def __init__(self, users: dict):
        self.users = users
        self.random = random.Random(2022)
        self.used_ids: set[str] = set()

    def build(self) -> None:
        from allocations import demo_archive  # it reads this module's names

        self.qinghai_2022()
        self.shandong_2020()
        self.heyuan_2019_2021()
        demo_archive.build(self)

    # 青海 2022: 804万 raised for pandemic relief, 260万 / 361万 / 183万 by level.
    def qinghai_2022(self) -> None:
        clerk, approver = self.users["clerk"], self.users["approver"]
        qinghai, xining = self.federation("63"), self.federation("6301")
        counties = {code: self.federation(code) for code in ("630102", "630103", "630104", "630105")}
        grassroots = {
            "630103": self.grassroots("630103-G001", "西宁城中区商贸集团工会", counties["630103"]),
            "630102": self.grassroots("630102-G001", "西宁城东区建筑公司工会", counties["630102"]),
            "630105": self.grassroots("630105-G001", "西宁生物科技产业园区企业工会", counties["630105"]),
        }

        def fund(federation):
            return money.fund_create(
                federation=federation, name="疫情防控专项资金", purpose="pandemic", fiscal_year=2022, by=clerk
            )

        province_fund, city_fund = fund(qinghai), fund(xining)
        self.approve(
            money.contribution_create(
                fund=province_fund,
                source="own_funds",
                amount="2600000.00",
                date=datetime.date(2022, 3, 10),
                reference="青工发〔2022〕8号",
                by=clerk,
            ),
            approver,
        )
        self.approve(
            money.contribution_create(
                fund=city_fund,
                source="matching",
                amount="3610000.00",
                date=datetime.date(2022, 3, 15),
                reference="宁工发〔2022〕11号",
                by=clerk,
            ),
            approver,
        )
        for code, amount in (("630103", "800000.00"), ("630102", "630000.00"), ("630105", "400000.00")):
            self.approve(
                money.contribution_create(
                    fund=fund(grassroots[code]),
                    source="self_raised",
                    amount=amount,
                    date=datetime.date(2022, 3, 20),
                    by=clerk,
                ),
                approver,
            )
        # The emergency allocation to county, district and park unions: 135万, of
        # which the province gave 20万.
        self.approve(
            money.allocation_create(
                from_fund=province_fund,
                to_federation=xining,
                amount="200000.00",
                date=datetime.date(2022, 4, 1),
                batch="应急第一批",
                by=clerk,
            ),
            approver,
        )
        for code, amount in (("630103", "400000"), ("630102", "350000"), ("630104", "300000"), ("630105", "300000")):
            self.approve(
                money.allocation_create(
                    from_fund=city_fund,
                    to_federation=counties[code],
                    amount=amount,
                    date=datetime.date(2022, 4, 8),
                    batch="应急下拨",
                    by=clerk,
                ),
                approver,
            )
        county_fund = Fund.objects.get(federation=counties["630103"], purpose="pandemic", fiscal_year=2022)
        hospital = people.unit_create(name="西宁市第一人民医院", kind="hospital", federation=xining, by=clerk)
        self.approve(
            money.disbursement_create(
                fund=city_fund,
                unit=hospital,
                assistance_type="medical",
                amount="200000.00",
                date=datetime.date(2022, 4, 12),
                note="一线医务人员慰问",
                by=clerk,
            ),
            approver,
        )
        county_clerk, county_approver = self.users["county-clerk"], self.users["county-approver"]
        paid = []
        for _ in range(100):
            worker = self.worker(counties["630103"], "630103", ["registered_hardship"], county_clerk)
            paid.append(
                money.disbursement_create(
                    fund=county_fund,
                    beneficiary=worker,
                    assistance_type="pandemic_subsidy",
                    amount="1000.00",
                    date=datetime.date(2022, 4, 20),
                    batch="城中区第一批",
                    by=county_clerk,
                )
            )
            self.approve(paid[-1], county_approver)
        # Left for the demo: a list of 20 payments imported and waiting for approval,
        # a pending allocation, a rejected one and a reversal waiting for its decision.
        second = [self.worker(counties["630103"], "630103", ["registered_hardship"], county_clerk) for _ in range(20)]
        money.disbursements_create(
            fund=county_fund,
            rows=[ListRow(name=worker.name, id_number=worker.id_number, amount="1000.00") for worker in second],
            assistance_type="pandemic_subsidy",
            date=datetime.date(2022, 4, 27),
            batch="城中区第二批",
            origin=ListOrigin.IMPORT,
            by=county_clerk,
        )
        money.allocation_create(
            from_fund=county_fund,
            to_federation=grassroots["630103"],
            amount="50000.00",
            date=datetime.date(2022, 5, 6),
            batch="第二批",
            by=county_clerk,
        )
        rejected = money.allocation_create(
            from_fund=city_fund,
            to_federation=counties["630104"],
            amount="88000.00",
            date=datetime.date(2022, 5, 8),
            batch="第二批",
            by=clerk,
        )
        money.movement_reject(movement=rejected, by=approver, reason="金额与批文不符，请核对后重新录入")
        money.movement_reverse(movement=paid[0], by=county_clerk, reason="该职工已在用人单位领取，重复发放")

    # 山东 2020: 920万 then 678.8万; 150万 to three industry unions; 1,000 元 each.
    def shandong_2020(self) -> None:
        clerk, approver = self.users["shandong-clerk"], self.users["shandong-approver"]
        shandong = self.federation("37")
        fund = money.fund_create(
            federation=shandong, name="疫情防控专项资金", purpose="pandemic", fiscal_year=2020, by=clerk
        )
        for amount, day, reference in (
            ("9200000.00", datetime.date(2020, 1, 28), "鲁工发〔2020〕3号"),
            ("6788000.00", datetime.date(2020, 2, 14), "鲁工发〔2020〕9号"),
        ):
            self.approve(
                money.contribution_create(
                    fund=fund, source="own_funds", amount=amount, date=day, reference=reference, by=clerk
                ),
                approver,
            )
        for code, name, amount in (
            ("37-I01", "山东省交通运输工会", "600000.00"),
            ("37-I02", "济南铁路局工会", "500000.00"),
            ("37-I03", "山东省机场集团工会", "400000.00"),
        ):
            industry = self.federation_or_create(code, name, Level.INDUSTRY, shandong)
            self.approve(
                money.allocation_create(
                    from_fund=fund,
                    to_federation=industry,
                    amount=amount,
                    date=datetime.date(2020, 2, 20),
                    batch="第二批",
                    by=clerk,
                ),
                approver,
            )
        enterprise = self.grassroots("370102-G001", "济南重点医疗物资生产企业工会", self.federation("370102"))
        allocation = self.approve(
            money.allocation_create(
                from_fund=fund,
                to_federation=enterprise,
                amount="200000.00",
                date=datetime.date(2020, 2, 10),
                batch="第一批",
                note="重点企业一线职工每人1000元",
                by=clerk,
            ),
            approver,
        )
        for _ in range(200):
            worker = self.worker(enterprise, "370102", ["hard_industry"], clerk)
            self.approve(
                money.disbursement_create(
                    fund=allocation.to_fund,
                    beneficiary=worker,
                    assistance_type="pandemic_subsidy",
                    amount="1000.00",
                    date=datetime.date(2020, 2, 18),
                    batch="一线职工补贴",
                    by=clerk,
                ),
                approver,
            )

    # 河源 2019-2021: 3058.11万 raised for sending warmth over three years.
    def heyuan_2019_2021(self) -> None:
        clerk, approver = self.users["heyuan-clerk"], self.users["heyuan-approver"]
        heyuan = self.federation("4416")
        for year, amount in ((2019, "9800000.00"), (2020, "10300000.00"), (2021, "10481100.00")):
            fund = money.fund_create(federation=heyuan, name="送温暖资金", purpose="warmth", fiscal_year=year, by=clerk)
            self.approve(
                money.contribution_create(
                    fund=fund, source="own_funds", amount=amount, date=datetime.date(year, 1, 5), by=clerk
                ),
                approver,
            )
            for index in range(60):
                worker = self.worker(heyuan, "441602", ["registered_hardship"], clerk)
                self.approve(
                    money.disbursement_create(
                        fund=fund,
                        beneficiary=worker,
                        assistance_type="condolence" if index % 4 else "education",
                        amount="800.00" if index % 4 else "1200.00",
                        date=datetime.date(year, 1, 15),
                        batch=f"{year}年春节送温暖",
                        by=clerk,
                    ),
                    approver,
                )

    # Helpers -----------------------------------------------------------------

    def federation(self, code: str) -> Federation:
        return Federation.objects.get(code=code)

    def federation_or_create(self, code: str, name: str, level: str, parent: Federation) -> Federation:
        existing = Federation.objects.filter(code=code).first()
        return existing or federation_create(code=code, name=name, level=level, parent=parent)

    def grassroots(self, code: str, name: str, parent: Federation) -> Federation:
        return self.federation_or_create(code, name, Level.GRASSROOTS, parent)

    def approve(self, movement, approver):
        return money.movement_approve(movement=movement, by=approver)

    def worker(self, federation: Federation, area_code: str, categories: list[str], clerk):
        while True:
            birth = datetime.date(1965, 1, 1) + datetime.timedelta(days=self.random.randrange(365 * 36))
            number = idnumber.build(area_code, birth, self.random.randrange(1000))
            if number not in self.used_ids:
                break
        self.used_ids.add(number)
        name = self.random.choice(SURNAMES) + "".join(self.random.choices(GIVEN, k=self.random.choice((1, 2))))
        return people.beneficiary_register(
            name=name,
            id_number=number,
            federation=federation,
            phone=f"139{self.random.randrange(10**8):08d}",
            employer=federation.name.removesuffix("工会"),
            categories=categories,
            by=clerk,
        )


# The demo real-name list ---------------------------------------------------------------

DEMO_LIST_ROWS = 1000
# The sheet line whose ID number was mistyped (two digits swapped); README tells
# the demo user the number on the worker's card, to fix it in the preview.
DEMO_LIST_BAD_LINE = 318
ENTERPRISES = ("济南重点医疗物资生产企业", "青岛港集团", "淄博制药有限公司", "潍坊食品加工有限公司", "烟台物流有限公司")


def demo_list_rows() -> tuple[list[list], str]:
    """山东 2020: 1,000 元 to each of 1,000 frontline workers at key producers,
    as an enterprise union would send the list; one ID number has a typo.
    Returns the rows and the number as it should have been."""
    rng = random.Random(370102)
    rows, used, correct = [], set(), ""
    areas = ("370102", "370203", "370303", "370705", "370602")
    for index in range(DEMO_LIST_ROWS):
        while True:
            birth = datetime.date(1968, 1, 1) + datetime.timedelta(days=rng.randrange(365 * 34))
            number = idnumber.build(areas[index % len(areas)], birth, rng.randrange(1000))
            if number not in used:
                break
        used.add(number)
        if index + 3 == DEMO_LIST_BAD_LINE:  # a title line and the headers come first
            correct = number
            number = number[:14] + number[15] + number[14] + number[16:]  # two digits swapped: checksum fails
            if number == correct:
                number = number[:16] + str((int(number[16]) + 1) % 10) + number[17]
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        rows.append(
            [
                name,
                number,
                1000,
                "疫情生活补贴",
                datetime.date(2020, 2, 18),
                "艰苦行业一线职工",
                f"138{rng.randrange(10**8):08d}",
                ENTERPRISES[index % len(ENTERPRISES)],
                "重点企业一线职工补贴",
            ]
        )
    return rows, correct


def write_demo_list(path) -> str:
    """The demo list as an XLSX file the way Excel users keep one: a title row,
    the template's headers, ID numbers and phones as text. Returns the correct
    number of the mistyped row."""
    import xlsxwriter

    from allocations.imports import COLUMNS

    rows, correct = demo_list_rows()
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": datetime.datetime(2020, 2, 18, 9, 0)})  # the same bytes every time
    sheet = book.add_worksheet("发放名单")
    bold = book.add_format({"bold": True})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_string(0, 0, "山东省重点企业一线职工疫情生活补贴发放名单（2020年2月）", bold)
    for column, spec in enumerate(COLUMNS):
        sheet.write_string(1, column, spec.header, bold)
    sheet.set_column(1, 1, 21)
    sheet.set_column(7, 8, 24)
    for line, row in enumerate(rows, start=2):
        name, number, amount, kind, date, category, phone, employer, note = row
        sheet.write_string(line, 0, name)
        sheet.write_string(line, 1, number)
        sheet.write_number(line, 2, amount)
        sheet.write_string(line, 3, kind)
        sheet.write_datetime(line, 4, datetime.datetime.combine(date, datetime.time()), day)
        sheet.write_string(line, 5, category)
        sheet.write_string(line, 6, phone)
        sheet.write_string(line, 7, employer)
        sheet.write_string(line, 8, note)
    book.close()
    return correct
