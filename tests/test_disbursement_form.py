"""The disbursement form as a county clerk uses it: paying a worker with what the
import records (phone, employer, categories), paying a hospital, and confirming a
second payment this month only when one is found, beside the box that confirms it."""

import re
import uuid

import pytest

from allocations.models import Disbursement
from beneficiaries.models import Beneficiary, Unit
from tests.conftest import synthetic_id
from tests.factories import UnitFactory


def payment(fund, **fields):
    return {
        "fund": fund.pk,
        "assistance_type": "medical",
        "amount": "800",
        "date": "2022-04-02",
        "note": "",
        "batch": "",
        "submission": str(uuid.uuid4()),
        **fields,
    }


def field_block(page: str, name: str) -> str:
    """The form's block for one field: its label, box and errors."""
    match = re.search(r'<div class="field[^"]*"[^>]*>(?:(?!<div class="field).)*?name="' + name + r'"', page, re.S)
    assert match, f"no field {name}"
    end = page.find('<div class="field', match.end())
    return page[match.start() : end if end != -1 else len(page)]


@pytest.mark.django_db
def test_a_new_worker_is_registered_with_phone_employer_and_categories(alice_client, fund):
    response = alice_client.post(
        "/entries/new/disbursement/",
        payment(
            fund,
            recipient_kind="person",
            id_number=synthetic_id(41),
            name="赵六",
            phone="13800001234",
            employer="城中区建筑公司",
            categories=["migrant_worker", "work_injury"],
        ),
    )
    assert response.status_code == 302
    person = Beneficiary.objects.get(id_number=synthetic_id(41))
    assert (person.name, person.phone, person.employer) == ("赵六", "13800001234", "城中区建筑公司")
    assert sorted(person.categories.values_list("code", flat=True)) == ["migrant_worker", "work_injury"]
    assert Disbursement.objects.get().beneficiary == person


@pytest.mark.django_db
def test_a_clerk_pays_a_registered_hospital(alice_client, fund, hospital):
    page = alice_client.get("/entries/new/disbursement/").content.decode()
    assert "城中区人民医院" in page and "单位" in page
    response = alice_client.post("/entries/new/disbursement/", payment(fund, recipient_kind="unit", unit=hospital.pk))
    assert response.status_code == 302
    paid = Disbursement.objects.get()
    assert paid.unit == hospital and paid.beneficiary is None and str(paid.amount) == "800.00"
    assert response["Location"] == f"/entries/disbursement/{paid.pk}/"


@pytest.mark.django_db
def test_a_unit_not_yet_registered_is_registered_under_the_funds_federation(alice_client, fund, tree):
    response = alice_client.post(
        "/entries/new/disbursement/",
        payment(fund, recipient_kind="unit", new_unit_name=" 城中区第二人民医院 ", new_unit_kind="hospital"),
    )
    assert response.status_code == 302
    unit = Unit.objects.get()
    assert (unit.name, unit.kind, unit.federation) == ("城中区第二人民医院", "hospital", tree["chengzhong"])
    assert Disbursement.objects.get().unit == unit

    again = alice_client.post(
        "/entries/new/disbursement/",
        payment(fund, recipient_kind="unit", new_unit_name="城中区第二人民医院", new_unit_kind="hospital", amount="1"),
    )
    assert again.status_code == 302 and Unit.objects.count() == 1 and Disbursement.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_payment_to_a_new_unit_registers_no_unit(alice_client, fund):
    response = alice_client.post(
        "/entries/new/disbursement/",
        payment(fund, recipient_kind="unit", new_unit_name="第三人民医院", new_unit_kind="hospital", amount="10000.01"),
    )
    page = response.content.decode()
    assert response.status_code == 200 and "资金不足" in field_block(page, "amount")
    assert not Unit.objects.exists() and not Disbursement.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "where", "says"),
    [
        ({}, "unit", "请选择受助单位，或填写新单位的名称"),
        ({"new_unit_name": "新医院"}, "new_unit_kind", "该字段是必填项"),
        ({"unit": "HOSPITAL", "new_unit_name": "新医院", "new_unit_kind": "hospital"}, "new_unit_name", "不要两者都填"),
        ({"new_unit_name": "医院\x00", "new_unit_kind": "hospital"}, "new_unit_name", ""),
        ({"new_unit_name": "医院", "new_unit_kind": "castle"}, "new_unit_kind", "castle"),
    ],
)
def test_a_unit_payment_says_what_is_missing_beside_the_field(alice_client, fund, hospital, fields, where, says):
    if fields.get("unit") == "HOSPITAL":
        fields = {**fields, "unit": hospital.pk}
    response = alice_client.post("/entries/new/disbursement/", payment(fund, recipient_kind="unit", **fields))
    page = response.content.decode()
    assert response.status_code == 200
    block = field_block(page, where)
    assert 'class="field has-error"' in block and says in block
    assert Unit.objects.count() == 1 and not Disbursement.objects.exists()


@pytest.mark.django_db
def test_a_unit_outside_the_clerks_subtree_cannot_be_paid(alice_client, fund, tree, dave):
    theirs = UnitFactory(name="城东区医院", federation=tree["chengdong"], by=dave)
    response = alice_client.post("/entries/new/disbursement/", payment(fund, recipient_kind="unit", unit=theirs.pk))
    assert response.status_code == 200 and "城东区医院" not in response.content.decode()
    assert 'class="field has-error"' in field_block(response.content.decode(), "unit")
    assert not Disbursement.objects.exists()


@pytest.mark.django_db
def test_a_worker_payment_still_needs_the_id_number_and_name(alice_client, fund):
    response = alice_client.post("/entries/new/disbursement/", payment(fund, recipient_kind="person"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "该字段是必填项" in field_block(page, "id_number") and "该字段是必填项" in field_block(page, "name")
    assert not Disbursement.objects.exists()


@pytest.mark.django_db
def test_the_duplicate_box_shows_only_when_a_duplicate_is_found_with_its_reason_beside_it(alice_client, fund, worker):
    person = {"recipient_kind": "person", "id_number": worker.id_number, "name": worker.name}
    empty = alice_client.get("/entries/new/disbursement/").content.decode()
    assert 'name="confirm_duplicate"' not in empty

    assert alice_client.post("/entries/new/disbursement/", payment(fund, **person)).status_code == 302
    second = alice_client.post("/entries/new/disbursement/", payment(fund, **person, date="2022-04-20"))
    page = second.content.decode()
    assert second.status_code == 200 and Disbursement.objects.count() == 1
    box = field_block(page, "confirm_duplicate")
    assert 'class="field has-error"' in box and "已" in box and "张三" in box
    assert "张三" not in field_block(page, "id_number").split("</label>", 1)[1].split("value=")[0]

    confirmed = alice_client.post(
        "/entries/new/disbursement/", payment(fund, **person, date="2022-04-20", confirm_duplicate="on")
    )
    assert confirmed.status_code == 302 and Disbursement.objects.count() == 2
    assert Disbursement.objects.filter(duplicate_confirmed=True).count() == 1
