"""The roll-up page a provincial auditor opens, drills down and clicks through."""

import re

import pytest


@pytest.fixture
def auditor_client(client, carol):
    client.force_login(carol)
    return client


@pytest.mark.django_db
def test_the_auditor_starts_at_the_province_with_totals_in_chinese(auditor_client, qinghai_2022):
    page = auditor_client.get("/rollup/?fiscal_year=2022").content.decode()
    assert "青海省总工会 资金汇总" in page
    assert "8,040,000.00" in page and "合计" in page and "本级" in page
    assert "西宁市总工会" in page and "<svg" in page


@pytest.mark.django_db
def test_amounts_switch_to_wan_yuan(auditor_client, qinghai_2022):
    page = auditor_client.get("/rollup/?fiscal_year=2022&unit=wan").content.decode()
    assert "804.00" in page and "金额单位：万元" in page


@pytest.mark.django_db
def test_drilling_down_keeps_the_filters_and_a_breadcrumb_back_up(auditor_client, qinghai_2022, tree):
    page = auditor_client.get(f"/rollup/{tree['xining'].pk}/?fiscal_year=2022").content.decode()
    assert f'href="/rollup/{tree["qinghai"].pk}/?fiscal_year=2022"' in page
    assert f'href="/rollup/{tree["chengzhong"].pk}/?fiscal_year=2022"' in page
    county = auditor_client.get(f"/rollup/{tree['chengzhong'].pk}/?fiscal_year=2022").content.decode()
    assert "3,000.00" in county


@pytest.mark.django_db
def test_a_figure_links_to_the_rows_that_make_it_up(auditor_client, qinghai_2022, tree):
    page = auditor_client.get(f"/rollup/{tree['chengzhong'].pk}/?fiscal_year=2022").content.decode()
    link = re.search(rf'href="(/rollup/{tree["chengzhong"].pk}/disbursed/\?[^"]*)"', page).group(1)
    rows = auditor_client.get(link.replace("&amp;", "&")).content.decode()
    assert rows.count("职工") >= 3
    assert "净额合计 3,000.00" in rows
    assert "6301**********" in rows  # ID numbers masked


@pytest.mark.django_db
def test_outside_the_subtree_is_404(client, tree, dave, qinghai_2022):
    client.force_login(dave)
    assert client.get(f"/rollup/{tree['chengzhong'].pk}/").status_code == 404
    assert client.get(f"/rollup/{tree['qinghai'].pk}/raised/").status_code == 404
    assert client.get(f"/rollup/{tree['chengdong'].pk}/").status_code == 200
    assert client.get(f"/rollup/{tree['chengdong'].pk}/nonsense/").status_code == 404


@pytest.mark.django_db
def test_signing_in_is_required(client, tree):
    assert client.get("/rollup/").status_code == 302


@pytest.mark.django_db
def test_the_roll_up_exports_to_xlsx_with_numbers_totals_and_filters(auditor_client, qinghai_2022, tree, carol):
    import io

    import openpyxl

    from unionfunds.models import ExportRecord

    response = auditor_client.get(f"/rollup/{tree['qinghai'].pk}/export.xlsx?fiscal_year=2022")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("工会组织", "青海省总工会")
    assert "年度: 2022" in rows[1][1]
    header = rows.index(next(r for r in rows if r and r[0] == "工会组织" and r[1] == "筹集（元）"))
    table = rows[header + 1 :]
    assert table[-1][0] == "合计"
    assert table[-1][1] == 8040000 and not isinstance(table[-1][1], str)
    total_cell = sheet.cell(row=len(rows), column=2)
    assert (total_cell.data_type, total_cell.number_format, total_cell.font.b) == ("n", "#,##0.00", True)
    assert [r[0] for r in table[:2]] == ["本级", "西宁市总工会"]
    logged = ExportRecord.objects.get()
    assert (logged.user, logged.what, logged.format, logged.federation) == (carol, "rollup", "xlsx", tree["qinghai"])
    assert (logged.filters, logged.row_count) == ({"fiscal_year": "2022"}, len(table) - 1)


@pytest.mark.django_db
def test_the_roll_up_exports_to_csv_that_excel_reads_as_utf8(auditor_client, qinghai_2022, tree):
    response = auditor_client.get(f"/rollup/{tree['qinghai'].pk}/export.csv")
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    assert "合计,8040000.00," in text
    assert auditor_client.get(f"/rollup/{tree['qinghai'].pk}/export.pdf").status_code == 404


@pytest.mark.django_db
def test_exports_are_scoped_like_the_page(client, dave, tree, qinghai_2022):
    client.force_login(dave)
    assert client.get(f"/rollup/{tree['qinghai'].pk}/export.xlsx").status_code == 404


def test_text_cells_never_run_as_formulas():
    from unionfunds.spreadsheets import safe_text

    assert [safe_text(v) for v in ("=1+1", "+86", "-5", "@SUM(A1)", "\tx", "正常")] == [
        "'=1+1",
        "'+86",
        "'-5",
        "'@SUM(A1)",
        "'\tx",
        "正常",
    ]
