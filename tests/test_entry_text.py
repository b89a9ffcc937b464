"""What a date, a name or a note typed into the books may be (unionfunds/text.py),
through every door: the API (single entries and lists), the sheets, the pages,
and the federation tree's levels (issue 14, item 6)."""

import datetime

import pytest
from django.utils import timezone

from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Contribution, Disbursement
from beneficiaries import services as people
from beneficiaries.models import Beneficiary
from tests.api_helpers import API, client_for, codes
from tests.conftest import synthetic_id
from tests.test_list_import import HEADERS, csv_bytes, upload
from unionfunds.errors import ListRefused
from unionfunds.models import Federation
from unionfunds.services import federation_create, federation_move

TODAY = timezone.localdate()
LAST = datetime.date(TODAY.year + 1, 12, 31)
RIGHT_TO_LEFT_OVERRIDE = "\u202e"
ZERO_WIDTH_SPACE = "\u200b"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("day", "accepted"),
    [
        ("0001-01-01", False),
        ("1999-12-31", False),
        ("2000-01-01", True),
        (LAST.isoformat(), True),
        ((LAST + datetime.timedelta(days=1)).isoformat(), False),
        ("9999-12-31", False),
    ],
)
def test_an_entry_date_lies_between_2000_and_the_end_of_next_year(fund, alice, day, accepted):
    response = client_for(alice).post(
        API + "contributions/", {"fund": fund.pk, "source": "own_funds", "amount": "10", "date": day}, format="json"
    )
    if accepted:
        assert response.status_code == 201, response.json()
        return
    assert response.status_code == 400 and codes(response) == ["date_out_of_range"]
    assert "2000-01-01" in response.json()["message"] and LAST.isoformat() in response.json()["message"]
    assert Contribution.objects.filter(date=day).count() == 0


@pytest.mark.django_db
def test_a_list_row_dated_year_one_is_named_and_nothing_is_written(rich_fund, alice):
    rows = [
        ListRow(name="张三", id_number=synthetic_id(1), amount="100"),
        ListRow(name="李四", id_number=synthetic_id(2), amount="100", date="0001-01-01"),
    ]
    with pytest.raises(ListRefused) as refused:
        money.disbursements_create(fund=rich_fund, rows=rows, assistance_type="living", by=alice)
    assert [(p.row, p.field, p.code) for p in refused.value.problems] == [(2, "date", "date_out_of_range")]
    assert not Disbursement.objects.exists() and not Beneficiary.objects.exists()


@pytest.mark.django_db
def test_an_allocation_and_an_edit_keep_the_same_dates(fund, tree, alice):
    with pytest.raises(Exception) as refused:
        money.allocation_create(
            from_fund=fund, to_federation=tree["grassroots"], amount="10", date=datetime.date(9999, 12, 31), by=alice
        )
    assert "date" in refused.value.message_dict
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="10", by=alice)
    with pytest.raises(Exception) as refused:
        money.movement_update(movement=allocation, date=datetime.date(1, 1, 1), by=alice)
    assert refused.value.message_dict["date"]
    allocation.refresh_from_db()
    assert allocation.date == TODAY


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [f"张{RIGHT_TO_LEFT_OVERRIDE}三", f"张{ZERO_WIDTH_SPACE}三", "张\x07三", "张\t三"],
    ids=["right-to-left-override", "zero-width-space", "bell", "tab"],
)
def test_a_name_with_an_invisible_character_is_refused_at_every_door(alice_client, rich_fund, alice, name):
    api = client_for(alice)
    registered = api.post(
        API + "beneficiaries/",
        {"name": name, "id_number": synthetic_id(3), "federation": rich_fund.federation.pk},
        format="json",
    )
    assert registered.status_code == 400 and codes(registered) == ["invisible_character"]
    listed = api.post(
        API + "disbursements/bulk/",
        {
            "fund": rich_fund.pk,
            "assistance_type": "living",
            "rows": [{"name": name, "id_number": synthetic_id(4), "amount": "100"}],
        },
        format="json",
    )
    assert listed.status_code == 400 and codes(listed) == ["invisible_character"]
    assert listed.json()["errors"][0]["row"] == 1 and listed.json()["errors"][0]["field"] == "name"
    job, _location = upload(
        alice_client, rich_fund, csv_bytes([[name, synthetic_id(5), 100]], headers=HEADERS[:3]), name="名单.csv"
    )
    assert [(p["line"], p["column"], p["code"]) for p in job.problems] == [(2, "姓名", "invisible_character")]
    assert "不可见的控制字符或方向字符" in job.problems[0]["message"]
    assert not Beneficiary.objects.exists() and not Disbursement.objects.exists()


@pytest.mark.django_db
def test_a_note_keeps_its_line_breaks_but_no_direction_override_and_no_megabytes(fund, alice, worker):
    api = client_for(alice)
    body = {"fund": fund.pk, "beneficiary": worker.pk, "assistance_type": "living", "amount": "10"}
    kept = api.post(API + "disbursements/", {**body, "note": "第一行\n第二行\t附件"}, format="json")
    assert kept.status_code == 201 and kept.json()["note"] == "第一行\n第二行\t附件"
    for note, code in ((f"见{RIGHT_TO_LEFT_OVERRIDE}附件", "invisible_character"), ("长" * 1001, "max_length")):
        refused = api.post(API + "disbursements/", {**body, "note": note, "confirm_duplicate": True}, format="json")
        assert refused.status_code == 400 and codes(refused) == [code], refused.json()
    assert Disbursement.objects.count() == 1
    rejected = api.post(API + f"disbursements/{kept.json()['id']}/reject/", {"reason": "\x00"}, format="json")
    assert rejected.status_code in (400, 403)


@pytest.mark.django_db
def test_the_contribution_form_says_why_a_date_is_refused(alice_client, fund):
    response = alice_client.post(
        "/entries/new/contribution/",
        {"fund": fund.pk, "source": "own_funds", "amount": "10", "date": "1900-01-01"},
    )
    page = response.content.decode()
    assert response.status_code == 200 and "日期须在 2000-01-01 至" in page
    assert not Contribution.objects.filter(date="1900-01-01").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("level", "parent", "fits"),
    [
        ("province", "chengzhong", False),  # a province under a county
        ("city", "xining", False),
        ("county", "xining", True),
        ("county", "qinghai", True),  # as the districts of a municipality
        ("township", "chengzhong", True),
        ("grassroots", "grassroots", False),  # nothing below a grassroots union
        ("grassroots", "qinghai", True),  # a provincial enterprise's union
        ("industry", "qinghai", True),
        ("national", "qinghai", False),
    ],
)
def test_a_federation_sits_below_its_parent(tree, level, parent, fits):
    def add():
        return federation_create(code="999999", name="新工会", level=level, parent=tree[parent])

    if fits:
        assert add().parent == tree[parent]
        return
    with pytest.raises(Exception) as refused:
        add()
    assert refused.value.error_dict["level"][0].code == "level_mismatch"
    assert not Federation.objects.filter(code="999999").exists()


@pytest.mark.django_db
def test_the_api_refuses_a_province_under_a_county_in_the_users_language(tree, admin_user):
    response = client_for(admin_user).post(
        API + "federations/",
        {"code": "999999", "name": "新工会", "level": "province", "parent": tree["chengzhong"].pk},
        format="json",
    )
    assert response.status_code == 400 and codes(response) == ["level_mismatch"]
    assert response.json()["message"] == "级别为“省级”的工会不能设在级别为“县级”的工会之下。"


@pytest.mark.django_db
def test_a_federation_cannot_be_moved_under_one_of_a_lower_level(tree):
    with pytest.raises(Exception) as refused:
        federation_move(federation=tree["chengdong"], new_parent=tree["grassroots"])
    assert refused.value.message_dict["parent"]
    tree["chengdong"].refresh_from_db()
    assert tree["chengdong"].parent == tree["xining"]


@pytest.mark.django_db
def test_people_registered_by_a_form_keep_the_same_rules(tree, alice):
    with pytest.raises(Exception) as refused:
        people.beneficiary_register(
            name="王五", id_number=synthetic_id(8), federation=tree["chengzhong"], employer="厂\x1b[31m", by=alice
        )
    assert refused.value.message_dict["employer"]
