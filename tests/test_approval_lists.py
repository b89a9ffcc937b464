"""An approver approves a whole imported list at once, all or nothing."""

from decimal import Decimal

import pytest

from allocations.models import Disbursement, Status
from tests.conftest import member
from tests.test_list_import import frontline_rows, upload, xlsx_bytes
from unionfunds.models import Role


@pytest.fixture
def imported(alice_client, rich_fund):
    _job, location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(250)))
    alice_client.post(f"{location}confirm/")
    assert Disbursement.objects.filter(status=Status.PENDING).count() == 250
    return rich_fund


@pytest.mark.django_db
def test_the_queue_offers_the_whole_list_and_approves_it_at_once(client, imported, alice, bob):
    client.force_login(bob)
    page = client.get("/approvals/").content.decode()
    assert "一线职工第一批" in page and "250,000.00" in page
    response = client.post(
        "/approvals/decide-list/", {"fund": imported.pk, "batch": "一线职工第一批", "created_by": alice.pk}
    )
    assert response.status_code == 302
    assert set(Disbursement.objects.values_list("status", flat=True)) == {Status.APPROVED}
    imported.refresh_from_db()
    assert (imported.balance, imported.reserved) == (Decimal("760000.00"), Decimal("0.00"))
    assert "250" in client.get("/approvals/").content.decode()  # the message: 250 entries decided


@pytest.mark.django_db
def test_no_one_else_approves_the_list(client, imported, alice, tree):
    for user in (alice, member("east-approver", tree["chengdong"], Role.APPROVER)):
        client.force_login(user)
        client.post("/approvals/decide-list/", {"fund": imported.pk, "batch": "一线职工第一批", "created_by": alice.pk})
    assert set(Disbursement.objects.values_list("status", flat=True)) == {Status.PENDING}
