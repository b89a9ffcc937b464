"""Auditors' spreadsheets of the list pages: the page's filters, every row,
numbers as numbers, masked ID numbers unless asked and allowed, and a log."""

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest

from allocations import rollups
from allocations import services as money
from allocations.models import Disbursement
from beneficiaries.models import Beneficiary
from tests.conftest import member, synthetic_id
from tests.factories import FundFactory, approved_contribution
from tests.test_list_import import upload
from unionfunds.models import ExportRecord, Job, Role


def workbook(response) -> openpyxl.Workbook:
    content = b"".join(response.streaming_content)
    return openpyxl.load_workbook(io.BytesIO(content))


def table(sheet) -> tuple[list, list[tuple], tuple]:
    """(preamble rows, data rows, totals row) of an exported sheet."""
    rows = list(sheet.iter_rows(values_only=True))
    header = next(index for index, row in enumerate(rows) if row[0] in ("编号", "工会组织") and row[1])
    return rows[:header], rows[header + 1 : -1], rows[-1]


@pytest.fixture
def reversed_payment(qinghai_2022, clerk, approver):
    """One of the 城中区 payments taken back by an approved reversal."""
    paid = Disbursement.objects.filter(beneficiary=qinghai_2022["workers"][1]).get()
    money.movement_approve(movement=money.movement_reverse(movement=paid, reason="重复发放", by=clerk), by=approver)
    return paid


@pytest.mark.django_db
def test_the_provinces_disbursements_sheet_equals_its_roll_up(client, carol, tree, reversed_payment):
    client.force_login(carol)
    response = client.get("/disbursements/export.xlsx?fiscal_year=2022")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = workbook(response)
    sheet = book.active
    preamble, rows, totals = table(sheet)
    assert ("筛选条件", "年度: 2022") in [row[:2] for row in preamble]
    exported_at = next(row[1] for row in preamble if row[0] == "导出时间")
    assert exported_at.startswith(f"{datetime.date.today():%Y-%m-%d}")
    assert len(rows) == 5  # four payments and one reversal
    reversal = next(row for row in rows if row[10] is not None)
    assert (reversal[7], reversal[10]) == (-1000, reversed_payment.pk)
    roll_up = rollups.rollup(tree["qinghai"], rollups.Filters(fiscal_year=2022))
    assert Decimal(str(totals[7])) == roll_up.total.disbursed == Decimal("4000.00")
    assert totals[1] == "行数: 5"

    amount_cell = sheet.cell(row=len(preamble) + 2, column=8)
    assert (amount_cell.data_type, amount_cell.number_format) == ("n", "#,##0.00")
    date_cell = sheet.cell(row=len(preamble) + 2, column=2)
    assert date_cell.is_date and date_cell.number_format == "yyyy-mm-dd"
    assert all(row[5].count("*") == 10 for row in rows)  # masked by default


@pytest.mark.django_db
def test_full_id_numbers_only_on_request_and_only_for_roles_that_may_see_them(client, tree, qinghai_2022, bob):
    alice = member("alice", tree["chengzhong"], Role.CLERK)
    numbers = {person.id_number for person in qinghai_2022["workers"]}
    client.force_login(alice)
    _, rows, _ = table(workbook(client.get("/disbursements/export.xlsx?full_ids=1")).active)
    assert {row[5] for row in rows} <= numbers and rows
    _, rows, _ = table(workbook(client.get("/beneficiaries/export.xlsx?full_ids=1")).active)
    assert {row[2] for row in rows} == numbers
    logged = ExportRecord.objects.filter(user=alice)
    assert [(r.what, r.full_id_numbers, r.row_count) for r in logged.order_by("at")] == [
        ("disbursements", True, 3),
        ("beneficiaries", True, 3),
    ]

    client.force_login(bob)  # an approver: sees the rows, never the full numbers
    _, rows, _ = table(workbook(client.get("/beneficiaries/export.xlsx?full_ids=1")).active)
    assert rows and not {row[2] for row in rows} & numbers


@pytest.mark.django_db
def test_exports_are_scoped_and_filtered_like_the_page(client, dave, qinghai_2022):
    client.force_login(dave)  # 城东区: one payment of 2,000 there, none of 城中区's
    text = b"".join(client.get("/disbursements/export.csv").streaming_content).decode("utf-8-sig")
    assert "城东区总工会" in text and "城中区总工会" not in text
    assert "2000.00" in text and text.count("\r\n职工") == 0  # names are not the first column
    text = b"".join(client.get("/disbursements/export.csv?assistance_type=living").streaming_content).decode()
    assert "行数: 0" in text


@pytest.mark.django_db
def test_text_that_could_run_as_a_formula_is_escaped(client, alice, bob, rich_fund, worker):
    paid = money.disbursement_create(
        fund=rich_fund,
        beneficiary=worker,
        assistance_type="living",
        amount="10",
        date=datetime.date(2022, 1, 5),
        note='=HYPERLINK("http://evil.example","点我")',
        by=alice,
    )
    client.force_login(alice)
    text = b"".join(client.get("/disbursements/export.csv").streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    note = table(workbook(client.get("/disbursements/export.xlsx")).active)[1][0][13]
    assert note == "'" + paid.note


@pytest.mark.django_db
def test_every_export_is_logged_with_its_filters_and_rows(client, carol, qinghai_2022):
    client.force_login(carol)
    b"".join(client.get("/allocations/export.csv?status=approved&batch=").streaming_content)
    b"".join(client.get("/contributions/export.xlsx?source=matching").streaming_content)
    b"".join(client.get("/funds/export.csv").streaming_content)
    logged = list(ExportRecord.objects.order_by("at", "pk"))
    assert [(r.user, r.what, r.format, r.filters, r.row_count) for r in logged] == [
        (carol, "allocations", "csv", {"status": "approved"}, 3),
        (carol, "contributions", "xlsx", {"source": "matching"}, 1),
        (carol, "funds", "csv", {}, 5),
    ]
    assert {r.federation.code for r in logged} == {"63"}


@pytest.mark.django_db
def test_a_long_export_runs_as_a_job_with_a_download(client, carol, qinghai_2022, settings):
    settings.UNIONFUNDS_EXPORT_INLINE_ROWS = 2
    client.force_login(carol)
    response = client.get("/disbursements/export.xlsx?fiscal_year=2022")
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert (job.kind, job.state, job.summary["rows"]) == (Job.Kind.EXPORT, Job.State.DONE, 4)
    assert "下载" in client.get(response["Location"]).content.decode()
    _, rows, totals = table(workbook(client.get(f"/jobs/{job.pk}/download/")).active)
    assert len(rows) == 4 and totals[7] == 5000
    assert ExportRecord.objects.get().row_count == 4


@pytest.mark.django_db
def test_a_disbursement_export_imports_back_as_the_same_rows(client, tree, qinghai_2022, clerk):
    alice = member("alice", tree["chengzhong"], Role.CLERK)
    client.force_login(alice)
    exported = b"".join(client.get("/disbursements/export.xlsx?full_ids=1").streaming_content)
    other = FundFactory(federation=tree["chengzhong"], name="第二笔资金", fiscal_year=2023, by=alice)
    approved_contribution(other, "100000", by=alice, approver=member("approver2", tree["chengzhong"], Role.APPROVER))
    job, location = upload(client, other, exported)
    assert (job.problems, job.summary["rows"], job.summary["skipped_lines"]) == ([], 3, [11])
    client.post(f"{location}confirm/")
    before = Disbursement.objects.exclude(fund=other).values_list(
        "beneficiary__id_number", "amount", "date", "assistance_type"
    )
    after = Disbursement.objects.filter(fund=other).values_list(
        "beneficiary__id_number", "amount", "date", "assistance_type"
    )
    assert sorted(after) == sorted(before.filter(fund__federation=tree["chengzhong"]))
    assert Beneficiary.objects.count() == 3


@pytest.mark.django_db
def test_the_beneficiary_list_masks_numbers_and_finds_a_whole_one(client, alice, worker):
    client.force_login(alice)
    page = client.get("/beneficiaries/").content.decode()
    assert worker.masked_id_number in page and worker.id_number not in page
    assert "张三" in client.get(f"/beneficiaries/?q={worker.id_number}").content.decode()
    assert "张三" not in client.get(f"/beneficiaries/?q={worker.id_number[:10]}").content.decode()
    other = synthetic_id(99)
    assert "张三" not in client.get(f"/beneficiaries/?q={other}").content.decode()


def test_a_list_longer_than_a_sheet_goes_on_in_a_second_sheet(monkeypatch):
    from unionfunds import spreadsheets

    monkeypatch.setattr(spreadsheets, "MAX_SHEET_ROWS", 10)
    sheet = spreadsheets.Sheet(
        title="发放记录",
        columns=[spreadsheets.Column("编号", spreadsheets.INTEGER), spreadsheets.Column("金额", spreadsheets.MONEY)],
        rows=([n, n] for n in range(1, 21)),
        preamble=[("列表", "发放记录")],
        totals=["合计", 210],
    )
    book = openpyxl.load_workbook(spreadsheets.xlsx_file(sheet))
    first, second, third = (list(ws.iter_rows(values_only=True)) for ws in book.worksheets)
    assert book.sheetnames == ["发放记录", "发放记录 (2)", "发放记录 (3)"]
    assert first[2] == ("编号", "金额") and second[0] == third[0] == ("编号", "金额")
    numbers = [row[0] for rows in (first[3:], second[1:], third[1:]) for row in rows if isinstance(row[0], int)]
    assert numbers == list(range(1, 21))
    assert third[-1] == ("合计", 210)


@pytest.mark.django_db
def test_full_ids_cost_no_query_per_row(client, carol, qinghai_2022):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(carol)
    counts = []
    for query in ("", "?full_ids=1"):
        with CaptureQueriesContext(connection) as captured:
            b"".join(client.get(f"/disbursements/export.csv{query}").streaming_content)
        counts.append(len(captured))
    assert counts[0] == counts[1]
