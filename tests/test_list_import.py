"""Real-name disbursement lists from spreadsheets, through the browser pages.

The worker runs in-process under the tests (Django tasks' immediate backend),
so each upload comes back with its preview already made.
"""

import base64
import datetime
import io
import os
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from allocations import services as money
from allocations.models import Disbursement, Fund, Status
from beneficiaries.models import Beneficiary
from tests.conftest import synthetic_id
from unionfunds.models import Job

HEADERS = ["姓名", "身份证号", "金额", "救助类别", "发放日期", "人员类别", "联系电话", "工作单位", "备注", "特批理由"]


def xlsx_bytes(rows: list[list], headers: list[str] = HEADERS, title_rows: int = 0) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for index in range(title_rows):
        sheet.append([f"某某公司一线职工慰问名单（第{index + 1}页）"])
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def csv_bytes(rows: list[list], headers: list[str] = HEADERS, encoding: str = "utf-8-sig") -> bytes:
    lines = [",".join(headers)] + [",".join(str(cell) for cell in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def frontline_rows(count: int, *, start: int = 1, amount=1000) -> list[list]:
    return [
        [
            f"职工{n:04d}",
            person_id(n),
            amount,
            "疫情生活补贴",
            "2022-11-03",
            "一线医务人员",
            "13800000000",
            "西宁市第一人民医院",
            "",
            "",
        ]
        for n in range(start, start + count)
    ]


def person_id(n: int) -> str:
    return synthetic_id(n % 1000, birth=datetime.date(1970 + n // 1000, 5, 17))


def upload(client, fund: Fund, content: bytes, name: str = "名单.xlsx", **extra):
    data = {
        "fund": fund.pk,
        "assistance_type": "pandemic_subsidy",
        "date": "2022-11-03",
        "batch": "一线职工第一批",
        "sheet": SimpleUploadedFile(name, content),
        **extra,
    }
    response = client.post("/disbursements/import/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Job.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1])), response["Location"]


@pytest.mark.django_db
def test_a_clean_list_is_previewed_then_written_all_at_once(alice_client, rich_fund):
    job, location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(20), title_rows=2))
    assert (job.state, job.problems) == (Job.State.PREVIEW, [])
    assert (job.summary["rows"], job.summary["total"], job.summary["new_people"]) == (20, "20000.00", 20)
    page = alice_client.get(location).content.decode()
    assert "录入全部 20 行" in page
    assert Disbursement.objects.count() == 0 and Beneficiary.objects.count() == 0

    alice_client.post(f"{location}confirm/")
    job.refresh_from_db()
    assert (job.state, job.summary["created"]) == (Job.State.DONE, 20)
    paid = Disbursement.objects.filter(fund=rich_fund)
    assert paid.count() == 20 and {d.status for d in paid} == {Status.PENDING}
    assert {d.batch for d in paid} == {"一线职工第一批"} and {d.amount for d in paid} == {Decimal("1000.00")}
    person = Beneficiary.objects.get(id_number=person_id(7))
    assert (person.name, person.employer, list(person.categories.values_list("code", flat=True))) == (
        "职工0007",
        "西宁市第一人民医院",
        ["frontline_medical"],
    )
    rich_fund.refresh_from_db()
    assert rich_fund.reserved == Decimal("20000.00")


@pytest.mark.django_db
def test_confirming_twice_writes_the_list_once(alice_client, rich_fund):
    _job, location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(5)))
    alice_client.post(f"{location}confirm/")
    alice_client.post(f"{location}confirm/")
    assert Disbursement.objects.count() == 5


@pytest.mark.django_db
def test_one_bad_row_in_a_thousand_writes_nothing_and_is_named_then_fixed_in_the_browser(alice_client, rich_fund):
    rows = frontline_rows(1000)
    good_number = rows[499][1]
    rows[499][1] = good_number[:-1] + ("0" if good_number[-1] != "0" else "1")  # sheet line 501
    job, location = upload(alice_client, rich_fund, xlsx_bytes(rows))
    assert job.state == Job.State.PREVIEW
    assert [(p["line"], p["column"], p["code"]) for p in job.problems] == [(501, "身份证号", "invalid_id_number")]
    page = alice_client.get(location).content.decode()
    assert "校验码" in page and "501" in page
    assert "录入全部" not in page
    assert Disbursement.objects.count() == 0 and Beneficiary.objects.count() == 0

    response = alice_client.post(
        f"{location}fix/",
        {
            "row-501-name": "职工0500",
            "row-501-id_number": good_number,
            "row-501-amount": "1000",
            "row-501-assistance_type": "",
            "row-501-date": "2022-11-03",
        },
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.state, job.problems, job.summary["fixed_lines"]) == (Job.State.PREVIEW, [], [501])
    alice_client.post(f"{location}confirm/")
    assert Disbursement.objects.filter(fund=rich_fund).count() == 1000
    assert Beneficiary.objects.filter(id_number=good_number).exists()


@pytest.mark.django_db
def test_a_row_can_be_removed_in_the_preview(alice_client, rich_fund):
    rows = frontline_rows(3)
    rows[1][2] = -5
    job, location = upload(alice_client, rich_fund, xlsx_bytes(rows))
    assert [(p["line"], p["field"]) for p in job.problems] == [(3, "amount")]
    alice_client.post(f"{location}fix/", {"row-3-name": rows[1][0], "row-3-remove": "on"})
    job.refresh_from_db()
    assert (job.problems, len(job.rows)) == ([], 2)
    alice_client.post(f"{location}confirm/")
    assert Disbursement.objects.count() == 2


@pytest.mark.django_db
def test_every_kind_of_cell_problem_is_reported_by_row_and_column(alice_client, rich_fund, worker):
    rows = frontline_rows(8, start=101)
    rows[0][2] = "=B2*2"  # a formula typed into the CSV
    rows[1][2] = "12.345"
    rows[2][3] = "发红包"
    rows[3][4] = "2022-13-45"
    rows[4][5] = "外星人"
    rows[5][1] = rows[6][1]  # the same person twice in one list
    rows[5][0] = rows[6][0]
    rows[7][1] = worker.id_number  # registered as 张三
    job, _ = upload(alice_client, rich_fund, csv_bytes(rows), name="名单.csv")
    found = {(p["line"], p["column"], p["code"]) for p in job.problems}
    assert found == {
        (2, "金额", "formula"),
        (3, "金额", "invalid_amount"),
        (4, "救助类别", "invalid_choice"),
        (5, "发放日期", "invalid_date"),
        (6, "人员类别", "invalid_choice"),
        (8, "身份证号", "duplicate_payment"),
        (9, "姓名", "name_mismatch"),
    }
    formula = next(p for p in job.problems if p["code"] == "formula")
    assert "公式" in formula["message"]
    assert Disbursement.objects.count() == 0


@pytest.mark.django_db
def test_excel_number_cells_for_id_numbers_and_formulas_are_refused(alice_client, rich_fund):
    rows = frontline_rows(2)
    rows[0][1] = float(rows[0][1][:17] + "0")  # what Excel keeps of an 18-digit number typed as a number
    rows[1][2] = "=SUM(1,2)"
    job, _ = upload(alice_client, rich_fund, xlsx_bytes(rows))
    assert {(p["line"], p["code"]) for p in job.problems} == {(2, "id_number_not_text"), (3, "formula")}
    assert "文本" in job.problems[0]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("with_formula", [False, True], ids=["no-formula", "formula-elsewhere"])
def test_a_list_set_off_from_the_corner_is_read_at_excels_rows_and_columns(alice_client, rich_fund, with_formula):
    """Sheets without formulas and sheets with them are read by different readers;
    both must name the same lines."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["C2"] = "某某公司一线职工慰问名单"
    rows = frontline_rows(3)
    rows[1][2] = "12.345"
    for line, values in enumerate([HEADERS, *rows], start=4):
        for column, value in enumerate(values, start=3):
            sheet.cell(line, column, value)
    if with_formula:
        book.create_sheet("合计")["A1"] = "=SUM(发放名单!E5:E7)"
    output = io.BytesIO()
    book.save(output)
    job, _ = upload(alice_client, rich_fund, output.getvalue())
    assert [(p["line"], p["column"], p["code"]) for p in job.problems] == [(6, "金额", "invalid_amount")]
    assert [row["name"] for row in job.rows] == ["职工0001", "职工0002", "职工0003"]


@pytest.mark.django_db
def test_a_payment_already_made_this_month_is_flagged_then_confirmed(alice_client, rich_fund, worker, alice, bob):
    earlier = money.disbursement_create(
        fund=rich_fund,
        beneficiary=worker,
        assistance_type="pandemic_subsidy",
        amount="500",
        date=datetime.date(2022, 11, 1),
        by=alice,
    )
    money.movement_approve(movement=earlier, by=bob)
    rows = [["张三", worker.id_number, 1000, "", "", "", "", "", ""]]
    job, location = upload(alice_client, rich_fund, xlsx_bytes(rows))
    assert [(p["line"], p["code"]) for p in job.problems] == [(2, "duplicate_payment")]
    assert "再次发放" in alice_client.get(location).content.decode()
    alice_client.post(
        f"{location}fix/",
        {
            "row-2-name": "张三",
            "row-2-id_number": worker.id_number,
            "row-2-amount": "1000",
            "row-2-date": "",
            "row-2-confirm_duplicate": "on",
        },
    )
    job.refresh_from_db()
    assert job.problems == []
    alice_client.post(f"{location}confirm/")
    assert Disbursement.objects.filter(duplicate_confirmed=True).count() == 1


@pytest.mark.django_db
def test_a_list_beyond_the_available_balance_is_refused_as_a_whole(alice_client, fund):
    job, location = upload(alice_client, fund, xlsx_bytes(frontline_rows(11)))
    assert [(p["line"], p["code"]) for p in job.problems] == [(None, "insufficient_funds")]
    page = alice_client.get(location).content.decode()
    assert "11,000.00" in page and "10,000.00" in page
    assert alice_client.post(f"{location}confirm/").status_code == 302
    assert Disbursement.objects.count() == 0


@pytest.mark.django_db
def test_gbk_csv_as_chinese_excel_saves_it(alice_client, rich_fund):
    job, _ = upload(alice_client, rich_fund, csv_bytes(frontline_rows(3), encoding="gbk"), name="名单.csv")
    assert (job.state, job.problems, job.summary["rows"]) == (Job.State.PREVIEW, [], 3)
    assert job.rows[0]["name"] == "职工0001" and job.rows[0]["categories"] == ["frontline_medical"]


@pytest.mark.django_db
def test_english_headers_and_pasted_rows_from_excel(alice_client, rich_fund):
    headers = ["Name", "ID number", "Amount", "Assistance type"]
    lines = ["\t".join(headers)] + [f"Worker {n}\t{synthetic_id(n)}\t250.5\tLiving aid" for n in (1, 2)]
    response = alice_client.post(
        "/disbursements/import/",
        {"fund": rich_fund.pk, "assistance_type": "living", "date": "2022-11-03", "pasted": "\n".join(lines)},
    )
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert (job.problems, job.summary["total"]) == ([], "501.00")
    alice_client.post(f"/jobs/{job.pk}/confirm/")
    assert sorted(Disbursement.objects.values_list("amount", "assistance_type")) == [
        (Decimal("250.50"), "living"),
        (Decimal("250.50"), "living"),
    ]


@pytest.mark.django_db
def test_a_sheet_without_the_needed_columns_fails_with_the_reason(alice_client, rich_fund):
    job, location = upload(alice_client, rich_fund, xlsx_bytes([["x", "y"]], headers=["姓名", "电话"]))
    assert job.state == Job.State.FAILED
    assert "「身份证号」" in job.message and "「金额」" in job.message
    assert job.message in alice_client.get(location).content.decode()


def zip_bomb_xlsx() -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 * 1024 * 1024))
    return output.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 2000, "photo.xlsx", "不是电子表格"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2000, "old.xls", "无法作为电子表格读取"),
        (b"PK\x03\x04 not really a zip", "broken.xlsx", "不是电子表格"),
        ("zip-bomb", "bomb.xlsx", "解压后超过"),
        ("姓名,身份证号,金额\r\n" + "x" * (10 * 1024 * 1024) + ",1,1\r\n", "huge.csv", "超过 32767 个字符"),
    ],
    ids=["png", "old-excel", "broken-zip", "zip-bomb", "ten-megabyte-cell"],
)
def test_hostile_files_get_a_clear_error_not_a_crash(alice_client, rich_fund, content, name, expected):
    if content == "zip-bomb":
        content = zip_bomb_xlsx()
    elif isinstance(content, str):
        content = content.encode("utf-8")
    job, location = upload(alice_client, rich_fund, content, name=name)
    assert job.state == Job.State.FAILED
    assert expected in job.message
    assert alice_client.get(location).status_code == 200
    assert Disbursement.objects.count() == 0


@pytest.mark.django_db
def test_a_ten_megabyte_cell_in_an_xlsx_is_refused(alice_client, rich_fund):
    rows = frontline_rows(1)
    rows[0][8] = "PLACEHOLDER"
    # Excel and the libraries that write XLSX stop at 32,767 characters; a
    # hostile file is written by hand.
    original, hostile = zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows))), io.BytesIO()
    with zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in original.infolist():
            data = original.read(member)
            archive.writestr(member, data.replace(b"PLACEHOLDER", base64.b64encode(os.urandom(7_500_000))))
    job, _ = upload(alice_client, rich_fund, hostile.getvalue())
    assert job.state == Job.State.FAILED and "第 2 行 I 列" in job.message


@pytest.mark.django_db
def test_the_page_refuses_a_missing_file_and_a_file_too_big(alice_client, rich_fund, settings):
    response = alice_client.post(
        "/disbursements/import/", {"fund": rich_fund.pk, "assistance_type": "living", "date": "2022-11-03"}
    )
    assert response.status_code == 200 and "请选择电子表格文件或粘贴行" in response.content.decode()
    settings.UNIONFUNDS_UPLOAD_MAX_BYTES = 1000
    response = alice_client.post(
        "/disbursements/import/",
        {
            "fund": rich_fund.pk,
            "assistance_type": "living",
            "date": "2022-11-03",
            "sheet": SimpleUploadedFile("big.csv", b"x" * 2000),
        },
    )
    assert "大于" in response.content.decode()
    assert Job.objects.count() == 0


def dave_fund_owner(dave):
    return dave.memberships.get().federation


@pytest.mark.django_db
def test_only_a_clerk_of_the_fund_may_import_and_a_job_is_its_owners(client, rich_fund, alice, dave, carol):
    client.force_login(carol)
    assert client.get("/disbursements/import/").status_code == 403
    money.fund_create(
        federation=dave_fund_owner(dave), name="城东区帮扶资金", purpose="hardship", fiscal_year=2022, by=dave
    )
    client.force_login(dave)
    response = client.post(
        "/disbursements/import/",
        {
            "fund": rich_fund.pk,
            "assistance_type": "living",
            "date": "2022-11-03",
            "sheet": SimpleUploadedFile("a.csv", csv_bytes(frontline_rows(1))),
        },
    )
    assert response.status_code == 200 and Job.objects.count() == 0  # not one of dave's funds
    client.force_login(alice)
    _job, location = upload(client, rich_fund, xlsx_bytes(frontline_rows(1)))
    client.force_login(dave)
    for url in (location, f"{location}progress/", f"{location}download/"):
        assert client.get(url).status_code == 404
    assert client.post(f"{location}confirm/").status_code == 404
    assert Disbursement.objects.count() == 0


@pytest.mark.django_db
def test_the_progress_of_a_job_can_be_polled(alice_client, rich_fund):
    _job, location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(3)))
    body = alice_client.get(f"{location}progress/").json()
    assert body["state"] == "preview" and body["done"] == 3


@pytest.mark.django_db
@pytest.mark.parametrize("extension", ["xlsx", "csv"])
def test_the_template_has_the_headers_the_import_reads(alice_client, rich_fund, extension):
    response = alice_client.get(f"/disbursements/import/template.{extension}")
    content = b"".join(response.streaming_content)
    if extension == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(content))
        headers = [cell.value for cell in book["发放名单"][1]]
        assert book["发放名单"].column_dimensions["B"].width >= 20
        sheet = book["发放名单"]
        for row in frontline_rows(2):
            sheet.append(row)
        filled = io.BytesIO()
        book.save(filled)
        job, _ = upload(alice_client, rich_fund, filled.getvalue())
        assert (job.problems, job.summary["rows"]) == ([], 2)
    else:
        headers = content.decode("utf-8-sig").strip().split(",")
    assert headers == HEADERS


@pytest.mark.django_db
def test_the_committed_demo_list_is_what_the_demo_generator_writes(tmp_path):
    from pathlib import Path

    from allocations import demo

    fresh = tmp_path / "list.xlsx"
    demo.write_demo_list(fresh)
    committed = Path(__file__).resolve().parents[1] / "fixtures" / "demo-list-shandong-1000.xlsx"
    assert fresh.read_bytes() == committed.read_bytes(), "run: python manage.py make_demo_list"


@pytest.mark.django_db
def test_a_commit_that_fails_halfway_says_why_and_leaves_nothing_written(alice_client, rich_fund, monkeypatch):
    from unionfunds import audit

    job, location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(30)))

    log_many = audit.log_many

    def crash(model, *args, **kwargs):  # after the people were registered and the fund reserved
        if model is Disbursement:
            raise RuntimeError("disk full")
        return log_many(model, *args, **kwargs)

    monkeypatch.setattr(audit, "log_many", crash)
    alice_client.post(f"{location}confirm/")
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert "未写入任何数据" in alice_client.get(location).content.decode()
    assert (Disbursement.objects.count(), Beneficiary.objects.count()) == (0, 0)
    rich_fund.refresh_from_db()
    assert rich_fund.reserved == Decimal("0.00")


@pytest.mark.django_db
def test_a_category_whose_name_holds_a_slash_is_one_category(alice_client, rich_fund):
    rows = frontline_rows(1)
    rows[0][5] = "工伤/职业病致残、农民工"
    job, _ = upload(alice_client, rich_fund, xlsx_bytes(rows))
    assert (job.problems, job.rows[0]["categories"]) == ([], ["work_injury", "migrant_worker"])
