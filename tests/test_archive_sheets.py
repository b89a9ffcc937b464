"""The hardship archive in spreadsheets: households filed from a sheet (preview,
fix, commit; all or nothing; each filing waiting for an approver), and the
archive exported one row per member, masked unless a clerk or auditor asks,
every export logged.

The worker runs in-process under the tests (Django tasks' immediate backend),
so each upload comes back with its preview already made.
"""

import csv
import datetime
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations.models import Disbursement, PolicyRule, PolicyUsage
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
from tests.conftest import member, synthetic_id
from tests.test_commands import run
from tests.test_hostile_sheets import far_row, with_cells
from unionfunds import trail
from unionfunds.models import ExportRecord, Job, Role

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


@pytest.mark.django_db
def test_one_bad_line_in_a_thousand_writes_nothing_then_is_fixed_in_the_browser_and_all_are_filed(
    alice_client, tree, dibao
):
    rows = [
        single(str(n), f"职工{n:04d}", synthetic_id(n % 1000, birth=datetime.date(1970 + n // 1000, 1, 2)))
        for n in range(1000)
    ]
    good = rows[499][2]
    rows[499][2] = good[:-1] + ("0" if good[-1] != "0" else "1")  # sheet line 502
    job, location = upload(alice_client, xlsx_bytes(rows), tree["chengzhong"])
    assert found(job) == [(502, "身份证号", "invalid_id_number")]
    assert rows_in_books() == (0, 0, 0, 0, 0)
    page = alice_client.get(location).content.decode()
    assert f'value="{rows[499][2]}"' in page  # the number as read, to be corrected in its box

    fields = {
        f"row-502-{name}": "" for name in ("address", "tier", "income_per_head", "causes", "valid_from", "valid_to")
    }
    fields |= {"row-502-name": "职工0499", "row-502-id_number": good, "row-502-relation": "head"}
    fields |= {"row-502-tier": "relative", "row-502-income_per_head": "800", "row-502-causes": "失业"}
    alice_client.post(f"{location}fix/", fields)
    job.refresh_from_db()
    assert (job.state, job.problems, job.summary["households"]) == (Job.State.PREVIEW, [], 1000)
    alice_client.post(f"{location}confirm/")
    job.refresh_from_db()
    assert (job.state, job.summary["filed"]) == (Job.State.DONE, 1000)
    assert ArchiveEntry.objects.filter(status=ArchiveStatus.PENDING).count() == 1000
    assert HouseholdMember.objects.filter(beneficiary__id_number=good, name="职工0499").exists()


@pytest.mark.django_db
def test_a_sheet_sent_twice_files_nobody_twice_and_an_open_archive_holds_its_people(alice_client, tree, bob, dibao):
    content = xlsx_bytes(wang("1"))
    _first, location = upload(alice_client, content, tree["chengzhong"])
    alice_client.post(f"{location}confirm/")
    again, _location = upload(alice_client, content, tree["chengzhong"])
    assert found(again) == [(line, "身份证号", "in_pending_household") for line in (3, 4, 5)]
    archive.archive_change_approve(change=ArchiveChange.objects.get(), by=bob)
    again, _location = upload(alice_client, content, tree["chengzhong"])
    assert found(again) == [(line, "身份证号", "in_open_household") for line in (3, 4, 5)]
    assert Household.objects.count() == 1


@pytest.mark.django_db
def test_a_commit_that_finds_the_people_filed_meanwhile_goes_back_to_the_preview_and_writes_nothing(
    alice_client, tree, alice, bob, dibao
):
    job, location = upload(
        alice_client, xlsx_bytes([*wang("1"), single("2", "赵六", synthetic_id(40))]), tree["chengzhong"]
    )
    assert job.problems == []
    meanwhile = archive.household_file(
        federation=tree["chengzhong"],
        members=[archive.MemberLine(person_line(name="赵六", id_number=synthetic_id(40)), "head")],
        by=alice,
    )
    filing = archive.archive_open(
        household=meanwhile,
        figures=archive.Figures.read(tier="deep", income_per_head="300", causes=["illness"]),
        valid_from=datetime.date(2022, 3, 1),
        by=alice,
    )
    archive.archive_change_approve(change=filing, by=bob)
    before = rows_in_books()
    alice_client.post(f"{location}confirm/")
    job.refresh_from_db()
    assert (job.state, found(job)) == (Job.State.PREVIEW, [(6, "身份证号", "in_open_household")])
    assert rows_in_books() == before


@pytest.mark.django_db
def test_the_template_has_the_headers_and_one_household_that_reads_back_without_problems(alice_client, tree, dibao):
    response = alice_client.get("/archive/import/template.xlsx")
    assert response.status_code == 200
    assert "filename*=UTF-8''%E5%9B%B0%E9%9A%BE" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]
    assert [cell.value for cell in sheet[1]] == HEADERS
    assert [row[3] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["户主", "配偶", "子女"]
    job, _location = upload(alice_client, content, tree["chengzhong"])
    assert (job.state, job.problems, job.summary["households"], job.summary["rows"]) == (Job.State.PREVIEW, [], 1, 3)


@pytest.mark.django_db
def test_a_csv_as_chinese_excel_saves_it_and_rows_pasted_from_excel_are_read_too(alice_client, tree, dibao):
    lines = [",".join(HEADERS)] + [",".join(str(cell) for cell in row) for row in wang("1")]
    job, _ = upload(alice_client, ("\r\n".join(lines) + "\r\n").encode("gb18030"), tree["chengzhong"], "名单.csv")
    assert (job.state, job.problems, job.summary["households"]) == (Job.State.PREVIEW, [], 1)
    pasted = "\n".join("\t".join(str(cell) for cell in row) for row in [HEADERS, *wang("2", n=5)])
    response = alice_client.post(
        "/archive/import/", {"federation": tree["chengzhong"].pk, "valid_from": "2022-01-01", "pasted": pasted}
    )
    job = Job.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    assert (job.state, job.problems, job.summary["rows"]) == (Job.State.PREVIEW, [], 3)


# Hostile sheets ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_sheet_claiming_a_huge_range_is_refused_naming_the_cell_and_the_next_is_read(alice_client, tree, dibao):
    hostile = with_cells(xlsx_bytes(wang("1")), far_row("XFD20000"), dimension="A1:XFD20000")
    assert len(hostile) < 10_000
    job, location = upload(alice_client, hostile, tree["chengzhong"])
    assert job.state == Job.State.FAILED and "XFD20000" in job.message
    assert "XFD20000" in alice_client.get(location).content.decode()
    job, _ = upload(alice_client, xlsx_bytes(wang("1")), tree["chengzhong"])
    assert job.state == Job.State.PREVIEW and rows_in_books()[0] == 0


@pytest.mark.django_db
def test_nul_bytes_and_formulas_are_refused_and_nothing_is_written(alice_client, tree, dibao):
    households = [row for n in range(100) for row in wang(str(n), n=n)]
    lines = [",".join(HEADERS)] + [",".join(str(cell) for cell in row) for row in households]
    lines[250] = lines[250].replace(",", ",\x00", 1)
    job, _ = upload(alice_client, "\r\n".join(lines).encode("utf-8"), tree["chengzhong"], "名单.csv")
    assert (job.state, job.message) == (Job.State.FAILED, "文件第 251 行含有空字符，任何文字都不能包含它。")
    rows = wang("1")
    rows[0][6] = "=SUM(1,2)"
    job, _ = upload(alice_client, xlsx_bytes(rows), tree["chengzhong"])
    assert found(job) == [(3, "月人均收入", "formula")]
    assert rows_in_books() == (0, 0, 0, 0, 0)


@pytest.mark.django_db
def test_a_zip_bomb_and_a_file_that_is_no_sheet_are_refused(alice_client, tree):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
        book.writestr("xl/worksheets/sheet1.xml", "<" * (450 * 1024 * 1024))
    job, _ = upload(alice_client, bomb.getvalue(), tree["chengzhong"])
    assert job.state == Job.State.FAILED and "MB" in job.message
    job, _ = upload(alice_client, b"%PDF-1.4 not a sheet", tree["chengzhong"], "名单.xlsx")
    assert job.state == Job.State.FAILED


# Who may file, and where ----------------------------------------------------------------


@pytest.mark.django_db
def test_only_a_clerk_files_and_only_in_her_subtree(client, tree, alice, bob, dave, dibao):
    client.force_login(bob)
    assert client.get("/archive/import/").status_code == 403
    client.force_login(alice)
    response = client.post(
        "/archive/import/",
        {
            "federation": tree["chengdong"].pk,
            "valid_from": "2022-01-01",
            "sheet": SimpleUploadedFile("a.xlsx", xlsx_bytes(wang())),
        },
    )
    assert response.status_code == 200 and "请选择您担任经办人的工会组织或其下级" in response.content.decode()
    assert not Job.objects.exists()
    with pytest.raises(PermissionDenied):
        archive_lists.households_check(
            federation=tree["chengdong"], rows=[HouseholdRow("1", "赵六", synthetic_id(40), "head")], by=alice
        )


@pytest.mark.django_db
def test_a_job_is_its_makers_alone(client, tree, alice, dave, dibao):
    client.force_login(alice)
    job, location = upload(client, xlsx_bytes(wang()), tree["chengzhong"])
    client.force_login(dave)
    assert client.get(location).status_code == 404
    assert client.post(f"{location}confirm/").status_code == 404
    assert client.get(f"/jobs/{job.pk}/").status_code == 404
    client.force_login(alice)
    assert client.get(f"/jobs/{job.pk}/")["Location"] == location


@pytest.mark.django_db
def test_filing_is_set_based_ten_times_the_households_take_no_more_queries(tree, alice, dibao):
    def queries(households: int, start: int) -> int:
        rows = [
            HouseholdRow(
                str(n),
                f"职工{n}",
                synthetic_id(n % 1000, birth=datetime.date(1971 + n // 1000, 3, 4)),
                "head",
                tier="deep",
                income_per_head="500",
                causes=["illness"],
            )
            for n in range(start, start + households)
        ]
        with CaptureQueriesContext(connection) as captured:
            archive_lists.households_file_many(
                federation=tree["chengzhong"], rows=rows, valid_from=datetime.date(2022, 1, 1), by=alice
            )
        return len(captured)

    few, many = queries(10, 0), queries(300, 100)
    # A few queries per table, not per household (one by one, 290 more would cost
    # thousands); SQLite's inserts come in batches under its parameter limit.
    assert many - few < 290 // 10, (few, many)
    if connection.vendor == "postgresql":
        assert many <= few  # the first call also reads the content types, once


# Exporting the archive ------------------------------------------------------------------


@pytest.fixture
def archived(tree, alice, bob, dave, dibao):
    """城中区: 王家 (open) and 赵六 (waiting for approval); 城东区 next door: 钱家 (open)."""
    line = {"tier": "deep", "income_per_head": "520", "causes": ["illness", "schooling"]}
    filed = archive_lists.households_file_many(
        federation=tree["chengzhong"],
        rows=[
            HouseholdRow(
                "1", "王大明", synthetic_id(11), "head", address='=HYPERLINK("http://x.example","点我")', **line
            ),
            HouseholdRow("1", "李秀英", synthetic_id(12), "spouse"),
            HouseholdRow(
                "2", "赵六", synthetic_id(40), "head", tier="relative", income_per_head="800", causes=["other"]
            ),
        ],
        valid_from=datetime.date(2022, 1, 1),
        by=alice,
    )
    archive.archive_change_approve(change=ArchiveChange.objects.get(pk=filed.changes[0]), by=bob)
    neighbour = archive_lists.households_file_many(
        federation=tree["chengdong"],
        rows=[HouseholdRow("1", "钱多多", synthetic_id(70, area="630102"), "head", **line)],
        valid_from=datetime.date(2022, 1, 1),
        by=dave,
    )
    archive.archive_change_approve(
        change=ArchiveChange.objects.get(pk=neighbour.changes[0]), by=member("erin2", tree["chengdong"], Role.APPROVER)
    )
    return filed


def exported_csv(client, query: str = "") -> tuple[list[list[str]], list[list[str]], list[str]]:
    """(preamble, rows, totals) of the archive's CSV."""
    response = client.get(f"/archive/export.csv{query}")
    assert response.status_code == 200
    assert "filename*=UTF-8''" in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header = next(index for index, line in enumerate(lines) if line and line[0] == "档案编号")
    return lines[:header], lines[header + 1 : -1], lines[-1]


@pytest.mark.django_db
def test_the_archive_exports_one_row_per_member_masked_by_default_and_logged(client, tree, alice, archived):
    client.force_login(alice)
    preamble, rows, totals = exported_csv(client)
    assert ["列表", "困难职工档案"] in preamble and ["身份证号码", "已脱敏"] in preamble
    assert [(row[3], row[4], row[5], row[2]) for row in rows] == [
        ("王大明", idnumber.mask(synthetic_id(11)), "户主", "在档"),
        ("李秀英", idnumber.mask(synthetic_id(12)), "配偶", "在档"),
        ("赵六", idnumber.mask(synthetic_id(40)), "户主", "待审批"),
    ]
    first = rows[0]
    assert first[0] == f"630103-{archived.entries[0]:06d}" and first[1] == "城中区总工会"
    assert (first[7], first[8], first[9], first[10]) == ("深度困难", "520.00", "840.00", "因病、子女上学")
    assert first[6] == "'" + '=HYPERLINK("http://x.example","点我")'  # never a formula in Excel or WPS
    assert (first[12], first[13], first[14]) == ("2022-01-01", "", "2022-01-01")
    assert totals[0] == "行数: 3"
    assert "钱多多" not in str(rows)  # 城东区 is next door
    logged = ExportRecord.objects.get()
    assert (logged.user, logged.what, logged.format, logged.row_count, logged.full_id_numbers) == (
        alice,
        "archive",
        "csv",
        3,
        False,
    )


@pytest.mark.django_db
def test_full_numbers_only_for_the_clerks_and_auditors_of_the_household_and_every_full_export_logged(
    client, tree, alice, bob, carol, archived
):
    client.force_login(alice)
    _, rows, _ = exported_csv(client, "?full_ids=1")
    assert [row[4] for row in rows] == [f'="{synthetic_id(n)}"' for n in (11, 12, 40)]
    client.force_login(carol)  # the province's auditor: both counties, in full
    _, rows, _ = exported_csv(client, "?full_ids=1&status=open")
    assert [row[3] for row in rows] == ["钱多多", "王大明", "李秀英"]
    assert all("*" not in row[4] for row in rows)
    client.force_login(bob)  # 城中区's approver: the rows, never the full numbers
    preamble, rows, _ = exported_csv(client, "?full_ids=1")
    assert len(rows) == 3 and all(row[4].count("*") == 10 for row in rows)
    assert any(line[1].startswith("已遮盖：您申请了完整身份证号") for line in preamble if len(line) > 1)
    logged = [(r.user.username, r.filters, r.row_count, r.full_id_numbers) for r in ExportRecord.objects.order_by("pk")]
    assert logged == [
        ("alice", {}, 3, True),
        ("carol", {"status": "open"}, 3, True),
        ("bob", {}, 3, True),
    ]
    assert trail.verify_trails().problems == []


@pytest.mark.django_db
def test_the_xlsx_keeps_numbers_as_text_amounts_as_numbers_and_the_filters_above(client, alice, archived):
    client.force_login(alice)
    response = client.get("/archive/export.xlsx?status=open&tier=deep")
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    lines = list(sheet.iter_rows(values_only=True))
    header = next(index for index, line in enumerate(lines) if line[0] == "档案编号")
    assert ("筛选条件", "状态: 在档; 困难类别: 深度困难") in [line[:2] for line in lines[:header]]
    rows = lines[header + 1 : -1]
    assert [row[3] for row in rows] == ["王大明", "李秀英"]
    income = sheet.cell(row=header + 2, column=9)
    number = sheet.cell(row=header + 2, column=5)
    assert (income.value, income.data_type, number.data_type) == (520, "n", "s")
    assert sheet.cell(row=header + 2, column=13).is_date
    assert lines[-1][0] == "行数: 2"


@pytest.mark.django_db
def test_a_long_archive_export_runs_as_a_job_and_is_logged(client, alice, archived, settings):
    settings.UNIONFUNDS_EXPORT_INLINE_ROWS = 1
    client.force_login(alice)
    response = client.get("/archive/export.xlsx?full_ids=1")
    job = Job.objects.get(kind=Job.Kind.EXPORT)
    assert response["Location"] == f"/jobs/{job.pk}/" and job.state == Job.State.DONE
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(client.get(f"/jobs/{job.pk}/download/").streaming_content)))
    numbers = [row[4] for row in sheet.active.iter_rows(values_only=True) if row[3] in ("王大明", "李秀英", "赵六")]
    assert numbers == [synthetic_id(11), synthetic_id(12), synthetic_id(40)]
    assert ExportRecord.objects.values_list("what", "row_count", "full_id_numbers").get() == ("archive", 3, True)


@pytest.mark.django_db
def test_someone_outside_sees_no_row_of_the_archive(client, outsider, archived):
    client.force_login(outsider)
    _, rows, totals = exported_csv(client, "?full_ids=1")
    assert rows == [] and totals[0] == "行数: 0"


# The demo's archive ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_demo_has_archives_in_qinghai_and_heyuan_paid_by_the_archive_and_loads_once(db):
    run("load_divisions")
    run("load_demo")
    entries = ArchiveEntry.objects.all()

    def statuses(code: str) -> dict[str, int]:
        found = entries.filter(federation__code=code).values_list("status", flat=True)
        return {status: list(found).count(status) for status in set(found)}

    assert statuses("630103") == {"open": 4, "closed": 1, "pending": 1}
    assert statuses("630102") == {"open": 2}
    assert statuses("441602") == {"open": 24} and statuses("441621") == {"open": 12}
    closed = entries.get(status="closed")
    assert closed.close_reason == "out_of_hardship" and list(archive.to_follow_up(entries, today=closed.closed_on))
    waiting = ArchiveChange.objects.filter(status=ChangeStatus.PENDING)
    assert sorted(waiting.values_list("kind", flat=True)) == ["open", "review"]
    assert dict(DibaoLine.objects.values_list("federation__code", "monthly")) == {
        "630103": Decimal("840.00"),
        "630102": Decimal("810.00"),
        "441602": Decimal("900.00"),
        "441621": Decimal("780.00"),
    }
    rules = PolicyRule.objects.all()
    assert {(r.cap_dibao_months, r.once_per_year) for r in rules} == {(Decimal("12.00"), False), (None, True)}
    archived = Disbursement.objects.filter(fund__requires_archive=True)
    assert archived.count() == 25 and not archived.filter(household__isnull=True).exists()
    assert {d.status for d in archived} == {"approved"}
    assert PolicyUsage.objects.filter(scope="household", amount=Decimal("3000.00")).count() == 4
    assert trail.verify_trails().problems == []
    count = ArchiveEntry.objects.count()
    assert "already loaded" in run("load_demo") and ArchiveEntry.objects.count() == count
