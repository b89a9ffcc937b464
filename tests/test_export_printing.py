"""What the users' own tools make of an export (DOMAIN.md): a CSV opened by
double-click keeps ID numbers and phones as text, and an XLSX prints as an
audit document. The LibreOffice checks need soffice (scripts/ensure-libreoffice):
skipped with the reason where it is missing, failed under CI=true."""

import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pytest

from unionfunds import spreadsheets
from unionfunds.spreadsheets import IDENTIFIER, INTEGER, MONEY, TEXT, Column, Sheet

SOFFICE = shutil.which("soffice")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def needs(tool: str | None, name: str) -> str:
    if tool is None:
        reason = f"{name} not found; as root run scripts/ensure-libreoffice"
        if in_ci():
            pytest.fail(f"{reason} (CI=true: may not be skipped)", pytrace=False)
        pytest.skip(reason)
    return tool


def convert(path: Path, to: str) -> Path:
    """`path` converted by LibreOffice headless, with a private profile so that parallel runs do not clash."""
    profile = tempfile.mkdtemp(prefix="unionfunds-soffice-")
    try:
        subprocess.run(
            [
                needs(SOFFICE, "soffice"),
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                to,
                "--outdir",
                str(path.parent),
                str(path),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return path.with_suffix("." + to.split(":")[0])


def people_sheet(count: int) -> Sheet:
    return Sheet(
        title="发放记录",
        columns=[
            Column("编号", INTEGER, 9),
            Column("姓名", TEXT, 12),
            Column("身份证号", IDENTIFIER, 21),
            Column("联系电话", IDENTIFIER, 14),
            Column("工作单位", TEXT, 30),
            Column("工会组织", TEXT, 30),
            Column("金额(元)", MONEY, 14),
            Column("备注", TEXT, 24),
        ],
        rows=[
            [
                n,
                f"职工{n:04d}",
                f"630103{19660403 + n:08d}{n % 10000:04d}",
                f"0971{n:07d}",
                "西宁某厂",
                "城中区总工会",
                f"{n}.50",
                "=1+1" if n == 1 else "",
            ]
            for n in range(1, count + 1)
        ],
        preamble=[("列表", "发放记录")],
        totals=["", "合计", "", "", "", "", "0", ""],
        federation="青海省总工会",
        filters="年度: 2022",
    )


def test_a_csv_keeps_id_numbers_and_phones_as_text_in_libreoffice(tmp_path):
    path = tmp_path / "paid.csv"
    path.write_text("".join(spreadsheets.csv_lines(people_sheet(200))), encoding="utf-8")
    book = openpyxl.load_workbook(convert(path, "xlsx"), data_only=True)
    rows = [row for row in book.active.iter_rows(values_only=True) if isinstance(row[0], int)]
    assert len(rows) == 200
    for n, row in enumerate(rows, start=1):
        assert (row[2], row[3]) == (f"630103{19660403 + n:08d}{n % 10000:04d}", f"0971{n:07d}")
    assert rows[0][7] == "'=1+1"  # still no formula where a user typed one


def test_an_xlsx_carries_a_page_set_up_for_printing():
    book = openpyxl.load_workbook(spreadsheets.xlsx_file(people_sheet(3)))
    sheet = book.active
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    setup = sheet.page_setup
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and setup.fitToWidth in (None, 1) and setup.fitToHeight == 0
    assert sheet.print_title_rows == "$3:$3"
    assert sheet.freeze_panes == "A4" and sheet.auto_filter.ref == "A3:H6"
    header = zipfile.ZipFile(spreadsheets.xlsx_file(people_sheet(3))).read("xl/worksheets/sheet1.xml").decode()
    assert "青海省总工会 发放记录" in header and "年度: 2022" in header and "元" in header
    assert sheet.oddFooter.center.text == "第 &P 页 共 &N 页"


def test_a_printed_list_has_its_header_on_every_page_and_names_beside_amounts(tmp_path):
    needs(shutil.which("pdftotext"), "pdftotext")
    path = tmp_path / "paid.xlsx"
    path.write_bytes(spreadsheets.xlsx_file(people_sheet(1000)).read())
    pdf = convert(path, "pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    pages = [page for page in text.split("\f") if page.strip()]
    assert len(pages) > 10
    for page in pages:
        assert "身份证号" in page and "金额(元)" in page
    for n in (1, 500, 1000):
        line = next(line for line in text.splitlines() if f"职工{n:04d}" in line)
        assert f"{n}.50" in line  # the amount on the name's own line, so on its page


@pytest.mark.django_db
def test_a_printed_roll_up_is_one_page_wide_with_names_beside_their_figures(tmp_path, qinghai_2022, carol, tree):
    """The roll-up as an auditor downloads it (the API's export): it once spread
    over four A4 pages with the federation names on the first only."""
    from tests.api_helpers import API, client_for

    needs(shutil.which("pdftotext"), "pdftotext")
    response = client_for(carol).get(f"{API}rollups/{tree['qinghai'].pk}/export/xlsx/", {"fiscal_year": 2022})
    assert response.status_code == 200
    path = tmp_path / "rollup.xlsx"
    path.write_bytes(b"".join(response.streaming_content) if response.streaming else response.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(convert(path, "pdf")), "-"], check=True, capture_output=True, text=True
    ).stdout
    pages = [page for page in text.split("\f") if page.strip()]
    assert len(pages) == 1, f"{len(pages)} pages"
    for name, raised in (("西宁市总工会", "5,640,000.00"), ("合计", "8,040,000.00")):
        line = next(line for line in text.splitlines() if line.strip().startswith(name))
        assert raised in line, line  # the figures on the name's own line
    assert "青海省总工会" in text and "元" in text
