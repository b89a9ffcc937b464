"""The demo's hardship archive (困难职工档案), entered through the archive's services
as clerks and approvers would: 青海's households in 城中区 and 城东区 filed one by
one, 河源's hardship centre's archive filed from its sheets, the 低保 lines per
county, a household cap tied to the 低保 line, 金秋助学 once a year, and hardship
funds that pay archived households only (依档帮扶).

What it leaves for the demo user: in 城中区 a filing waiting for the county's
approver and an annual review waiting too; a household closed as out of hardship
(脱困), followed up; payments that used part of a household's cap.
"""

import datetime
from decimal import Decimal

from allocations import policy
from allocations import services as money
from allocations.demo import GIVEN, SURNAMES
from allocations.lists import ListRow
from allocations.models import PaymentList, RuleScope
from beneficiaries import archive, archive_lists, idnumber
from beneficiaries.archive_lists import HouseholdRow
from beneficiaries.archive_models import ArchiveChange
from beneficiaries.services import person_line

FILED_ON = datetime.date(2022, 1, 1)
# 低保 per person and month (demo figures), per county and year.
DIBAO = {"630103": "840.00", "630102": "810.00", "441602": "900.00", "441621": "780.00"}
# Who a household's n-th member is, and about when born.
MEMBERS = (("head", 1972), ("spouse", 1975), ("child", 2006), ("parent", 1946))
CAUSES = (("illness",), ("disability",), ("illness", "schooling"), ("unemployment",), ("low_wage", "schooling"))
TIERS = ("deep", "relative", "relative", "accident")


def build(demo) -> None:
    _Archive(demo).build()


class _Archive:
    def __init__(self, demo):
        self.demo = demo
        self.users = demo.users
        self.random = demo.random

    def build(self) -> None:
        self.rules()
        self.qinghai()
        self.heyuan()

    # The rules, set by 青海's administrator for its whole subtree --------------------------

    def rules(self) -> None:
        admin, qinghai = self.users["admin"], self.demo.federation("63")
        policy.rule_create(
            federation=qinghai,
            by=admin,
            name="生活救助年度限额（12个月低保标准）",
            purpose="hardship",
            assistance_type="living",
            scope=RuleScope.HOUSEHOLD,
            cap_dibao_months=Decimal("12"),
            overridable=True,
        )
        policy.rule_create(
            federation=qinghai,
            by=admin,
            name="金秋助学每年一次",
            assistance_type="education",
            scope=RuleScope.PERSON,
            once_per_year=True,
            overridable=True,
        )

    # 青海: 城中区 by its own clerk, 城东区 by the province's --------------------------------

    def qinghai(self) -> None:
        county_clerk, county_approver = self.users["county-clerk"], self.users["county-approver"]
        clerk, approver = self.users["clerk"], self.users["approver"]
        chengzhong, chengdong = self.demo.federation("630103"), self.demo.federation("630102")
        archive.dibao_line_set(federation=chengzhong, year=2022, monthly=DIBAO["630103"], by=county_clerk)
        archive.dibao_line_set(federation=chengdong, year=2022, monthly=DIBAO["630102"], by=clerk)

        opened = [self.household(chengzhong, "630103", size, county_clerk, county_approver) for size in (3, 4, 2, 3)]
        closed = self.household(chengzhong, "630103", 2, county_clerk, county_approver)
        self.decide(
            archive.archive_close(
                entry=closed.entries.get(),
                reason="out_of_hardship",
                closed_on=datetime.date(2022, 9, 30),
                note="户主再就业，家庭收入高于当地低保标准",
                by=county_clerk,
            ),
            county_approver,
        )
        # Left waiting for the county's approver: a review and a filing.
        archive.archive_review(
            entry=opened[0].entries.get(),
            figures=archive.Figures.read(tier="deep", income_per_head="560", causes=["illness", "schooling"]),
            reviewed_on=datetime.date(2022, 12, 20),
            note="年度复查：妻子仍在治疗，子女在读",
            by=county_clerk,
        )
        self.household(chengzhong, "630103", 3, county_clerk, None)
        opened += [self.household(chengdong, "630102", size, clerk, approver) for size in (2, 3)]

        fund = money.fund_create(
            federation=chengzhong, name="困难职工帮扶资金", purpose="hardship", fiscal_year=2022, by=county_clerk
        )
        money.movement_approve(
            movement=money.contribution_create(fund=fund, source="own_funds", amount="200000.00", by=county_clerk),
            by=county_approver,
        )
        heads = [self.head(house) for house in opened[:4]]
        paid = money.disbursements_create(
            fund=fund,
            rows=[ListRow(name=name, id_number=number, amount="3000.00") for name, number in heads],
            assistance_type="living",
            date=datetime.date(2022, 6, 15),
            batch="城中区生活救助第一批",
            by=county_clerk,
        )
        money.payment_list_approve(payment_list=PaymentList.objects.get(pk=paid.payment_list_id), by=county_approver)

        # 金秋助学 from the city: a child of the first household, once this year.
        xining = self.demo.federation("6301")
        education = money.fund_create(
            federation=xining,
            name="金秋助学资金",
            purpose="education",
            fiscal_year=2022,
            requires_archive=True,
            by=clerk,
        )
        money.movement_approve(
            movement=money.contribution_create(fund=education, source="own_funds", amount="50000.00", by=clerk),
            by=approver,
        )
        child = opened[0].members.get(relation="child")
        money.movement_approve(
            movement=money.disbursement_create(
                fund=education,
                beneficiary=child.beneficiary,
                assistance_type="education",
                amount="2000.00",
                date=datetime.date(2022, 8, 25),
                batch="2022年金秋助学",
                by=clerk,
            ),
            by=approver,
        )

    # 河源: the hardship centre's archive, filed from its two county sheets -----------------

    def heyuan(self) -> None:
        clerk, approver = self.users["heyuan-clerk"], self.users["heyuan-approver"]
        heyuan = self.demo.federation("4416")
        filed_heads = []
        for code, households in (("441602", 24), ("441621", 12)):
            county = self.demo.federation(code)
            archive.dibao_line_set(federation=county, year=2021, monthly=DIBAO[code], by=clerk)
            rows = []
            for key in range(1, households + 1):
                rows += self.sheet_lines(f"{code[-2:]}-{key:03d}", code, 1 + key % 4)
            filed = archive_lists.households_file_many(
                federation=county,
                rows=rows,
                valid_from=datetime.date(2021, 1, 1),
                standard="河源市困难职工帮扶中心建档标准",
                by=clerk,
            )
            for change in ArchiveChange.objects.filter(pk__in=filed.changes).order_by("pk"):
                archive.archive_change_approve(change=change, by=approver)
            filed_heads += [(row.name, row.id_number) for row in rows if row.relation == "head"]
        fund = money.fund_create(
            federation=heyuan, name="困难职工帮扶资金", purpose="hardship", fiscal_year=2021, by=clerk
        )
        money.movement_approve(
            movement=money.contribution_create(fund=fund, source="government", amount="300000.00", by=clerk),
            by=approver,
        )
        paid = money.disbursements_create(
            fund=fund,
            rows=[ListRow(name=name, id_number=number, amount="1500.00") for name, number in filed_heads[:20]],
            assistance_type="living",
            date=datetime.date(2021, 12, 20),
            batch="2021年困难职工生活救助",
            home_federation=heyuan,
            by=clerk,
        )
        money.payment_list_approve(payment_list=PaymentList.objects.get(pk=paid.payment_list_id), by=approver)

    # Helpers -----------------------------------------------------------------------------

    def household(self, federation, area_code: str, size: int, clerk, approver):
        """A household of `size` filed one by one, its filing approved unless no approver is given."""
        lines = self.people(area_code, size)
        house = archive.household_file(
            federation=federation,
            members=[
                archive.MemberLine(person_line(name=name, id_number=number), relation)
                for name, number, relation in lines
            ],
            address=self.address(federation.name),
            by=clerk,
        )
        filing = archive.archive_open(
            household=house,
            figures=archive.Figures.read(
                tier=self.random.choice(TIERS),
                income_per_head=f"{self.random.randrange(300, 800)}.00",
                causes=self.random.choice(CAUSES),
            ),
            valid_from=FILED_ON,
            valid_to=datetime.date(2022, 12, 31),
            standard="青海省困难职工认定办法",
            by=clerk,
        )
        self.decide(filing, approver)
        return house

    def sheet_lines(self, key: str, area_code: str, size: int) -> list[HouseholdRow]:
        lines = self.people(area_code, size)
        head = HouseholdRow(
            key,
            *lines[0],
            address=self.address("河源市"),
            tier=self.random.choice(TIERS),
            income_per_head=f"{self.random.randrange(250, 750)}",
            causes=self.random.choice(CAUSES),
        )
        return [head] + [HouseholdRow(key, name, number, relation) for name, number, relation in lines[1:]]

    def people(self, area_code: str, size: int) -> list[tuple[str, str, str]]:
        surname = self.random.choice(SURNAMES)
        lines = []
        for relation, born in MEMBERS[:size]:
            while True:
                birth = datetime.date(born, 1, 1) + datetime.timedelta(days=self.random.randrange(365 * 3))
                number = idnumber.build(area_code, birth, self.random.randrange(1000))
                if number not in self.demo.used_ids:
                    break
            self.demo.used_ids.add(number)
            given = "".join(self.random.choices(GIVEN, k=self.random.choice((1, 2))))
            name = (self.random.choice(SURNAMES) if relation == "spouse" else surname) + given
            lines.append((name, number, relation))
        return lines

    def address(self, place: str) -> str:
        streets = ("南关街", "东大街", "建设巷", "新华路", "文化街", "长江路")
        return f"{place.removesuffix('总工会')}{self.random.choice(streets)}{self.random.randrange(1, 120)}号"

    def head(self, house) -> tuple[str, str]:
        member = house.members.select_related("beneficiary").get(relation="head")
        return member.name, member.beneficiary.id_number

    def decide(self, change, approver) -> None:
        if approver is not None:
            archive.archive_change_approve(change=change, by=approver)
