"""Refusals through the API: the services' rules with their codes, one error
shape everywhere, messages in the language of Accept-Language (Chinese unless
asked otherwise), and nothing written by a refused request."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from allocations.models import Disbursement, Fund, Status
from beneficiaries import services as people
from beneficiaries.models import Beneficiary
from tests.api_helpers import API, client_for, codes
from tests.conftest import member, synthetic_id
from unionfunds.models import Role


def pay(fund, worker, amount: str = "100.00", **extra) -> dict:
    return {"fund": fund.pk, "beneficiary": worker.pk, "assistance_type": "living", "amount": amount, **extra}


def assert_error_shape(body: dict) -> None:
    assert set(body) == {"code", "message", "errors"}
    assert body["errors"] and body["code"] == body["errors"][0]["code"]
    assert body["message"] == body["errors"][0]["message"]
    for error in body["errors"]:
        assert set(error) == {"code", "message", "field", "row"}
        assert error["code"] and error["message"]


@pytest.mark.django_db
def test_overdrawing_a_fund_is_refused_with_insufficient_funds_in_chinese_by_default(fund, worker, alice):
    response = client_for(alice).post(API + "disbursements/", pay(fund, worker, "10000.01"), format="json")
    assert response.status_code == 409
    assert_error_shape(response.json())
    error = response.json()["errors"][0]
    assert (error["code"], error["field"]) == ("insufficient_funds", "amount")
    assert error["message"] == "资金不足：疫情防控专项资金 可用余额 10,000.00 元，需要 10,000.01 元。"
    assert response.headers["Content-Language"] == "zh-hans"
    assert not Disbursement.objects.exists()
    assert Fund.objects.get(pk=fund.pk).reserved == Decimal("0.00")


@pytest.mark.django_db
def test_messages_follow_accept_language(fund, worker, alice):
    response = client_for(alice, language="en-US,en;q=0.9").post(
        API + "disbursements/", pay(fund, worker, "10000.01"), format="json"
    )
    assert response.json()["message"] == (
        "Insufficient funds: 疫情防控专项资金 has 10,000.00 yuan available, and 10,000.01 yuan are needed."
    )


@pytest.mark.django_db
def test_the_maker_cannot_approve_their_own_entry(fund, worker, alice):
    member("alice", fund.federation, Role.APPROVER)  # alice is now also an approver there
    created = client_for(alice).post(API + "disbursements/", pay(fund, worker), format="json").json()
    response = client_for(alice, language="en").post(API + f"disbursements/{created['id']}/approve/")
    assert response.status_code == 403
    assert codes(response) == ["maker_cannot_approve"]
    assert response.json()["message"] == "You entered this yourself: another approver has to decide on it."
    assert Disbursement.objects.get().status == Status.PENDING


@pytest.mark.django_db
def test_an_id_number_with_a_bad_checksum_is_refused(tree, alice):
    good = synthetic_id(7)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    response = client_for(alice).post(
        API + "beneficiaries/", {"name": "李四", "id_number": bad, "federation": tree["chengzhong"].pk}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["code"], error["field"]) == ("invalid_id_number", "id_number")
    assert error["message"] == "身份证号码无效：校验码不符"
    assert not Beneficiary.objects.exists()


@pytest.mark.django_db
def test_paying_the_same_person_twice_in_a_month_needs_confirmation(fund, worker, alice):
    client = client_for(alice, language="en")
    assert client.post(API + "disbursements/", pay(fund, worker, date="2022-04-01"), format="json").status_code == 201
    again = client.post(API + "disbursements/", pay(fund, worker, date="2022-04-20"), format="json")
    assert again.status_code == 409
    error = again.json()["errors"][0]
    assert (error["code"], error["field"]) == ("duplicate_payment", "beneficiary")
    assert "张三" in error["message"] and "2022-04" in error["message"]
    assert Disbursement.objects.count() == 1
    confirmed = client.post(
        API + "disbursements/", pay(fund, worker, date="2022-04-20", confirm_duplicate=True), format="json"
    )
    assert confirmed.status_code == 201 and confirmed.json()["duplicate_confirmed"] is True
    assert Disbursement.objects.count() == 2


@pytest.mark.django_db
def test_deciding_twice_is_not_pending(fund, worker, alice, bob):
    created = client_for(alice).post(API + "disbursements/", pay(fund, worker), format="json").json()
    client = client_for(bob)
    assert client.post(API + f"disbursements/{created['id']}/approve/").status_code == 200
    response = client.post(API + f"disbursements/{created['id']}/reject/", {"reason": "重复"}, format="json")
    assert response.status_code == 409 and codes(response) == ["not_pending"]
    assert Disbursement.objects.get().status == Status.APPROVED


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["1000.005", "-5", "0", "abc", "NaN", True, None, "99999999999999.99"])
def test_a_malformed_amount_is_invalid_amount(fund, worker, alice, amount):
    response = client_for(alice).post(API + "disbursements/", pay(fund, worker, amount), format="json")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "amount"
    assert error["code"] == ("null" if amount is None else "invalid_amount")
    assert not Disbursement.objects.exists()


@pytest.mark.django_db
def test_an_amount_sent_as_a_json_number_stays_exact(fund, worker, alice):
    response = client_for(alice).post(
        API + "disbursements/",
        data=f'{{"fund": {fund.pk}, "beneficiary": {worker.pk}, "assistance_type": "living", "amount": 0.10}}',
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["amount"] == "0.10"
    assert Disbursement.objects.get().amount == Decimal("0.10")


@pytest.mark.django_db
def test_every_field_problem_is_named(fund, alice):
    response = client_for(alice, language="en").post(API + "disbursements/", {"fund": fund.pk}, format="json")
    assert response.status_code == 400
    assert_error_shape(response.json())
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("assistance_type", "required"),
        ("amount", "required"),
    }


@pytest.mark.django_db
def test_a_payment_needs_exactly_one_recipient(fund, worker, alice, tree):
    unit = people.unit_create(name="城中区医院", kind="hospital", federation=tree["chengzhong"], by=alice)
    both = client_for(alice).post(API + "disbursements/", pay(fund, worker, unit=unit.pk), format="json")
    neither = client_for(alice).post(
        API + "disbursements/", {"fund": fund.pk, "assistance_type": "medical", "amount": "1"}, format="json"
    )
    assert codes(both) == codes(neither) == ["one_recipient"]
    assert not Disbursement.objects.exists()


@pytest.mark.django_db
def test_transport_errors_have_the_same_shape(fund, alice):
    client = client_for(alice, language="en")
    cases = {
        "not_authenticated": (401, APIClient().get(API + "funds/")),
        "authentication_failed": (401, APIClient().get(API + "funds/", headers={"Authorization": "Token nope"})),
        "not_found": (404, client.get(API + "funds/999999/")),
        "method_not_allowed": (405, client.delete(API + f"funds/{fund.pk}/")),
        "unsupported_media_type": (415, client.post(API + "funds/", "name=x", content_type="text/plain")),
        "parse_error": (400, client.post(API + "funds/", "{not json", content_type="application/json")),
    }
    for code, (status_code, response) in cases.items():
        assert response.status_code == status_code, code
        assert_error_shape(response.json())
        assert response.json()["code"] == code
    assert cases["not_authenticated"][1].headers["WWW-Authenticate"] == "Token"


@pytest.mark.django_db
def test_a_body_over_the_limit_is_refused_before_it_is_read(fund, alice):
    response = client_for(alice).post(
        API + "funds/", b"[" + b" " * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b"]", content_type="application/json"
    )
    assert response.status_code == 413 and codes(response) == ["request_too_large"]


@pytest.mark.django_db
def test_a_nul_character_in_a_filter_is_refused(fund, worker, alice):
    client = client_for(alice)
    client.post(API + "disbursements/", pay(fund, worker, batch="第一批"), format="json")
    response = client.get(API + "disbursements/", {"batch": "第一批\x00"})
    assert response.status_code == 400 and response.json()["code"] == "null_character"
    assert len(client.get(API + "disbursements/", {"batch": "第一批"}).json()["results"]) == 1


@pytest.mark.django_db
def test_requests_are_throttled_per_token(fund, alice, bob):
    rates = {"token": "3/minute", "login": "20/minute", "login_username": "10/minute"}
    with override_settings(REST_FRAMEWORK={**_rest_framework(), "DEFAULT_THROTTLE_RATES": rates}):
        client = client_for(alice)
        statuses = [client.get(API + "funds/").status_code for _ in range(4)]
        other = client_for(bob).get(API + "funds/")
    assert statuses == [200, 200, 200, 429]
    assert other.status_code == 200
    throttled = client.get(API + "funds/")  # the limit is back to the default outside the block
    assert throttled.status_code == 200


def _rest_framework() -> dict:
    return settings.REST_FRAMEWORK


@pytest.mark.django_db
def test_a_throttled_answer_says_when_to_retry(alice):
    rates = {"token": "1/minute", "login": "20/minute", "login_username": "10/minute"}
    with override_settings(REST_FRAMEWORK={**_rest_framework(), "DEFAULT_THROTTLE_RATES": rates}):
        client = client_for(alice)
        client.get(API + "funds/")
        response = client.get(API + "funds/")
    assert response.status_code == 429 and codes(response) == ["throttled"]
    assert 0 < int(response.headers["Retry-After"]) <= 60


@pytest.mark.django_db
def test_rejecting_needs_a_reason(fund, worker, alice, bob):
    created = client_for(alice).post(API + "disbursements/", pay(fund, worker), format="json").json()
    response = client_for(bob).post(API + f"disbursements/{created['id']}/reject/", {"reason": "  "}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "reason"
    assert Disbursement.objects.get().status == Status.PENDING


@pytest.mark.django_db
def test_a_reversal_is_a_new_pending_entry_that_cancels_the_original_once_approved(fund, worker, alice, bob):
    created = client_for(alice).post(API + "disbursements/", pay(fund, worker), format="json").json()
    client_for(bob).post(API + f"disbursements/{created['id']}/approve/")
    reversal = client_for(alice).post(
        API + f"disbursements/{created['id']}/reverse/", {"reason": "发放对象有误"}, format="json"
    )
    assert reversal.status_code == 201
    assert reversal.json()["reverses"] == created["id"] and reversal.json()["status"] == "pending"
    assert client_for(bob).post(API + f"disbursements/{reversal.json()['id']}/approve/").status_code == 200
    assert Fund.objects.get(pk=fund.pk).balance == Decimal("10000.00")
    twice = client_for(alice).post(API + f"disbursements/{created['id']}/reverse/", {"reason": "再次"}, format="json")
    assert twice.status_code == 409 and codes(twice) == ["already_reversed"]


@pytest.mark.django_db
def test_money_refused_by_the_service_is_not_half_written(fund, alice, tree):
    """An allocation above what is available writes neither the allocation nor the
    recipient fund it would have created."""
    response = client_for(alice).post(
        API + "allocations/",
        {"from_fund": fund.pk, "to_federation": tree["grassroots"].pk, "amount": "10000.01"},
        format="json",
    )
    assert response.status_code == 409 and codes(response) == ["insufficient_funds"]
    assert list(Fund.objects.all()) == [fund]
    assert Fund.objects.get(pk=fund.pk).reserved == Decimal("0.00")


@pytest.mark.django_db
def test_a_payment_to_a_person_by_id_number_registers_them_or_says_what_is_wrong(fund, worker, alice):
    def pay_person(**person):
        body = {"fund": fund.pk, "person": person, "assistance_type": "living", "amount": "100.00"}
        return client_for(alice).post(API + "disbursements/", body, format="json")

    new = pay_person(name="孙八", id_number=synthetic_id(8), phone="13900001111")
    assert new.status_code == 201
    registered = Beneficiary.objects.get(pk=new.json()["beneficiary"])
    assert (registered.name, registered.phone, registered.federation) == ("孙八", "13900001111", fund.federation)

    bad = pay_person(name="周九", id_number="110105194912310021")
    assert bad.status_code == 400
    assert [(e["field"], e["code"]) for e in bad.json()["errors"]] == [("person.id_number", "invalid_id_number")]
    assert "校验码" in bad.json()["message"]

    wrong_name = pay_person(name="李四", id_number=worker.id_number)
    assert wrong_name.status_code == 400
    assert [(e["field"], e["code"]) for e in wrong_name.json()["errors"]] == [("person.name", "name_mismatch")]

    both = client_for(alice).post(
        API + "disbursements/",
        {**pay(fund, worker), "person": {"name": "孙八", "id_number": synthetic_id(8)}},
        format="json",
    )
    assert both.status_code == 400 and codes(both) == ["one_recipient"]
    assert Disbursement.objects.count() == 1 and Beneficiary.objects.count() == 2
