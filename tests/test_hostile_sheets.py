"""Tiny sheets that claim a huge range: refused within a second and in bounded
memory by both readers (calamine, and openpyxl for sheets with formulas), at
both doors that read uploads (the list import and the admin's import), naming
the cell; the worker lives on and reads the next list."""

import io
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from allocations.models import Disbursement
from beneficiaries.models import Unit
from tests.test_list_import import frontline_rows, upload, xlsx_bytes
from unionfunds import sheetreader
from unionfunds.models import Job

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clerk_client(client, alice):
    client.force_login(alice)
    return client


def with_cells(content: bytes, cells: str, *, dimension: str | None = None, formula: bool = False) -> bytes:
    """`content` (an XLSX) with raw XML `cells` added as a last row, its
    <dimension> changed, and a formula put in its first data row, as a hostile
    file is written: by hand, in a few kilobytes."""
    original, hostile = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in original.infolist():
            data = original.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", cells.encode() + b"</sheetData>")
                if dimension:
                    start = data.index(b"<dimension ref=")
                    end = data.index(b"/>", start) + 2
                    data = data[:start] + f'<dimension ref="{dimension}"/>'.encode() + data[end:]
                if formula:
                    data = data.replace(b'</row><row r="3">', b'<c r="J2"><f>1+1</f><v>2</v></c></row><row r="3">', 1)
            archive.writestr(member, data)
    return hostile.getvalue()


def far_row(reference: str, *, quote: str = '"', spaced: bool = False) -> str:
    row = "".join(ch for ch in reference if ch.isdigit())
    equals = " = " if spaced else "="
    return f'<row r="{row}"><c r{equals}{quote}{reference}{quote} t="inlineStr"><is><t>x</t></is></c></row>'


def a_list() -> bytes:
    return xlsx_bytes(frontline_rows(3))


def lines_of(content: bytes, **kwargs) -> list[sheetreader.Line]:
    return list(sheetreader.read(content, **kwargs).lines)


@pytest.mark.parametrize(
    ("cells", "named"),
    [
        (far_row("XFD20000"), "XFD20000"),
        (far_row("XFD1048576"), "XFD1048576"),
        (far_row("BM5"), "BM5"),
        (far_row("ZZ7", quote="'"), "ZZ7"),
        (far_row("AAA9", spaced=True), "AAA9"),
        (far_row("A900000"), "A900000"),
    ],
    ids=["XFD20000", "last-cell", "column-65", "single-quoted", "spaced", "far-row"],
)
@pytest.mark.parametrize("formula", [False, True], ids=["calamine", "openpyxl"])
def test_a_cell_far_outside_any_list_is_refused_and_named(cells, named, formula):
    content = with_cells(a_list(), cells, dimension="A1:XFD1048576", formula=formula)
    assert len(content) < 10_000
    with pytest.raises(sheetreader.SheetError, match=named):
        lines_of(content, max_rows=100_004)


def test_the_last_column_and_row_a_list_may_use_are_read():
    content = with_cells(a_list(), far_row("BL100004"))
    lines = lines_of(content, max_rows=100_004)
    assert lines[-1].number == 100_004
    assert lines[-1].cells[63].value == "x"


def test_a_dimension_that_claims_the_whole_sheet_does_not_pad_the_rows():
    """openpyxl (the formula path) pads each row to the claimed width: 16,384
    cells a row. The rows come as the file holds them."""
    content = with_cells(a_list(), "", dimension="A1:XFD1048576", formula=True)
    lines = lines_of(content)
    assert [line.number for line in lines] == [1, 2, 3, 4]
    assert max(len(line.cells) for line in lines) <= 26
    assert lines[1].cells[9].formula


def test_the_reader_stays_small_on_the_file_that_aborted_the_worker():
    """In a process allowed 1.5 GB: the 5 KB file that made calamine ask for
    549,755,813,888 bytes (and abort the process) is refused with its message."""
    path = ROOT / ".pytest-hostile.xlsx"
    path.write_bytes(with_cells(a_list(), far_row("XFD1048576"), dimension="A1:XFD1048576"))
    try:
        script = textwrap.dedent(
            f"""
            import os, resource, sys
            sys.path.insert(0, {str(ROOT)!r})
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "unionfunds.settings")
            os.environ.setdefault("UNIONFUNDS_TESTING", "1")
            import django
            django.setup()
            resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
            from unionfunds import sheetreader
            try:
                list(sheetreader.read(open({str(path)!r}, "rb").read()).lines)
            except sheetreader.SheetError as error:
                print("refused:", error)
            """
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    finally:
        path.unlink()
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused:" in done.stdout and "XFD1048576" in done.stdout


@pytest.mark.django_db
def test_the_import_job_fails_naming_the_cell_and_the_next_list_is_read(clerk_client, rich_fund):
    hostile = with_cells(a_list(), far_row("XFD20000"), dimension="A1:XFD20000")
    job, location = upload(clerk_client, rich_fund, hostile)
    assert job.state == Job.State.FAILED
    assert "XFD20000" in job.message and "BL" in job.message
    assert "XFD20000" in clerk_client.get(location).content.decode()
    assert Disbursement.objects.count() == 0
    job, _ = upload(clerk_client, rich_fund, a_list())
    assert job.state == Job.State.PREVIEW, job.message


@pytest.mark.django_db
def test_the_admin_import_refuses_the_far_cell_too(client, tree, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(admin)
    book = openpyxl.Workbook()
    book.active.append(["name", "kind", "federation"])
    book.active.append(["城中区人民医院", "hospital", "630103"])
    output = io.BytesIO()
    book.save(output)
    hostile = zipfile.ZipFile(io.BytesIO(output.getvalue()))
    rewritten = io.BytesIO()
    with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in hostile.infolist():
            data = hostile.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", far_row("XFD20000").encode() + b"</sheetData>")
            archive.writestr(member, data)
    response = client.post(
        "/admin/beneficiaries/unit/import/",
        {"format": "1", "resource": "0", "import_file": SimpleUploadedFile("units.xlsx", rewritten.getvalue())},
    )
    assert response.status_code == 200
    assert "XFD20000" in response.content.decode()
    assert not Unit.objects.exists()
    # A CSV in neither encoding Excel saves is refused for that, not for the reader's exception.
    response = client.post(
        "/admin/beneficiaries/unit/import/",
        {"format": "0", "resource": "0", "import_file": SimpleUploadedFile("units.csv", "名称".encode("utf-16"))},
    )
    page = response.content.decode()
    assert "既不是 UTF-8 也不是 GBK" in page and "SheetError" not in page
