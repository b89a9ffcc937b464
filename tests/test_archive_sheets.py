"""The hardship archive in spreadsheets: households filed from a sheet (preview,
fix, commit; all or nothing; each filing waiting for an approver), and the
archive exported one row per member, masked unless a clerk or auditor asks,
every export logged.

The worker runs in-process under the tests (Django tasks' immediate backend),
so each upload comes back with its preview already made.
"""

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from beneficiaries import archive, archive_lists, idnumber
from beneficiaries.archive_lists import HouseholdRow
from beneficiaries.archive_models import (
    ArchiveChange,
    ArchiveEntry,
    ArchiveStatus,
    ChangeStatus,
    DibaoLine,
    Household,
    HouseholdMember,
)
from beneficiaries.models import Beneficiary
from beneficiaries.services import person_line
from tests.conftest import synthetic_id
from unionfunds import trail
from unionfunds.models import Job

HEADERS = ["户号", "姓名", "身份证号", "与户主关系", "住址", "困难类别", "月人均收入", "致困原因"]
HEADERS += ["有效期自", "有效期至", "认定标准", "备注"]
HEAD_ONLY = ["", "", "", "", "", "", "", ""]


def wang(key: str = "1", n: int = 0) -> list[list]:
    """王家: head, wife and son; `n` shifts their ID numbers (another family)."""
    return [
        [
            key,
            "王大明",
            synthetic_id(11 + 3 * n),
            "户主",
            "城中区南关街12号",
            "深度困难",
            520,
            "因病、子女上学",
            "2022-01-01",
            "2022-12-31",
            "青海省困难职工认定办法",
            "妻子长期患病",
        ],
        [key, "李秀英", synthetic_id(12 + 3 * n), "配偶", *HEAD_ONLY],
        [key, "王小明", synthetic_id(13 + 3 * n, birth=datetime.date(2008, 3, 1)), "子女", *HEAD_ONLY],
    ]


def single(key: str, name: str, number: str, *, tier="相对困难", income=800, causes="失业") -> list:
    return [key, name, number, "户主", "", tier, income, causes, "", "", "", ""]


def xlsx_bytes(rows: list[list], headers: list[str] = HEADERS) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["城中区困难职工家庭名单（2022年）"])
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def upload(client, content: bytes, federation, name: str = "家庭名单.xlsx", **extra):
    data = {
        "federation": federation.pk,
        "valid_from": "2022-01-01",
        "standard": "",
        "sheet": SimpleUploadedFile(name, content),
        **extra,
    }
    response = client.post("/archive/import/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    location = response["Location"]
    return Job.objects.get(pk=int(location.rstrip("/").split("/")[-1])), location


def found(job: Job) -> list[tuple]:
    return [(p["line"], p["column"], p["code"]) for p in job.problems]


def rows_in_books() -> tuple[int, ...]:
    return (
        Household.objects.count(),
        HouseholdMember.objects.count(),
        ArchiveEntry.objects.count(),
        ArchiveChange.objects.count(),
        Beneficiary.objects.count(),
    )


@pytest.fixture
def dibao(tree):
    return DibaoLine.objects.create(federation=tree["xining"], year=2022, monthly=Decimal("840.00"))


# Filing from a sheet -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_good_sheet_is_previewed_then_every_household_filed_waiting_for_an_approver(
    alice_client, tree, alice, bob, dibao
):
    rows = [*wang("1"), single("2", "赵六", synthetic_id(40)), *wang("3", n=3)]
    job, location = upload(alice_client, xlsx_bytes(rows), tree["chengzhong"])
    assert (job.state, job.problems) == (Job.State.PREVIEW, [])
    assert (job.summary["rows"], job.summary["households"], job.summary["new_people"]) == (7, 3, 7)
    page = alice_client.get(location).content.decode()
    assert "登记全部 3 户" in page
    assert rows_in_books() == (0, 0, 0, 0, 0)

    alice_client.post(f"{location}confirm/")
    job.refresh_from_db()
    assert (job.state, job.summary["filed"]) == (Job.State.DONE, 3)
    assert "3 户已登记" in alice_client.get(location).content.decode()
    entries = ArchiveEntry.objects.order_by("pk")
    assert [e.status for e in entries] == [ArchiveStatus.PENDING] * 3
    first = entries[0]
    assert (first.tier, first.income_per_head, first.causes, first.dibao_monthly) == (
        "deep",
        Decimal("520.00"),
        ["illness", "schooling"],
        Decimal("840.00"),
    )
    assert (first.valid_from, first.valid_to, first.standard) == (
        datetime.date(2022, 1, 1),
        datetime.date(2022, 12, 31),
        "青海省困难职工认定办法",
    )
    assert first.household.address == "城中区南关街12号"
    assert [(m.name, m.relation) for m in first.household.members.order_by("pk")] == [
        ("王大明", "head"),
        ("李秀英", "spouse"),
        ("王小明", "child"),
    ]
    # The second household's line left its dates empty: the page's date stands for them.
    assert (entries[1].valid_from, entries[1].valid_to, entries[1].tier) == (
        datetime.date(2022, 1, 1),
        None,
        "relative",
    )
    filing = first.changes.get()
    assert (filing.kind, filing.status, filing.note) == ("open", ChangeStatus.PENDING, "妻子长期患病")

    # Each waits for its approver, as a filing made on its own would.
    archive.archive_change_approve(change=filing, by=bob)
    first.refresh_from_db()
    assert first.status == ArchiveStatus.OPEN
    assert set(first.household.members.values_list("in_open_archive", flat=True)) == {True}
    assert trail.verify_trails().problems == []


@pytest.mark.django_db
def test_the_list_files_what_household_file_and_archive_open_write_for_one_household(tree, alice, dibao):
    """The set-based filing leaves the rows and the audit records of the services
    a household is filed by one at a time."""
    figures = archive.Figures.read(tier="deep", income_per_head="520", causes=("illness", "schooling"))
    one_by_one = archive.household_file(
        federation=tree["chengzhong"],
        members=[
            archive.MemberLine(person_line(name="王大明", id_number=synthetic_id(11)), "head"),
            archive.MemberLine(person_line(name="李秀英", id_number=synthetic_id(12)), "spouse"),
        ],
        address="城中区南关街12号",
        by=alice,
    )
    archive.archive_open(
        household=one_by_one,
        figures=figures,
        valid_from=datetime.date(2022, 1, 1),
        valid_to=datetime.date(2022, 12, 31),
        standard="认定办法",
        note="妻子长期患病",
        by=alice,
    )
    line = {"tier": "deep", "income_per_head": "520", "causes": ["illness", "schooling"]}
    line |= {"valid_to": "2022-12-31", "standard": "认定办法", "note": "妻子长期患病", "address": "城中区南关街12号"}
    filed = archive_lists.households_file_many(
        federation=tree["chengzhong"],
        rows=[
            HouseholdRow("A", "王大明", synthetic_id(21), "head", **line),
            HouseholdRow("A", "李秀英", synthetic_id(22), "spouse"),
        ],
        valid_from=datetime.date(2022, 1, 1),
        by=alice,
    )
    by_list = Household.objects.get(pk=filed.households[0])

    def written(household: Household) -> tuple:
        entry = household.entries.get()
        change = entry.changes.get()
        return (
            household.address,
            [(m.name, m.relation) for m in household.members.order_by("pk")],
            [getattr(entry, f) for f in ("tier", "standard", "income_per_head", "dibao_monthly", "causes", "status")],
            [getattr(change, f) for f in ("kind", "status", "tier", "income_per_head", "causes", "valid_to", "note")],
        )

    assert written(by_list) == written(one_by_one)

    def trail_of(household: Household) -> list:
        entry = household.entries.get()
        records = [
            *archive.audit.history(household),
            *archive.audit.history(entry),
            *archive.audit.history(entry.changes.get()),
        ]
        said = []
        for event in records:
            changes = dict(event.changes)
            changes.pop("household", None)  # the household's own id
            changes.pop("entry", None)
            if "members" in changes:
                changes["members"] = {
                    "new": [[name, relation] for name, _number, relation in changes["members"]["new"]]
                }
            repr_ = event.object_repr.replace(entry.number, "#")
            said.append((event.action, event.federation_id, repr_, changes))
        return said

    assert trail_of(by_list) == trail_of(one_by_one)
    assert trail.verify_trails().problems == []


@pytest.mark.django_db
def test_a_bad_sheet_names_each_cell_in_the_users_language_and_writes_nothing(alice_client, tree, dibao):
    rows = [
        *wang("1"),
        # line 6: a checksum that fails; line 7: a relation nobody uses; a household without its head
        ["2", "赵六", synthetic_id(40)[:-1] + ("0" if synthetic_id(40)[-1] != "0" else "1"), "户主", *HEAD_ONLY],
        ["2", "钱七", synthetic_id(41), "邻居", *HEAD_ONLY],
        ["3", "孙八", synthetic_id(42), "子女", *HEAD_ONLY],
        # line 9: a head with an unknown tier, no income and no cause; then a second head
        ["4", "周九", synthetic_id(43), "户主", "", "很困难", "", "", "", "", "", ""],
        ["4", "吴十", synthetic_id(44), "户主", *HEAD_ONLY],
        # line 11: validity that ends before it begins, and a member listed in household 1 too
        ["5", "郑一", synthetic_id(45), "户主", "", "相对困难", 700, "失业", "2022-06-01", "2022-01-01", "", ""],
        ["5", "李秀英", synthetic_id(12), "配偶", "", "", 650, "", "", "", "", ""],
    ]
    before = rows_in_books()
    job, location = upload(alice_client, xlsx_bytes(rows), tree["chengzhong"], HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert job.state == Job.State.PREVIEW
    assert found(job) == [
        (6, "身份证号", "invalid_id_number"),
        (6, "困难类别", "required"),
        (6, "月人均收入", "invalid_amount"),
        (6, "致困原因", "required"),
        (7, "与户主关系", "invalid_choice"),
        (8, "与户主关系", "one_head"),
        (9, "困难类别", "invalid_choice"),
        (9, "月人均收入", "invalid_amount"),
        (9, "致困原因", "required"),
        (10, "与户主关系", "one_head"),
        (11, "有效期至", "valid_to_before_from"),
        (12, "身份证号", "in_two_households"),
        (12, "月人均收入", "household_field_differs"),
    ]
    messages = {(p["line"], p["column"]): p["message"] for p in job.problems}
    assert messages[(9, "困难类别")] == "“很困难”不是允许的取值。"
    assert messages[(6, "困难类别")] == "请在户主所在行填写困难类别。"
    assert messages[(8, "与户主关系")] == "户号为 3 的家庭没有户主：请把其中一名成员的与户主关系填为“户主”。"
    masked = idnumber.mask(synthetic_id(12))
    assert messages[(12, "身份证号")] == f"{masked} 也列在户号为 1 的家庭中（第 4 行）：一人只能属于一户。"
    assert messages[(12, "月人均收入")].startswith("此项属于整户，填在户主所在行（第 11 行）")
    page = alice_client.get(location).content.decode()
    assert "尚未写入任何数据" in page and 'id="row-12"' in page
    assert rows_in_books() == before
    alice_client.post(f"{location}confirm/")
    job.refresh_from_db()
    assert job.state == Job.State.PREVIEW and rows_in_books() == before
