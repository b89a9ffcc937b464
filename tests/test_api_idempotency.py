"""`Idempotency-Key` on POST: a retry returns the first answer and writes nothing
new, even when two retries arrive at the same moment."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connections

from allocations import services as money
from allocations.models import Disbursement, Fund
from tests.api_helpers import API, client_for, codes
from tests.conftest import synthetic_id
from unionfunds.models import IdempotencyKey


def pay(fund, worker, amount: str = "100.00") -> dict:
    return {"fund": fund.pk, "beneficiary": worker.pk, "assistance_type": "living", "amount": amount}


def post(client, path: str, body: dict, key: str | None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(API + path, body, format="json", headers=headers)


@pytest.mark.django_db
def test_a_retry_with_the_same_key_returns_the_first_answer_and_pays_once(fund, worker, alice):
    client = client_for(alice)
    first = post(client, "disbursements/", pay(fund, worker), "pay-zhangsan-2022-04")
    again = post(client, "disbursements/", pay(fund, worker), "pay-zhangsan-2022-04")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert Disbursement.objects.count() == 1
    assert Fund.objects.get(pk=fund.pk).available == Decimal("9900.00")


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_a_conflict_and_writes_nothing(fund, worker, alice):
    client = client_for(alice, language="en")
    post(client, "disbursements/", pay(fund, worker), "k-1")
    response = post(client, "disbursements/", pay(fund, worker, "200.00"), "k-1")
    assert response.status_code == 409
    assert codes(response) == ["idempotency_conflict"]
    assert "Idempotency-Key" in response.json()["message"]
    assert list(Disbursement.objects.values_list("amount", flat=True)) == [Decimal("100.00")]


@pytest.mark.django_db
def test_the_same_key_on_another_endpoint_is_a_conflict(fund, worker, alice):
    client = client_for(alice)
    created = post(client, "disbursements/", pay(fund, worker), "k-2")
    response = post(client, f"disbursements/{created.json()['id']}/reverse/", {}, "k-2")
    assert response.status_code == 409 and codes(response) == ["idempotency_conflict"]


@pytest.mark.django_db
def test_keys_belong_to_their_user(fund, worker, alice, province_clerk):
    post(client_for(alice), "disbursements/", pay(fund, worker), "shared-key")
    response = post(
        client_for(province_clerk), "disbursements/", {**pay(fund, worker), "confirm_duplicate": True}, "shared-key"
    )
    assert response.status_code == 201
    assert Disbursement.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_request_keeps_no_key_so_the_fixed_retry_goes_through(fund, worker, alice, bob):
    client = client_for(alice)
    refused = post(client, "disbursements/", pay(fund, worker, "20000.00"), "big-payment")
    assert refused.status_code == 409 and codes(refused) == ["insufficient_funds"]
    assert not IdempotencyKey.objects.exists()
    money.movement_approve(
        movement=money.contribution_create(fund=fund, source="donation", amount="10000.00", by=alice), by=bob
    )
    retried = post(client, "disbursements/", pay(fund, worker, "20000.00"), "big-payment")
    assert retried.status_code == 201
    assert Disbursement.objects.count() == 1


@pytest.mark.django_db
def test_a_retried_approval_answers_as_the_first_did(fund, worker, alice, bob):
    created = post(client_for(alice), "disbursements/", pay(fund, worker), None).json()
    client = client_for(bob)
    first = post(client, f"disbursements/{created['id']}/approve/", {}, "approve-1")
    again = post(client, f"disbursements/{created['id']}/approve/", {}, "approve-1")
    without_key = post(client, f"disbursements/{created['id']}/approve/", {}, None)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert without_key.status_code == 409 and codes(without_key) == ["not_pending"]
    assert Fund.objects.get(pk=fund.pk).balance == Decimal("9900.00")


@pytest.mark.django_db
def test_a_retried_list_is_written_once(fund, alice):
    body = {
        "fund": fund.pk,
        "assistance_type": "pandemic_subsidy",
        "rows": [{"name": f"职工{n}", "id_number": synthetic_id(n), "amount": "1000.00"} for n in range(5)],
    }
    client = client_for(alice)
    first = post(client, "disbursements/bulk/", body, "list-2022-04")
    again = post(client, "disbursements/bulk/", body, "list-2022-04")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert Disbursement.objects.count() == 5


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "键"])
def test_a_malformed_key_is_refused(fund, worker, alice, key):
    response = client_for(alice).post(
        API + "disbursements/", pay(fund, worker), format="json", headers={"Idempotency-Key": key}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert not Disbursement.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_write_once(fund, worker, alice, monkeypatch):
    """The first request holds its key's row while it pays (slowed down here); the
    second waits on the key, then answers with what the first stored."""
    create = money.disbursement_create

    def slow_create(**kwargs):
        time.sleep(0.3)
        return create(**kwargs)

    monkeypatch.setattr(money, "disbursement_create", slow_create)
    barrier = threading.Barrier(2)
    responses = [None, None]
    clients = [client_for(alice), client_for(alice)]

    def send(index: int) -> None:
        try:
            client = clients[index]
            barrier.wait(timeout=10)
            responses[index] = post(client, "disbursements/", pay(fund, worker), "concurrent-key")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in responses) == ["", "true"]
    assert Disbursement.objects.count() == 1
    assert Fund.objects.get(pk=fund.pk).reserved == Decimal("100.00")
    assert IdempotencyKey.objects.count() == 1
