"""The roll-up page a provincial auditor opens, drills down and clicks through."""

import re

import pytest


@pytest.fixture
def auditor_client(client, carol):
    client.force_login(carol)
    return client


@pytest.mark.django_db
def test_the_auditor_starts_at_the_province_with_totals_in_chinese(auditor_client, qinghai_2022):
    page = auditor_client.get("/rollup/").content.decode()
    assert "青海省总工会 资金汇总" in page
    assert "8,040,000.00" in page and "合计" in page and "本级" in page
    assert "西宁市总工会" in page and "<svg" in page


@pytest.mark.django_db
def test_amounts_switch_to_wan_yuan(auditor_client, qinghai_2022):
    page = auditor_client.get("/rollup/?unit=wan").content.decode()
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
    page = auditor_client.get(f"/rollup/{tree['chengzhong'].pk}/").content.decode()
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
