"""The files an auditor takes away, as they open them: the amount unit stated
and honoured (万元 exactly), the header row frozen and filterable, the rows
behind a roll-up figure exportable, names that say whose figures and which
period, and a word in the file when full ID numbers were asked for in vain."""

import csv
import datetime
import io
import re
from decimal import Decimal
from urllib.parse import unquote

import openpyxl
import pytest
import tablib

from tests.api_helpers import API, client_for
from tests.conftest import member
from tests.factories import approved_contribution
from unionfunds import downloads, listexports
from unionfunds.models import ExportRecord, Federation, Job, Role

TODAY = f"{datetime.date.today():%Y-%m-%d}"
REFUSED = "已遮盖：您申请了完整身份证号，但完整号码只提供给经办人和审计人员"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def workbook(response) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(body(response)))


def csv_rows(response) -> list[list[str]]:
    text = body(response).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def saved_as(response) -> tuple[str, str]:
    """(the name a browser saves the file as, the plain ASCII fallback), from Content-Disposition."""
    header = response["Content-Disposition"]
    assert header.isascii() and "\n" not in header and "\r" not in header, header
    assert header.startswith("attachment; ")
    fallback = re.search(r'filename="([^"\\]*)"', header).group(1)
    encoded = re.search(r"filename\*=UTF-8''([^;\s]+)", header)
    return (unquote(encoded.group(1), errors="strict") if encoded else fallback), fallback


def header_row(sheet, first: str) -> int:
    """The 1-based row number of the table's header: the first row that starts
    with `first` and goes on past two cells (preamble lines hold two)."""
    return next(row[0].row for row in sheet.iter_rows() if row[0].value == first and row[2].value)


@pytest.fixture
def auditor(client, carol):
    client.force_login(carol)
    return client


# 1. The roll-up's unit -------------------------------------------------------------


@pytest.mark.django_db
def test_the_roll_up_in_wan_keeps_every_fen_in_xlsx(auditor, qinghai_2022, tree, clerk, approver):
    approved_contribution(qinghai_2022["province"], "1.23", by=clerk, approver=approver, date=datetime.date(2022, 6, 1))
    response = auditor.get(f"/rollup/{tree['qinghai'].pk}/export.xlsx", {"fiscal_year": 2022, "unit": "wan"})
    sheet = workbook(response).active
    head = header_row(sheet, "工会组织")
    rows = list(sheet.iter_rows(values_only=True))
    assert ("金额单位", "万元") in [row[:2] for row in rows[: head - 1]]
    header = rows[head - 1]
    assert header[1] == "筹集（万元）" and header[-1] == "余额（万元）"
    assert "人次" in header and "人次（万元）" not in header  # counts are no amounts
    totals = rows[-1]
    assert totals[0] == "合计"
    assert Decimal(str(totals[1])) == Decimal("804.000123")  # 8,040,001.23 元: the 1.23 is still there
    cell = sheet.cell(row=len(rows), column=2)
    assert cell.number_format == "#,##0.00####"  # 804.000123 shown whole, 260.00 as 260.00
    assert sheet.freeze_panes == f"A{head + 1}"
    assert sheet.auto_filter.ref == f"A{head}:{openpyxl.utils.get_column_letter(len(header))}{len(rows) - 1}"
    assert "万元" in sheet.oddHeader.center.text and "金额单位：元" not in sheet.oddHeader.center.text


@pytest.mark.django_db
def test_the_roll_up_csv_in_wan_has_one_header_row_naming_its_unit(auditor, qinghai_2022, tree):
    response = auditor.get(f"/rollup/{tree['qinghai'].pk}/export.csv", {"fiscal_year": 2022, "unit": "wan"})
    rows = csv_rows(response)
    blank = rows.index([])
    preamble, header, table = rows[:blank], rows[blank + 1], rows[blank + 2 :]
    assert ["金额单位", "万元"] in preamble
    assert all(name.endswith("（万元）") for name in header[1:] if name not in ("人次", "人数")), header
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in table}
    assert by_name["合计"]["筹集（万元）"] == "804.00"
    assert by_name["西宁市总工会"]["发放（万元）"] == "0.50"  # 5,000 元
    assert by_name["合计"]["人次"] == "4"
    assert saved_as(response)[0] == "青海省总工会_资金汇总_2022年度.csv"


@pytest.mark.django_db
def test_a_roll_up_in_yuan_says_so_too(auditor, qinghai_2022, tree):
    rows = csv_rows(auditor.get(f"/rollup/{tree['qinghai'].pk}/export.csv"))
    blank = rows.index([])
    assert ["金额单位", "元"] in rows[:blank]
    assert rows[blank + 1][1] == "筹集（元）"
    assert rows[-1][:2] == ["合计", "8040000.00"]


@pytest.mark.django_db
def test_the_api_roll_up_export_takes_the_unit_too(qinghai_2022, carol, tree):
    response = client_for(carol).get(f"{API}rollups/{tree['qinghai'].pk}/export/csv/", {"unit": "wan"})
    assert response.status_code == 200
    rows = csv_rows(response)
    assert rows[-1][:2] == ["合计", "804.00"]
    name, fallback = saved_as(response)
    assert name == f"青海省总工会_资金汇总_截至{TODAY}.csv" and fallback.startswith("rollup-63-")


# 2. The rows behind a figure -------------------------------------------------------


@pytest.mark.django_db
def test_the_rows_behind_a_figure_export_to_xlsx_like_the_page(auditor, qinghai_2022, tree, carol):
    url = f"/rollup/{tree['xining'].pk}/disbursed/disbursements/export.xlsx"
    response = auditor.get(url, {"fiscal_year": 2022})
    assert response.status_code == 200
    sheet = workbook(response).active
    head = header_row(sheet, "编号")
    rows = list(sheet.iter_rows(values_only=True))
    preamble, header, table, totals = rows[: head - 1], rows[head - 1], rows[head:-1], rows[-1]
    assert ("工会组织", "西宁市总工会") in [row[:2] for row in preamble]
    assert ("汇总指标", "发放") in [row[:2] for row in preamble]
    assert len(table) == 4 and totals[1] == "行数: 4"
    amount = header.index("金额（元）")
    assert sum(Decimal(str(row[amount])) for row in table) == Decimal("5000")
    numbers = {person.id_number for person in qinghai_2022["workers"]}
    ids = [row[header.index("身份证号")] for row in table]
    assert all(number.count("*") == 10 for number in ids) and not set(ids) & numbers
    assert sheet.freeze_panes == f"A{head + 1}" and sheet.auto_filter.ref.startswith(f"A{head}:")
    logged = ExportRecord.objects.get()
    assert (logged.user, logged.what, logged.format, logged.federation, logged.row_count) == (
        carol,
        "rollup.disbursements",
        "xlsx",
        tree["xining"],
        4,
    )
    assert logged.filters == {"fiscal_year": "2022", "figure": "disbursed"}
    assert saved_as(response)[0] == "西宁市总工会_发放_资金发放_2022年度.xlsx"


@pytest.mark.django_db
def test_the_rows_behind_a_figure_export_to_csv_within_the_same_scope(client, auditor, qinghai_2022, tree, dave):
    raised = auditor.get(f"/rollup/{tree['qinghai'].pk}/raised/contributions/export.csv")
    rows = csv_rows(raised)
    blank = rows.index([])
    table = rows[blank + 2 : -1]
    assert sorted(row[rows[blank + 1].index("金额（元）")] for row in table) == [
        "1830000.00",
        "2600000.00",
        "3610000.00",
    ]
    own = csv_rows(auditor.get(f"/rollup/{tree['xining'].pk}/disbursed/disbursements/export.csv?own=1"))
    assert own[-1][1] == "行数: 0"  # 西宁's own funds paid no one: the county funds did
    # A figure without such rows, and a federation outside one's subtree, are not found.
    assert auditor.get(f"/rollup/{tree['qinghai'].pk}/disbursed/funds/export.csv").status_code == 404
    assert auditor.get(f"/rollup/{tree['qinghai'].pk}/disbursed/disbursements/export.pdf").status_code == 404
    client.force_login(dave)  # 城东区: 西宁 is above him
    assert client.get(f"/rollup/{tree['xining'].pk}/disbursed/disbursements/export.csv").status_code == 404
    assert client.get(f"/rollup/{tree['chengdong'].pk}/disbursed/disbursements/export.csv").status_code == 200


@pytest.mark.django_db
def test_the_rows_behind_page_links_to_their_exports(auditor, qinghai_2022, tree):
    page = auditor.get(f"/rollup/{tree['xining'].pk}/disbursed/", {"fiscal_year": 2022, "own": "1"})
    html = page.content.decode()
    base = f"/rollup/{tree['xining'].pk}/disbursed/disbursements/export"
    assert f'href="{base}.xlsx?fiscal_year=2022&amp;own=1"' in html
    assert f'href="{base}.csv?fiscal_year=2022&amp;own=1"' in html
    assert f'href="{base}.xlsx?fiscal_year=2022&amp;own=1&amp;full_ids=1"' in html


@pytest.mark.django_db
def test_a_clerk_gets_full_numbers_behind_a_figure_only_on_request(client, tree, qinghai_2022):
    alice = member("alice", tree["chengzhong"], Role.CLERK)
    client.force_login(alice)
    url = f"/rollup/{tree['chengzhong'].pk}/disbursed/disbursements/export.csv"
    numbers = {person.id_number for person in qinghai_2022["workers"]}
    masked = body(client.get(url)).decode("utf-8-sig")
    full = body(client.get(url, {"full_ids": "1"})).decode("utf-8-sig")
    assert not any(number in masked for number in numbers)
    assert all(number in full for number in numbers)
    assert [r.full_id_numbers for r in ExportRecord.objects.order_by("pk")] == [False, True]


# 3. Frozen, filterable headers everywhere ------------------------------------------


@pytest.mark.django_db
def test_every_list_export_freezes_and_filters_its_header(auditor, qinghai_2022):
    for kind in ("funds", "contributions", "allocations", "disbursements", "beneficiaries"):
        sheet = workbook(auditor.get(f"/{kind}/export.xlsx")).active
        head = header_row(sheet, "编号" if kind != "funds" else "工会组织")
        last = sheet.max_row - 1  # the totals row stays out of the filter
        assert sheet.freeze_panes == f"A{head + 1}", kind
        assert sheet.auto_filter.ref == f"A{head}:{openpyxl.utils.get_column_letter(sheet.max_column)}{last}", kind


@pytest.mark.django_db
def test_the_list_template_freezes_and_filters_its_header(alice_client):
    response = alice_client.get("/disbursements/import/template.xlsx")
    sheet = workbook(response)["发放名单"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(sheet.max_column)}1"


def test_the_admin_xlsx_freezes_and_filters_its_header():
    from unionfunds.resources import XLSX

    dataset = tablib.Dataset(["63", "青海省总工会"], ["6301", "西宁市总工会"], headers=["代码", "名称"])
    sheet = openpyxl.load_workbook(io.BytesIO(XLSX().export_data(dataset))).active
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:B3"


# 4. and 5. File names --------------------------------------------------------------


@pytest.mark.django_db
def test_file_names_say_whose_figures_and_which_period(auditor, qinghai_2022, tree):
    rollup = f"/rollup/{tree['qinghai'].pk}/export.xlsx"
    cases = [
        (rollup, {"fiscal_year": 2022}, "青海省总工会_资金汇总_2022年度.xlsx", "rollup-63-"),
        (
            rollup,
            {"date_from": "2022-01-01", "date_to": "2022-12-31"},
            "青海省总工会_资金汇总_2022-01-01至2022-12-31.xlsx",
            "rollup-63-",
        ),
        (rollup, {}, f"青海省总工会_资金汇总_截至{TODAY}.xlsx", "rollup-63-"),
        ("/disbursements/export.csv", {"fiscal_year": 2022}, "青海省总工会_资金发放_2022年度.csv", "disbursements-"),
        ("/funds/export.xlsx", {"date_to": "2022-06-30"}, f"青海省总工会_专项资金_截至{TODAY}.xlsx", "funds-"),
    ]
    for url, query, name, fallback in cases:
        saved, plain = saved_as(auditor.get(url, query))
        assert saved == name, url
        assert plain.startswith(fallback) and plain.isascii(), plain


@pytest.mark.django_db
def test_a_long_export_downloads_under_its_chinese_name(auditor, qinghai_2022, settings):
    settings.UNIONFUNDS_EXPORT_INLINE_ROWS = 2
    response = auditor.get("/disbursements/export.csv", {"fiscal_year": 2022})
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/" and job.state == Job.State.DONE
    download = auditor.get(f"/jobs/{job.pk}/download/")
    assert saved_as(download) == ("青海省总工会_资金发放_2022年度.csv", job.params["fallback"])
    assert job.params["fallback"].startswith("disbursements-")


@pytest.mark.django_db
@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_the_list_template_downloads_under_its_chinese_name(alice_client, extension):
    response = alice_client.get(f"/disbursements/import/template.{extension}")
    assert saved_as(response) == (f"发放名单模板.{extension}", f"disbursement-list-template.{extension}")


@pytest.mark.django_db
def test_a_hostile_federation_name_cannot_break_the_header_or_the_path(auditor, qinghai_2022, tree):
    Federation.objects.filter(pk=tree["qinghai"].pk).update(
        name='../青海/省\\总:工*会?"<>|\x01\x07\r\n 2'
    )  # PostgreSQL keeps no NUL
    for extension in ("xlsx", "csv"):
        response = auditor.get(f"/rollup/{tree['qinghai'].pk}/export.{extension}", {"fiscal_year": 2022})
        assert response.status_code == 200
        name, fallback = saved_as(response)
        assert name == f"青海_省_总_工_会_____ 2_资金汇总_2022年度.{extension}"
        assert not re.search(r'[/\\:*?"<>|\x00-\x1f]', name) and not name.startswith(".")
        assert fallback.startswith("rollup-63-")
        body(response)


def test_safe_filename_leaves_a_name_however_little_is_left():
    assert downloads.safe_filename("青海省总工会_汇总.xlsx") == "青海省总工会_汇总.xlsx"
    assert downloads.safe_filename('a/b\\c:d*e?f"g<h>i|j\u202ek\u200b.csv') == "a_b_c_d_e_f_g_h_i_jk.csv"
    assert downloads.safe_filename("..") == "export"
    assert downloads.safe_filename("\x00\x01", fallback="发放") == "发放"
    assert len(downloads.safe_filename("工" * 500 + ".xlsx")) == downloads.NAME_LIMIT + len(".xlsx")
    assert downloads.export_filename("../..", "汇总", "", extension="csv") == "汇总.csv"


# 6. Full ID numbers asked for by a role that may not have them ---------------------


@pytest.mark.django_db
def test_an_approver_asking_for_full_numbers_is_told_why_they_are_masked(client, tree, qinghai_2022, bob):
    client.force_login(bob)
    numbers = {person.id_number for person in qinghai_2022["workers"]}
    sheet = workbook(client.get("/disbursements/export.xlsx", {"full_ids": "1"})).active
    cells = [cell for row in sheet.iter_rows(values_only=True) for cell in row if isinstance(cell, str)]
    note = next(row[1] for row in sheet.iter_rows(values_only=True) if row[0] == "身份证号码")
    assert note.startswith(REFUSED) and "经办人或审计人员导出" in note
    assert not set(cells) & numbers
    rows = csv_rows(client.get("/beneficiaries/export.csv", {"full_ids": "1"}))
    assert dict(row[:2] for row in rows[: rows.index([])])["身份证号码"].startswith(REFUSED)
    # Asked for without being asked for, nothing needs saying.
    plain = workbook(client.get("/disbursements/export.xlsx")).active
    assert next(row[1] for row in plain.iter_rows(values_only=True) if row[0] == "身份证号码") == "已脱敏"


@pytest.mark.django_db
def test_a_clerk_asking_for_full_numbers_gets_them_without_the_note(alice_client, qinghai_2022):
    sheet = workbook(alice_client.get("/disbursements/export.xlsx", {"full_ids": "1"})).active
    assert next(row[1] for row in sheet.iter_rows(values_only=True) if row[0] == "身份证号码") == "按权限显示完整号码"


@pytest.mark.django_db
def test_a_long_export_says_on_its_page_why_the_numbers_are_masked(client, tree, qinghai_2022, bob, settings):
    settings.UNIONFUNDS_EXPORT_INLINE_ROWS = 1
    client.force_login(bob)
    response = client.get("/disbursements/export.xlsx", {"full_ids": "1"})
    job = Job.objects.get()
    assert job.state == Job.State.DONE and job.message.startswith(REFUSED)
    assert REFUSED in client.get(response["Location"]).content.decode()


@pytest.mark.django_db
def test_the_api_says_it_in_the_file_too(tree, qinghai_2022, bob):
    response = client_for(bob).get(f"{API}disbursements/export/csv/", {"full_ids": "true"})
    rows = csv_rows(response)
    assert dict(row[:2] for row in rows[: rows.index([])])["身份证号码"].startswith(REFUSED)
    assert listexports.full_ids_refused("disbursements", bob, True)
    assert not listexports.full_ids_refused("funds", bob, True)  # no ID numbers there to refuse


@pytest.mark.django_db
def test_the_rows_behind_export_of_all_years_keeps_the_other_filters(auditor, qinghai_2022, tree):
    """The roll-up page's links say fiscal_year=all for all years; the export reads
    it as the page does, not as a bad year that drops every filter."""
    base = f"/rollup/{tree['qinghai'].pk}/raised/contributions/export.csv"
    assert csv_rows(auditor.get(base, {"fiscal_year": "all"}))[-1][1] == "行数: 3"
    later = csv_rows(auditor.get(base, {"fiscal_year": "all", "date_from": "2022-04-02"}))
    assert later[-1][1] == "行数: 0"
