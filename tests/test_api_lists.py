"""Lists: filters, ordering, pagination (cursor for disbursements: no COUNT(*)),
a constant number of queries per page, and ID numbers masked unless allowed."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations import lists
from allocations import services as money
from beneficiaries import services as people
from tests.api_helpers import API, client_for
from tests.conftest import synthetic_id
from unionfunds.models import AuditEvent

DAY = datetime.date(2022, 4, 20)


def pay_list(fund, by, count: int, *, start: int = 0, batch: str = "第一批", date=DAY, kind="pandemic_subsidy"):
    rows = [
        lists.ListRow(name=f"职工{n}", id_number=synthetic_id(n), amount="100.00", categories=["hard_industry"])
        for n in range(start, start + count)
    ]
    return money.disbursements_create(fund=fund, rows=rows, by=by, assistance_type=kind, date=date, batch=batch)


def queries_for(client, path: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(API + path)
    assert response.status_code == 200, response.content
    return len(captured), response.json()


HUNDRED = {
    "disbursements": lambda fund, tree, alice: pay_list(fund, alice, 100),
    "beneficiaries": lambda fund, tree, alice: pay_list(fund, alice, 100),  # registers 100 people
    "contributions": lambda fund, tree, alice: [
        money.contribution_create(fund=fund, source="donation", amount="1", by=alice) for _ in range(100)
    ],
    "allocations": lambda fund, tree, alice: [
        money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="1", by=alice)
        for _ in range(100)
    ],
    "funds": lambda fund, tree, alice: [
        money.fund_create(federation=tree["chengzhong"], name=f"资金{n}", purpose="other", fiscal_year=2022, by=alice)
        for n in range(100)
    ],
    "units": lambda fund, tree, alice: [
        people.unit_create(name=f"单位{n}", kind="enterprise", federation=tree["chengzhong"], by=alice)
        for n in range(100)
    ],
}


@pytest.mark.django_db
@pytest.mark.parametrize("resource", list(HUNDRED))
def test_a_page_of_100_costs_the_same_queries_as_a_page_of_10(rich_fund, tree, alice, resource):
    HUNDRED[resource](rich_fund, tree, alice)
    client = client_for(alice)
    small, small_page = queries_for(client, f"{resource}/?page_size=10")
    large, large_page = queries_for(client, f"{resource}/?page_size=100")
    assert (len(small_page["results"]), len(large_page["results"])) == (10, 100)
    # On SQLite, Django splits an insert at 999 bound parameters: the page's
    # audit record of 100 full views (11 columns each) takes two statements.
    split = 1 if resource == "beneficiaries" and connection.vendor == "sqlite" else 0
    assert small <= large <= small + split


@pytest.mark.django_db
def test_disbursements_are_cursor_paginated_without_counting(rich_fund, alice):
    created = pay_list(rich_fund, alice, 25)
    client = client_for(alice)
    seen, path, pages = [], "disbursements/?page_size=10", 0
    while path:
        with CaptureQueriesContext(connection) as captured:
            page = client.get(API + path if not path.startswith("http") else path).json()
        assert "count" not in page
        assert not any("COUNT(" in query["sql"].upper() for query in captured)
        seen += [row["id"] for row in page["results"]]
        path, pages = page["next"], pages + 1
    assert pages == 3
    assert seen == sorted((d.pk for d in created), reverse=True)


@pytest.mark.django_db
def test_a_bad_cursor_is_not_found(alice):
    response = client_for(alice).get(API + "disbursements/", {"cursor": "garbage"})
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_disbursements_filter_by_batch_type_date_status_fund_purpose_and_year(rich_fund, tree, alice, bob):
    first = pay_list(rich_fund, alice, 3, batch="第一批", date=datetime.date(2022, 3, 1))
    second = pay_list(rich_fund, alice, 2, start=10, batch="第二批", date=datetime.date(2022, 5, 1), kind="living")
    money.movements_approve(movements=second, by=bob)
    other_fund = money.fund_create(
        federation=tree["grassroots"], name="送温暖资金", purpose="warmth", fiscal_year=2023, by=alice
    )
    client = client_for(alice)

    def ids(**params) -> set[int]:
        response = client.get(API + "disbursements/", params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    first_ids, second_ids = {d.pk for d in first}, {d.pk for d in second}
    assert ids(batch="第一批") == first_ids
    assert ids(assistance_type="living") == second_ids
    assert ids(status="approved") == second_ids
    assert ids(date_from="2022-04-01") == second_ids
    assert ids(date_to="2022-03-31") == first_ids
    assert ids(date_from="2022-03-01", date_to="2022-05-01") == first_ids | second_ids
    assert ids(fund=rich_fund.pk) == first_ids | second_ids
    assert ids(fund=other_fund.pk) == set()
    assert ids(purpose="pandemic", fiscal_year=2022) == first_ids | second_ids
    assert ids(purpose="warmth") == ids(fiscal_year=2023) == set()
    assert ids(federation=tree["chengzhong"].pk) == first_ids | second_ids
    assert ids(federation=tree["grassroots"].pk) == set()  # the fund is 城中区's own, not the grassroots union's
    assert ids(federation=tree["gansu"].pk) == set()  # outside: as if it did not exist


@pytest.mark.django_db
def test_allocations_filter_by_federation_subtree_on_either_end(rich_fund, tree, alice, province_clerk, bob):
    down = money.allocation_create(
        from_fund=rich_fund, to_federation=tree["grassroots"], amount="5", batch="第三批", by=alice
    )
    client = client_for(province_clerk)

    def ids(**params) -> set[int]:
        return {row["id"] for row in client.get(API + "allocations/", params).json()["results"]}

    assert ids(federation=tree["grassroots"].pk) == {down.pk}  # the receiving end
    assert ids(federation=tree["xining"].pk) == {down.pk}  # the sending end's ancestor
    assert ids(federation=tree["chengdong"].pk) == set()
    assert ids(fund=down.to_fund_id) == ids(fund=rich_fund.pk) == {down.pk}
    assert ids(batch="第三批", status="pending") == {down.pk}


@pytest.mark.django_db
def test_funds_filter_and_order(tree, alice):
    a = money.fund_create(federation=tree["chengzhong"], name="乙", purpose="warmth", fiscal_year=2021, by=alice)
    b = money.fund_create(federation=tree["grassroots"], name="甲", purpose="warmth", fiscal_year=2022, by=alice)
    c = money.fund_create(federation=tree["chengzhong"], name="丙", purpose="education", fiscal_year=2022, by=alice)
    client = client_for(alice)

    def ids(**params) -> list[int]:
        return [row["id"] for row in client.get(API + "funds/", params).json()["results"]]

    assert ids(purpose="warmth", ordering="fiscal_year") == [a.pk, b.pk]
    assert ids(fiscal_year=2022, ordering="-id") == [c.pk, b.pk]
    assert set(ids(federation=tree["grassroots"].pk)) == {b.pk}
    page = client.get(API + "funds/", {"ordering": "name", "page_size": 2}).json()
    assert (page["count"], len(page["results"])) == (3, 2) and page["next"]


@pytest.mark.django_db
def test_federations_filter_by_code_parent_and_level(tree, carol):
    client = client_for(carol)

    def codes_of(**params) -> set[str]:
        return {row["code"] for row in client.get(API + "federations/", params).json()["results"]}

    assert codes_of(code="6301") == {"6301"}
    assert codes_of(parent=tree["xining"].pk) == {"630102", "630103", "630104"}
    assert codes_of(level="city") == {"6301", "6302"}
    assert codes_of(federation=tree["chengzhong"].pk) == {"630103", "630103-G01"}
    assert codes_of(level="province") == {"63"}  # not 甘肃


@pytest.mark.django_db
def test_a_non_numeric_id_filter_is_a_client_error(alice):
    response = client_for(alice, language="en").get(API + "disbursements/", {"fund": "abc"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "fund"


@pytest.mark.django_db
def test_an_auditor_sees_full_id_numbers_and_each_showing_is_recorded(worker, carol):
    response = client_for(carol).get(API + "beneficiaries/")
    assert response.json()["results"][0]["id_number"] == worker.id_number
    shown = AuditEvent.objects.filter(action="beneficiary.id_number_shown", user=carol)
    assert list(shown.values_list("object_id", flat=True)) == [worker.pk]
    client_for(carol).get(API + f"beneficiaries/{worker.pk}/")
    assert shown.count() == 2


@pytest.mark.django_db
def test_an_approver_sees_id_numbers_masked_and_nothing_is_recorded(worker, bob):
    listed = client_for(bob).get(API + "beneficiaries/").json()["results"][0]
    record = client_for(bob).get(API + f"beneficiaries/{worker.pk}/").json()
    masked = worker.id_number[:4] + "*" * 10 + worker.id_number[-4:]
    assert listed["id_number"] == record["id_number"] == masked
    assert listed["categories"] == ["migrant_worker"]
    assert not AuditEvent.objects.filter(action="beneficiary.id_number_shown").exists()


@pytest.mark.django_db
def test_beneficiaries_filter_by_category_and_id_number(worker, tree, alice):
    other = people.beneficiary_register(
        name="李四", id_number=synthetic_id(9), federation=tree["grassroots"], categories=["model_worker"], by=alice
    )
    client = client_for(alice)

    def ids(**params) -> set[int]:
        return {row["id"] for row in client.get(API + "beneficiaries/", params).json()["results"]}

    assert ids(category="model_worker") == {other.pk}
    assert ids(id_number=worker.id_number.lower()) == {worker.pk}
    assert ids(federation=tree["grassroots"].pk) == {other.pk}


@pytest.mark.django_db
def test_a_fund_shows_balance_and_available_as_strings(rich_fund, worker, alice):
    money.disbursement_create(fund=rich_fund, beneficiary=worker, assistance_type="living", amount="0.10", by=alice)
    row = client_for(alice).get(API + f"funds/{rich_fund.pk}/").json()
    assert (row["balance"], row["available"]) == ("1010000.00", "1009999.90")
    assert Decimal(row["available"]) == rich_fund.balance - Decimal("0.10")
