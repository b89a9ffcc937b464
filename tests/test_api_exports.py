"""`?format=csv|xlsx` on every list and on the roll-up: the list's own filters,
every row rather than one page, Chinese headers, amounts as numbers, ID numbers
masked unless asked for and allowed, scoped like the JSON, and one line in the
export log per file."""

import csv
import datetime
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from allocations import services as money
from beneficiaries import services as people
from tests.api_helpers import API, client_for, codes
from tests.conftest import synthetic_id
from tests.factories import FundFactory
from tests.test_api_lists import HUNDRED, pay_list
from unionfunds.models import ExportRecord
from unionfunds.services import federation_create

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DAY = datetime.date(2022, 4, 20)


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_table(response) -> tuple[list[list[str]], list[str], list[list[str]], list[str]]:
    """(preamble, header, data rows, totals row) of an exported CSV."""
    text = content(response).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    blank = rows.index([])
    return rows[:blank], rows[blank + 1], rows[blank + 2 : -1], rows[-1]


def xlsx_table(response):
    """(worksheet, header, data rows, totals row) of an exported XLSX; the rows as values."""
    sheet = openpyxl.load_workbook(io.BytesIO(content(response))).active
    rows = list(sheet.iter_rows(values_only=True))
    blank = next(index for index, row in enumerate(rows) if all(value is None for value in row))
    return sheet, rows[blank + 1], rows[blank + 2 : -1], rows[-1]


def is_chinese(header) -> bool:
    return bool(header and re.search(r"[\u4e00-\u9fff]", header) and not re.search(r"[A-Za-z]", header))


# For each list: what to create (more rows than a page of 2, and some that the
# filter leaves out); each returns the filter and how many rows it matches.
def _disbursements(fund, tree, alice, bob):
    pay_list(fund, alice, 3, batch="第一批")
    pay_list(fund, alice, 2, start=10, batch="第二批")
    return {"batch": "第一批"}, 3


def _allocations(fund, tree, alice, bob):
    for amount in ("30", "10", "20"):
        money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount=amount, by=alice)
    approved = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="5", by=alice)
    money.movement_approve(movement=approved, by=bob)
    return {"status": "pending"}, 3


def _contributions(fund, tree, alice, bob):
    for _ in range(3):
        money.contribution_create(fund=fund, source="donation", amount="8", by=alice)
    return {"source": "donation"}, 3


def _funds(fund, tree, alice, bob):
    for year in (2021, 2022, 2023):
        FundFactory(federation=tree["chengzhong"], name=f"送温暖{year}", purpose="warmth", fiscal_year=year, by=alice)
    return {"purpose": "warmth"}, 3


def _beneficiaries(fund, tree, alice, bob):
    for n in range(3):
        people.beneficiary_register(
            name=f"劳模{n}",
            id_number=synthetic_id(20 + n),
            federation=tree["chengzhong"],
            categories=["model_worker"],
            by=alice,
        )
    people.beneficiary_register(name="李四", id_number=synthetic_id(30), federation=tree["chengzhong"], by=alice)
    return {"category": "model_worker"}, 3


def _units(fund, tree, alice, bob):
    for n in range(3):
        people.unit_create(name=f"医院{n}", kind="hospital", federation=tree["chengzhong"], by=alice)
    people.unit_create(name="建筑公司", kind="enterprise", federation=tree["chengzhong"], by=alice)
    return {"kind": "hospital"}, 3


def _federations(fund, tree, alice, bob):
    return {"level": "county"}, 3  # 城东区, 城中区, 城西区 (of 青海's seven)


LISTS = {
    "disbursements": _disbursements,
    "allocations": _allocations,
    "contributions": _contributions,
    "funds": _funds,
    "beneficiaries": _beneficiaries,
    "units": _units,
    "federations": _federations,
}


def sheet_key(resource: str, row) -> object:
    """Funds have no number column: they are known by their name."""
    return row[1] if resource == "funds" else int(row[0])


def json_key(resource: str, record: dict) -> object:
    return record["name"] if resource == "funds" else record["id"]


def every_page(client, resource: str, params: dict) -> list[dict]:
    records, response = [], client.get(API + f"{resource}/", params)
    while True:
        assert response.status_code == 200, response.content
        page = response.json()
        records += page["results"]
        if not page["next"]:
            return records
        response = client.get(page["next"])


@pytest.fixture
def setup(rich_fund, tree, alice, bob):
    def make(resource: str) -> tuple[dict, int]:
        return LISTS[resource](rich_fund, tree, alice, bob)

    return make


def sheet_request(resource: str, extension: str, door: str, params: dict) -> tuple[str, dict]:
    """The two doors to one sheet: the export operation the schema declares,
    and `?format=` on the list itself (curl, browsers)."""
    if door == "export":
        return API + f"{resource}/export/{extension}/", params
    return API + f"{resource}/", {**params, "format": extension}


DOORS = ["export", "format"]


@pytest.mark.django_db
@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("resource", list(LISTS))
def test_csv_has_every_filtered_row_with_chinese_headers(setup, carol, resource, door):
    params, expected = setup(resource)
    client = client_for(carol)
    first_page = client.get(API + f"{resource}/", {**params, "page_size": 2}).json()
    assert len(first_page["results"]) == 2 and first_page["next"]

    response = client.get(*sheet_request(resource, "csv", door, {**params, "page_size": 2}))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="{resource}-')
    preamble, header, rows, totals = csv_table(response)
    assert all(is_chinese(cell) for cell in header), header
    assert len(rows) == expected
    wanted = {json_key(resource, record) for record in every_page(client, resource, {**params, "page_size": 2})}
    assert {sheet_key(resource, row) for row in rows} == wanted
    assert f"行数: {expected}" in totals
    above = dict(row[:2] for row in preamble)
    assert above["导出人"] == "carol" and above["筛选条件"] != "无"
    logged = ExportRecord.objects.get()
    assert (logged.user, logged.what, logged.format, logged.row_count) == (carol, resource, "csv", expected)
    assert logged.filters == {key: str(value) for key, value in params.items()}


@pytest.mark.django_db
@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("resource", list(LISTS))
def test_xlsx_opens_with_numbers_for_amounts_and_the_row_count(setup, carol, resource, door):
    params, expected = setup(resource)
    response = client_for(carol).get(*sheet_request(resource, "xlsx", door, params))
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    sheet, header, rows, totals = xlsx_table(response)
    assert all(is_chinese(cell) for cell in header), header
    assert len(rows) == expected
    assert f"行数: {expected}" in totals
    amounts = [index for index, title in enumerate(header) if "（元）" in title]
    assert bool(amounts) == (resource not in ("beneficiaries", "units", "federations"))
    for index in amounts:
        assert all(isinstance(row[index], (int, float)) for row in rows)
        first = sheet.cell(row=sheet.max_row - expected, column=index + 1)
        assert (first.data_type, first.number_format) == ("n", "#,##0.00")


@pytest.mark.django_db
def test_the_totals_row_sums_the_approved_amounts_only(rich_fund, tree, alice, bob, carol):
    _allocations(rich_fund, tree, alice, bob)  # 30 + 10 + 20 pending, 5 approved
    response = client_for(carol).get(API + "allocations/", {"format": "xlsx", "ordering": "amount"})
    _, header, rows, totals = xlsx_table(response)
    amount = header.index("金额（元）")
    assert [row[amount] for row in rows] == [5, 10, 20, 30]  # `ordering` is the list's too
    assert totals[amount] == 5 and totals[amount - 1] == "合计（已批准，冲销已扣除）"


@pytest.mark.django_db
def test_id_numbers_are_masked_unless_asked_for_by_someone_allowed(worker, rich_fund, alice, bob):
    money.disbursement_create(fund=rich_fund, beneficiary=worker, assistance_type="living", amount="10", by=alice)
    masked = worker.id_number[:4] + "*" * 10 + worker.id_number[-4:]

    def id_numbers(user, resource: str, **params) -> set[str]:
        response = client_for(user).get(API + f"{resource}/", {"format": "xlsx", **params})
        _, header, rows, _ = xlsx_table(response)
        column = header.index("身份证号")
        return {row[column] for row in rows}

    for resource in ("beneficiaries", "disbursements"):
        assert id_numbers(alice, resource) == {masked}  # the clerk of 张三's federation, not asking
        assert id_numbers(alice, resource, full_ids=1) == {worker.id_number}
        assert id_numbers(alice, resource, full_ids="true") == {worker.id_number}
        assert id_numbers(bob, resource, full_ids=1) == {masked}  # an approver may not see them
    logged = ExportRecord.objects.order_by("at", "pk")
    assert [(r.user.username, r.what, r.full_id_numbers) for r in logged] == [
        ("alice", "beneficiaries", False),
        ("alice", "beneficiaries", True),
        ("alice", "beneficiaries", True),
        ("bob", "beneficiaries", True),
        ("alice", "disbursements", False),
        ("alice", "disbursements", True),
        ("alice", "disbursements", True),
        ("bob", "disbursements", True),
    ]


@pytest.mark.django_db
def test_each_export_is_logged_once_when_its_last_row_is_written(rich_fund, alice, carol):
    pay_list(rich_fund, alice, 3)
    response = client_for(carol).get(
        API + "disbursements/", {"format": "csv", "status": "pending", "page_size": 2, "cursor": ""}
    )
    assert not ExportRecord.objects.exists()  # nothing is written before the rows are
    content(response)
    logged = ExportRecord.objects.get()
    assert (logged.user, logged.what, logged.format, logged.row_count) == (carol, "disbursements", "csv", 3)
    assert (logged.filters, logged.full_id_numbers, logged.federation.code) == ({"status": "pending"}, False, "63")


@pytest.mark.django_db
def test_exports_are_scoped_like_the_json(rich_fund, alice, dave):
    pay_list(rich_fund, alice, 3)
    _, _, rows, totals = csv_table(client_for(dave).get(API + "disbursements/", {"format": "csv"}))
    assert rows == [] and "行数: 0" in totals


@pytest.mark.django_db
def test_accept_text_csv_works_and_json_stays_the_default(worker, alice):
    client = client_for(alice)
    as_csv = client.get(API + "beneficiaries/", HTTP_ACCEPT="text/csv")
    assert as_csv["Content-Type"] == "text/csv; charset=utf-8" and "Accept" in as_csv["Vary"]
    assert csv_table(as_csv)[2][0][1] == "张三"
    assert client.get(API + "beneficiaries/")["Content-Type"] == "application/json"
    assert client.get(API + "beneficiaries/", {"format": "json"}).json()["results"][0]["name"] == "张三"


@pytest.mark.django_db
def test_mistakes_are_answered_in_json(worker, alice, client):
    api = client_for(alice, language="en")
    unknown = api.get(API + "beneficiaries/", {"format": "pdf"})
    assert unknown.status_code == 404 and codes(unknown) == ["not_found"]
    bad_filter = api.get(API + "disbursements/", {"format": "xlsx", "fund": "abc"})
    assert bad_filter.status_code == 400 and bad_filter.json()["errors"][0]["field"] == "fund"
    for params in ({"format": "csv", "full_ids": "perhaps"}, {"full_ids": "perhaps"}):
        bad_flag = api.get(API + "beneficiaries/", params)
        assert bad_flag.status_code == 400 and bad_flag.json()["errors"][0]["field"] == "full_ids"
    assert api.trace(API + "units/?format=csv").status_code == 405  # not 404 for the format
    not_a_list = api.get(API + f"beneficiaries/{worker.pk}/", {"format": "csv"})
    assert not_a_list.status_code == 404  # only lists and the roll-up are spreadsheets
    anonymous = APIClient().get(API + "beneficiaries/", {"format": "csv"})
    assert anonymous.status_code == 401 and anonymous["Content-Type"] == "application/json"
    assert not ExportRecord.objects.exists()


MORE = {
    **HUNDRED,
    "federations": lambda fund, tree, alice: [
        federation_create(
            code=f"630103-G{n:02}", name=f"城中区第{n}工会", level="grassroots", parent=tree["chengzhong"]
        )
        for n in range(2, 102)
    ],
}


@pytest.mark.django_db
@pytest.mark.parametrize("resource", list(MORE))
def test_a_sheet_of_a_hundred_more_rows_costs_the_same_queries(rich_fund, tree, alice, carol, resource):
    pay_list(rich_fund, alice, 2, start=500)  # a person or two, so that prefetching runs both times

    client = client_for(carol)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            content(client.get(API + f"{resource}/", {"format": "csv"}))
        return len(captured)

    few = queries()
    MORE[resource](rich_fund, tree, alice)
    assert queries() == few


@pytest.mark.django_db
@pytest.mark.parametrize("door", DOORS)
def test_the_roll_up_xlsx_totals_are_the_json_figures(qinghai_2022, carol, tree, door):
    client = client_for(carol)
    url = f"{API}rollups/{tree['qinghai'].pk}/"
    figures = client.get(url, {"fiscal_year": 2022}).json()
    if door == "export":
        response = client.get(f"{url}export/xlsx/", {"fiscal_year": 2022})
    else:
        response = client.get(url, {"fiscal_year": 2022, "format": "xlsx"})
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    assert response["Content-Disposition"].startswith('attachment; filename="rollup-63-')
    _, header, rows, totals = xlsx_table(response)
    assert all(is_chinese(cell.split(": ")[-1]) for cell in header), header
    assert totals[0] == "合计" and [row[0] for row in rows] == ["本级", "西宁市总工会", "海东市总工会"]
    total = figures["total"]
    assert Decimal(str(totals[1])) == Decimal(total["raised"]["total"]) == Decimal("8040000")
    assert [Decimal(str(value)) for value in (totals[-5], totals[-4], totals[-1])] == [
        Decimal(total["allocated_out"]),
        Decimal(total["disbursed"]),
        Decimal(total["balance"]),
    ]
    assert (totals[-3], totals[-2]) == (total["person_times"], total["persons"])
    logged = ExportRecord.objects.get()
    assert (logged.what, logged.format, logged.federation, logged.row_count) == ("rollup", "xlsx", tree["qinghai"], 3)
    assert logged.filters == {"fiscal_year": "2022"}


@pytest.mark.django_db
def test_the_roll_up_csv_words_its_filters(qinghai_2022, carol, tree):
    response = client_for(carol).get(f"{API}rollups/{tree['xining'].pk}/", {"format": "csv", "purpose": "pandemic"})
    preamble, _, _, totals = csv_table(response)
    assert dict(row[:2] for row in preamble)["筛选条件"] == "用途: 疫情防控"
    assert totals[0] == "合计"


@pytest.mark.django_db
def test_a_roll_up_outside_the_subtree_is_404_as_a_spreadsheet_too(qinghai_2022, dave, tree):
    url = f"{API}rollups/{tree['qinghai'].pk}/"
    for extension in ("xlsx", "csv"):
        for response in (
            client_for(dave).get(url, {"format": extension}),
            client_for(dave).get(f"{url}export/{extension}/"),
        ):
            assert response.status_code == 404 and codes(response) == ["not_found"]
            assert response["Content-Type"] == "application/json"
    assert not ExportRecord.objects.exists()


@pytest.mark.django_db
def test_a_token_or_a_browser_session_may_export(rich_fund, alice, client):
    pay_list(rich_fund, alice, 2, date=DAY)
    token = Token.objects.create(user=alice).key
    with_token = APIClient().get(API + "disbursements/?format=xlsx", HTTP_AUTHORIZATION=f"Token {token}")
    assert with_token.status_code == 200 and len(xlsx_table(with_token)[2]) == 2
    client.force_login(alice)
    _, _, rows, _ = csv_table(client.get(API + "disbursements/", {"format": "csv"}))
    assert len(rows) == 2


@pytest.mark.django_db
def test_bulk_payments_export_with_their_batch(rich_fund, alice, bob, carol):
    paid = pay_list(rich_fund, alice, 3, batch="一线职工第二批")
    money.movements_approve(movements=paid, by=bob)
    response = client_for(carol).get(API + "disbursements/", {"format": "xlsx", "status": "approved"})
    _, header, rows, totals = xlsx_table(response)
    assert {row[header.index("批次")] for row in rows} == {"一线职工第二批"}
    assert totals[header.index("金额（元）")] == 300


@pytest.mark.django_db
def test_the_schema_declares_one_media_type_per_operation_and_spreadsheets_as_exports():
    """A generated client parses what the schema says an operation answers: a
    list answers JSON only, an export its one file; errors are JSON everywhere."""
    paths = APIClient().get(API + "schema/", {"format": "json"}).json()["paths"]
    lists = [f"/api/v1/{resource}/" for resource in LISTS] + ["/api/v1/rollups/{federation_id}/"]
    not_filters = {"page", "page_size", "cursor", "format", "Accept-Language", "federation_id", "full_ids"}
    for path in lists:
        get = paths[path]["get"]
        assert "format" not in {parameter["name"] for parameter in get["parameters"]}
        assert list(get["responses"]["200"]["content"]) == ["application/json"]
        filters = {parameter["name"] for parameter in get["parameters"]} - not_filters
        for extension, media_type in (("xlsx", XLSX), ("csv", "text/csv")):
            export = paths[f"{path}export/{extension}/"]["get"]
            parameters = {parameter["name"] for parameter in export["parameters"]}
            assert ("full_ids" in parameters) == ("rollups" not in path)
            assert parameters - not_filters == filters, path  # the list's filters and ordering, no paging
            assert not {"page", "page_size", "cursor", "format"} & parameters
            body = {"type": "string", "format": "binary"} if extension == "xlsx" else {"type": "string"}
            assert export["responses"]["200"]["content"] == {media_type: {"schema": body}}
            assert all(list(export["responses"][code]["content"]) == ["application/json"] for code in ("400", "404"))
    detail = paths["/api/v1/units/{id}/"]["get"]
    assert list(detail["responses"]["200"]["content"]) == ["application/json"]


@pytest.mark.django_db
def test_a_bad_filter_on_an_export_is_answered_in_json(rich_fund, carol):
    response = client_for(carol).get(API + "disbursements/export/xlsx/", {"status": "lost", "full_ids": "maybe"})
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert not ExportRecord.objects.exists()
