"""One core behind every door: a payment, a registration and a decision leave the
same audit record whether they came from the form, the API (one entry or a
list), a spreadsheet import or the admin, and a list is decided all or nothing.

Each door pays a new person 100.00 from the same fund on the same day, so their
records differ only in the ids they carry."""

import re
import uuid
from pathlib import Path

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile

from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Disbursement, Fund, Status
from beneficiaries import idnumber
from beneficiaries.models import Beneficiary, person_label
from tests.api_helpers import API, client_for
from tests.conftest import member, staff, synthetic_id
from unionfunds.models import AuditEvent, Role

DAY = "2022-11-03"
ROOT = Path(__file__).resolve().parent.parent


def pay_by_form(client, fund, clerk, name, number):
    client.force_login(clerk)
    data = {
        "fund": fund.pk,
        "id_number": number,
        "name": name,
        "assistance_type": "pandemic_subsidy",
        "amount": "100",
        "date": DAY,
        "submission": str(uuid.uuid4()),
    }
    assert client.post("/entries/new/disbursement/", data).status_code == 302


def pay_by_api(client, fund, clerk, name, number):
    body = {
        "fund": fund.pk,
        "person": {"name": name, "id_number": number},
        "assistance_type": "pandemic_subsidy",
        "amount": "100.00",
        "date": DAY,
    }
    response = client_for(clerk).post(API + "disbursements/", body, format="json")
    assert response.status_code == 201, response.json()


def pay_by_api_list(client, fund, clerk, name, number):
    body = {
        "fund": fund.pk,
        "assistance_type": "pandemic_subsidy",
        "date": DAY,
        "rows": [{"name": name, "id_number": number, "amount": "100.00"}],
    }
    response = client_for(clerk).post(API + "disbursements/bulk/", body, format="json")
    assert response.status_code == 201, response.json()


def pay_by_import(client, fund, clerk, name, number):
    client.force_login(clerk)
    sheet = f"姓名,身份证号,金额\r\n{name},{number},100\r\n".encode("utf-8-sig")
    data = {
        "fund": fund.pk,
        "assistance_type": "pandemic_subsidy",
        "date": DAY,
        "batch": "",
        "sheet": SimpleUploadedFile("名单.csv", sheet),
    }
    location = client.post("/disbursements/import/", data)["Location"]
    assert client.post(f"{location}confirm/").status_code == 302


DOORS = [pay_by_form, pay_by_api, pay_by_api_list, pay_by_import]


def without_ids(changes: dict, *ids: str) -> dict:
    return {field: change for field, change in changes.items() if field not in ids}


@pytest.mark.django_db
def test_a_payment_and_a_registration_are_audited_alike_from_every_door(client, rich_fund, alice):
    payments, registrations = [], []
    for n, door in enumerate(DOORS, start=1):
        name, number = f"职工{n}", synthetic_id(n)
        door(client, rich_fund, alice, name, number)
        person = Beneficiary.objects.get(id_number=number)
        paid = Disbursement.objects.get(beneficiary=person)
        payment = AuditEvent.objects.get(action="disbursement.created", object_id=paid.pk)
        registration = AuditEvent.objects.get(action="beneficiary.registered", object_id=person.pk)
        assert payment.object_repr == f"疫情防控专项资金 → {person_label(name, number)} ¥100.00", door.__name__
        assert registration.object_repr == person_label(name, number), door.__name__
        assert registration.changes["id_number"]["after"] == idnumber.mask(number), door.__name__
        for event in (payment, registration):
            assert (event.user, event.federation) == (alice, rich_fund.federation), door.__name__
        # A list's rows also say which list they came in (a single entry is in none).
        in_list = payment.changes.get("payment_list", {}).get("after")
        assert in_list == paid.payment_list_id and (in_list is not None) == door.__name__.endswith(("list", "import"))
        payments.append((door.__name__, without_ids(payment.changes, "beneficiary", "payment_list")))
        registrations.append((door.__name__, without_ids(registration.changes, "name", "id_number", "birth_date")))
    for door, changes in payments[1:]:
        assert changes == payments[0][1], door
    for door, changes in registrations[1:]:
        assert changes == registrations[0][1], door


def approve_on_the_entry_page(client, bob, entries):
    client.force_login(bob)
    for entry in entries:
        client.post(f"/entries/disbursement/{entry.pk}/decide/", {"action": "approve"})


def approve_in_the_queue(client, bob, entries):
    client.force_login(bob)
    client.post("/approvals/decide/", {"action": "approve", "disbursement": [e.pk for e in entries]})


def approve_by_api(client, bob, entries):
    for entry in entries:
        assert client_for(bob).post(API + f"disbursements/{entry.pk}/approve/").status_code == 200


def approve_by_api_list(client, bob, entries):
    response = client_for(bob).post(
        API + "disbursements/bulk/approve/", {"ids": [e.pk for e in entries]}, format="json"
    )
    assert response.status_code == 200


def approve_in_the_admin(client, bob, entries):
    client.force_login(staff(bob))
    selection = {"action": "approve_selected", helpers.ACTION_CHECKBOX_NAME: [e.pk for e in entries]}
    assert client.post("/admin/allocations/disbursement/", selection).status_code == 302


APPROVALS = [approve_on_the_entry_page, approve_in_the_queue, approve_by_api, approve_by_api_list, approve_in_the_admin]


def two_pending(fund: Fund, clerk, first: int) -> list[Disbursement]:
    rows = [ListRow(name=f"职工{n}", id_number=synthetic_id(n), amount="100.00") for n in (first, first + 1)]
    return list(money.disbursements_create(fund=fund, rows=rows, assistance_type="living", by=clerk))


@pytest.mark.django_db
def test_an_approval_is_audited_alike_from_every_door(client, rich_fund, alice, bob):
    seen = []
    for n, door in enumerate(APPROVALS):
        entries = two_pending(rich_fund, alice, 2 * n + 1)
        door(client, bob, entries)
        for entry in entries:
            entry.refresh_from_db()
            assert (entry.status, entry.decided_by) == (Status.APPROVED, bob), door.__name__
            event = AuditEvent.objects.get(action="disbursement.approved", object_id=entry.pk)
            assert event.object_repr == f"疫情防控专项资金 → {entry.beneficiary} ¥100.00", door.__name__
            assert (event.user, event.federation, event.reason) == (bob, rich_fund.federation, ""), door.__name__
            seen.append((door.__name__, without_ids(event.changes, "decided_at")))
    for door, changes in seen[1:]:
        assert changes == seen[0][1], door
    assert seen[0][1] == {"status": {"before": "pending", "after": "approved"}}


@pytest.mark.django_db
def test_a_rejection_and_a_reversal_are_audited_alike_in_the_admin_and_the_api(client, rich_fund, alice, bob):
    def in_the_admin(user, action: str, entry, reason: str):
        client.force_login(staff(user))
        selection = {"action": action, "reason": reason, helpers.ACTION_CHECKBOX_NAME: [entry.pk]}
        assert client.post("/admin/allocations/disbursement/", selection).status_code == 302

    by_admin, by_api = two_pending(rich_fund, alice, 1)
    in_the_admin(bob, "reject_selected", by_admin, "查无此人")
    client_for(bob).post(API + f"disbursements/{by_api.pk}/reject/", {"reason": "查无此人"}, format="json")
    rejections = [AuditEvent.objects.get(action="disbursement.rejected", object_id=e.pk) for e in (by_admin, by_api)]
    assert [(e.reason, e.user) for e in rejections] == [("查无此人", bob)] * 2
    assert [without_ids(e.changes, "decided_at") for e in rejections] == [
        {"status": {"before": "pending", "after": "rejected"}}
    ] * 2

    by_admin, by_api = two_pending(rich_fund, alice, 3)
    money.movements_approve(movements=[by_admin, by_api], by=bob)
    in_the_admin(alice, "reverse_selected", by_admin, "重复发放")
    client_for(alice).post(API + f"disbursements/{by_api.pk}/reverse/", {"reason": "重复发放"}, format="json")
    for original in (by_admin, by_api):
        reversal = Disbursement.objects.get(reverses=original)
        created = AuditEvent.objects.get(action="disbursement.created", object_id=reversal.pk)
        requested = AuditEvent.objects.get(action="disbursement.reversal_requested", object_id=original.pk)
        assert (created.reason, requested.reason, created.user) == ("重复发放", "重复发放", alice)
        assert created.object_repr == f"疫情防控专项资金 → {original.beneficiary} ¥100.00"
        assert created.changes["reverses"] == {"before": None, "after": original.pk}


@pytest.mark.django_db
def test_an_admin_approval_of_several_entries_is_all_or_nothing(client, rich_fund, alice, bob):
    entries = two_pending(rich_fund, alice, 1)
    money.movement_reject(movement=entries[1], by=bob, reason="查无此人")
    mine = money.disbursement_create(
        fund=rich_fund, beneficiary=entries[0].beneficiary, assistance_type="medical", amount="5", by=alice
    )
    client.force_login(staff(member("alice", rich_fund.federation, Role.APPROVER)))
    selection = {"action": "approve_selected", helpers.ACTION_CHECKBOX_NAME: [entries[0].pk, mine.pk]}
    response = client.post("/admin/allocations/disbursement/", selection)
    assert response.status_code == 302
    said = [str(message) for message in get_messages(response.wsgi_request)]
    assert said == ["这笔记录由您本人录入，须由其他审批人审批。"]
    assert not Disbursement.objects.filter(status=Status.APPROVED).exists()
    rich_fund.refresh_from_db()
    assert rich_fund.reserved == 100 + 5


def test_only_the_services_change_a_funds_balance_or_reservation():
    """The module docstring of allocations/services.py says it is the only way
    money moves: no other module assigns a fund's balance or reservation, on
    an object or in an update query."""
    on_an_object = re.compile(r"\bfunds?\w*(\[\w+\])?\.(balance|reserved)\s*[-+]?=(?!=)")
    in_a_query = re.compile(r"\b(balance|reserved)\s*=\s*(F\(|Case\(|Greatest\(|\w+\s*[-+])")
    writes = {}
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".venv/", "tests/")) or "/migrations/" in relative:
            continue
        found = [
            line.strip()
            for line in path.read_text().splitlines()
            if on_an_object.search(line) or in_a_query.search(line)
        ]
        if found:
            writes[relative] = found
    assert list(writes) == ["allocations/services.py"], writes
