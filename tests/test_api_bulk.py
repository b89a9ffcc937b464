"""`disbursements/bulk/`: a real-name list, all rows or none, every problem named
by row and field; `disbursements/bulk/approve/`: the approver's side of it."""

import datetime
from decimal import Decimal

import pytest

from allocations.models import Disbursement, Fund, Status
from beneficiaries.models import Beneficiary
from tests.api_helpers import API, client_for, codes
from tests.conftest import synthetic_id
from unionfunds.models import AuditEvent


def a_list(fund, count: int = 5, **overrides) -> dict:
    return {
        "fund": fund.pk,
        "assistance_type": "pandemic_subsidy",
        "date": "2022-04-20",
        "batch": "一线职工第一批",
        "rows": [
            {"name": f"职工{n}", "id_number": synthetic_id(n), "amount": "1000.00", "categories": ["hard_industry"]}
            for n in range(count)
        ],
        **overrides,
    }


def break_checksum(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


@pytest.mark.django_db
def test_a_list_pays_everyone_pending_approval(rich_fund, worker, alice):
    body = a_list(rich_fund)
    body["rows"][1] = {"name": "张三", "id_number": worker.id_number, "amount": "500.50"}  # already registered
    response = client_for(alice).post(API + "disbursements/bulk/", body, format="json")
    assert response.status_code == 201, response.content
    result = response.json()
    assert (result["count"], result["total"], result["batch"]) == (5, "4500.50", "一线职工第一批")
    paid = list(Disbursement.objects.filter(pk__in=result["ids"]).order_by("pk"))
    assert [d.pk for d in paid] == result["ids"]
    assert {d.status for d in paid} == {Status.PENDING}
    assert paid[1].beneficiary_id == worker.pk and paid[1].amount == Decimal("500.50")
    assert {d.date for d in paid} == {datetime.date(2022, 4, 20)}
    assert Beneficiary.objects.count() == 5  # four new people, and 张三
    assert Fund.objects.get(pk=rich_fund.pk).available == Decimal("1010000.00") - Decimal("4500.50")


@pytest.mark.django_db
def test_one_bad_row_writes_nothing_and_is_named(rich_fund, alice):
    body = a_list(rich_fund)
    body["rows"][2]["id_number"] = break_checksum(body["rows"][2]["id_number"])
    before = (AuditEvent.objects.count(), Beneficiary.objects.count())
    response = client_for(alice).post(API + "disbursements/bulk/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "invalid_id_number", "message": "身份证号码无效：校验码不符", "field": "id_number", "row": 3}
    ]
    assert not Disbursement.objects.exists()
    assert (AuditEvent.objects.count(), Beneficiary.objects.count()) == before
    assert Fund.objects.get(pk=rich_fund.pk).reserved == Decimal("0.00")


@pytest.mark.django_db
def test_every_problem_of_a_list_is_reported_at_once(rich_fund, alice):
    body = a_list(rich_fund)
    body["rows"][0]["name"] = ""
    body["rows"][1]["amount"] = "10.001"
    body["rows"][3]["categories"] = ["astronaut"]
    body["rows"][4]["id_number"] = body["rows"][2]["id_number"]  # the same person twice in one month
    response = client_for(alice, language="en").post(API + "disbursements/bulk/", body, format="json")
    assert response.status_code == 400
    assert [(e["row"], e["field"], e["code"]) for e in response.json()["errors"]] == [
        (2, "amount", "invalid_amount"),
        (4, "categories.0", "invalid_choice"),
    ]
    # Shape problems are found first; once they are fixed, the list's own rules speak.
    body["rows"][1]["amount"] = "10.00"
    body["rows"][3]["categories"] = []
    response = client_for(alice, language="en").post(API + "disbursements/bulk/", body, format="json")
    assert [(e["row"], e["field"], e["code"]) for e in response.json()["errors"]] == [
        (1, "name", "required"),
        (5, "id_number", "duplicate_payment"),
    ]
    assert "row 3" in response.json()["errors"][1]["message"]
    assert not Disbursement.objects.exists()


@pytest.mark.django_db
def test_a_list_above_what_the_fund_has_is_insufficient_funds(fund, alice):
    body = a_list(fund, 11)  # 11,000.00 from a fund of 10,000.00
    response = client_for(alice).post(API + "disbursements/bulk/", body, format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0] | {"message": ""} == {
        "code": "insufficient_funds",
        "message": "",
        "field": "amount",
        "row": None,
    }
    assert not Disbursement.objects.exists() and not Beneficiary.objects.exists()


@pytest.mark.django_db
def test_a_list_longer_than_ten_thousand_rows_is_refused_whole(rich_fund, alice):
    row = {"name": "职工", "id_number": synthetic_id(1), "amount": "1"}
    response = client_for(alice).post(
        API + "disbursements/bulk/", {**a_list(rich_fund), "rows": [row] * 10_001}, format="json"
    )
    assert response.status_code == 400
    assert [(e["field"], e["code"], e["row"]) for e in response.json()["errors"]] == [("rows", "max_length", None)]
    assert not Disbursement.objects.exists()


@pytest.mark.django_db
def test_an_empty_list_is_refused(rich_fund, alice):
    response = client_for(alice).post(API + "disbursements/bulk/", a_list(rich_fund, 0), format="json")
    assert response.status_code == 400 and codes(response) == ["empty"]


@pytest.mark.django_db
def test_a_list_without_an_assistance_type_names_each_row(rich_fund, alice):
    body = a_list(rich_fund, 2)
    del body["assistance_type"]
    body["rows"][1]["assistance_type"] = "living"
    response = client_for(alice).post(API + "disbursements/bulk/", body, format="json")
    assert [(e["row"], e["field"], e["code"]) for e in response.json()["errors"]] == [
        (1, "assistance_type", "invalid_choice")
    ]


@pytest.mark.django_db
def test_an_approver_approves_a_whole_list_at_once(rich_fund, alice, bob):
    ids = client_for(alice).post(API + "disbursements/bulk/", a_list(rich_fund), format="json").json()["ids"]
    response = client_for(bob).post(API + "disbursements/bulk/approve/", {"ids": ids}, format="json")
    assert response.status_code == 200 and response.json() == {"approved": 5}
    assert set(Disbursement.objects.values_list("status", flat=True)) == {Status.APPROVED}
    fund = Fund.objects.get(pk=rich_fund.pk)
    assert (fund.balance, fund.reserved) == (Decimal("1005000.00"), Decimal("0.00"))


@pytest.mark.django_db
def test_a_list_approval_is_all_or_nothing(rich_fund, alice, bob):
    ids = client_for(alice).post(API + "disbursements/bulk/", a_list(rich_fund), format="json").json()["ids"]
    client_for(bob).post(API + f"disbursements/{ids[0]}/reject/", {"reason": "查无此人"}, format="json")
    response = client_for(bob).post(API + "disbursements/bulk/approve/", {"ids": ids}, format="json")
    assert response.status_code == 409 and codes(response) == ["not_pending"]
    assert not Disbursement.objects.filter(status=Status.APPROVED).exists()
    maker = client_for(alice).post(API + "disbursements/bulk/approve/", {"ids": ids[1:]}, format="json")
    assert maker.status_code == 403 and codes(maker) == ["maker_cannot_approve"]
    assert Fund.objects.get(pk=rich_fund.pk).balance == Decimal("1010000.00")
