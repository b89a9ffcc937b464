"""The sheets a clerk has: .xls and .ods as LibreOffice, Excel and WPS save them,
and a 合计 row written as =SUM(...); and what a hostile one of those does.

The .xls and .ods in tests/data were saved by LibreOffice from the same list
(tests/data/make_sheets.py): three people, 1,800.50 yuan, a title above the
headers and a totals row that sums the amounts with a formula.
"""

import io
import pathlib
import struct
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from allocations.models import Disbursement
from tests.test_list_import import HEADERS, frontline_rows, upload, xlsx_bytes
from unionfunds import sheetreader
from unionfunds.models import Job

DATA = pathlib.Path(__file__).parent / "data"


def saved_list(extension: str) -> bytes:
    return (DATA / f"城中区名单.{extension}").read_bytes()


@pytest.mark.django_db
@pytest.mark.parametrize("extension", ["xls", "ods"])
def test_a_list_saved_as_xls_or_ods_is_previewed_and_written(alice_client, rich_fund, extension):
    job, location = upload(alice_client, rich_fund, saved_list(extension), name=f"城中区名单.{extension}")
    assert (job.state, job.problems) == (Job.State.PREVIEW, []), job.message
    assert (job.summary["rows"], job.summary["total"], job.summary["skipped_lines"]) == (3, "1800.50", [6])
    alice_client.post(f"{location}confirm/")
    paid = Disbursement.objects.filter(fund=rich_fund).order_by("amount")
    assert [(d.payee_name, d.amount) for d in paid] == [
        ("王五", Decimal("300.00")),
        ("李四", Decimal("500.50")),
        ("张三", Decimal("1000.00")),
    ]


@pytest.mark.django_db
def test_the_upload_page_offers_xls_and_ods(alice_client, rich_fund):
    page = alice_client.get("/disbursements/import/").content.decode()
    assert 'accept=".xlsx,.xls,.ods,.csv,.txt"' in page
    assert ".xls" in page and ".ods" in page


@pytest.mark.django_db
def test_a_sum_formula_in_the_totals_row_is_skipped_not_blocking(alice_client, rich_fund):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADERS)
    for row in frontline_rows(3):
        sheet.append(row)
    sheet.append(["合计", None, "=SUM(C2:C4)"])
    output = io.BytesIO()
    book.save(output)
    job, location = upload(alice_client, rich_fund, output.getvalue())
    assert (job.state, job.problems, job.summary["skipped_lines"]) == (Job.State.PREVIEW, [], [5])
    assert "录入全部 3 行" in alice_client.get(location).content.decode()


@pytest.mark.django_db
def test_a_formula_in_a_payment_row_still_blocks(alice_client, rich_fund):
    rows = frontline_rows(2)
    rows[1][2] = "=500*2"
    job, _location = upload(alice_client, rich_fund, xlsx_bytes(rows))
    assert [(p["line"], p["code"]) for p in job.problems] == [(3, "formula")]


def hostile_ods(rows_xml: str) -> bytes:
    """An .ods as a zip written by hand: what no program saves, but anyone can send."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", sheetreader.ODS_MIMETYPE.decode(), compress_type=zipfile.ZIP_STORED)
        namespace = "urn:oasis:names:tc:opendocument:xmlns"
        archive.writestr(
            "META-INF/manifest.xml",
            f'<?xml version="1.0"?><manifest:manifest xmlns:manifest="{namespace}:manifest:1.0">'
            f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{sheetreader.ODS_MIMETYPE.decode()}"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>",
        )
        archive.writestr(
            "content.xml",
            f'<?xml version="1.0"?><office:document-content xmlns:office="{namespace}:office:1.0"'
            f' xmlns:table="{namespace}:table:1.0" xmlns:text="{namespace}:text:1.0" office:version="1.2">'
            f'<office:body><office:spreadsheet><table:table table:name="S">{rows_xml}</table:table>'
            "</office:spreadsheet></office:body></office:document-content>",
        )
    return output.getvalue()


def repeated_cell(rows: int, columns: int) -> str:
    return (
        f'<table:table-row table:number-rows-repeated="{rows}"><table:table-cell table:number-columns-repeated='
        f'"{columns}" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>'
    )


def xls_with_a_far_cell() -> bytes:
    """The saved .xls with one number moved to row and column 65,535 (an RK
    record's row and column are plain 16-bit fields)."""
    content = bytearray(saved_list("xls"))
    record = content.find(b"\x7e\x02\x0a\x00")  # RK, 10 bytes: row, column, format, value
    assert record > 0
    content[record + 4 : record + 8] = struct.pack("<HH", 0xFFFE, 0xFFFE)
    return bytes(content)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # 1 KB that lays out to 400 million cells (50 GB): the reader's process
        # hits its memory cap, the worker goes on.
        (lambda: hostile_ods(repeated_cell(20_000, 20_000)), "无法作为电子表格读取"),
        (lambda: hostile_ods(repeated_cell(1, 2_000)), "单元格 BXX1 远在任何名单之外"),
        (lambda: hostile_ods(repeated_cell(1_100_000, 2)), "远在任何名单之外"),
        (xls_with_a_far_cell, "声称的单元格远超任何名单"),
        (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2000, "无法作为电子表格读取"),
        (lambda: hostile_ods("<table:table-row><table:table-cell>" * 3), "无法作为电子表格读取"),
    ],
    ids=["ods-50-gigabytes", "ods-wide", "ods-long", "xls-far-cell", "compound-file-junk", "ods-broken-xml"],
)
def test_a_hostile_xls_or_ods_fails_with_a_message_and_the_worker_goes_on(alice_client, rich_fund, content, expected):
    job, location = upload(alice_client, rich_fund, content(), name="名单.ods")
    assert job.state == Job.State.FAILED
    assert expected in job.message
    assert alice_client.get(location).status_code == 200
    # The same worker then reads the next list.
    job, _location = upload(alice_client, rich_fund, saved_list("ods"), name="城中区名单.ods")
    assert job.state == Job.State.PREVIEW
    assert Disbursement.objects.count() == 0


def test_an_xls_is_read_with_its_title_and_totals_lines_as_the_sheet_has_them():
    reading = sheetreader.read(saved_list("xls"))
    first_column = [line.cells[0].value for line in reading.lines]
    assert first_column == ["城中区困难职工慰问名单", "姓名", "张三", "李四", "王五", "合计"]
