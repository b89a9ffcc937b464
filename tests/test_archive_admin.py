"""The archive through the admin: filing, deciding, closing and the 低保 lines go
through the same services as every door, within the user's subtree."""

import datetime
from decimal import Decimal

import pytest

from allocations.models import PolicyRule
from beneficiaries.archive_models import ArchiveChange, ArchiveEntry, ArchiveStatus, ChangeStatus
from beneficiaries.models import DibaoLine, Household
from tests.conftest import member, staff, synthetic_id
from tests.test_archive import admitted, household
from unionfunds.models import Role

FILING = {
    "head_name": "王大明",
    "head_id_number": synthetic_id(11),
    "address": "城中区幸福路1号",
    "tier": "deep",
    "income_per_head": "520.00",
    "causes": ["illness", "schooling"],
    "valid_from": "2022-01-01",
    "valid_to": "",
    "standard": "青海省困难职工认定标准",
}


@pytest.fixture
def clerk_client(client, alice):
    client.force_login(staff(alice))
    return client


@pytest.mark.django_db
def test_a_clerk_files_a_household_in_the_admin_and_another_approver_admits_it(clerk_client, client, tree, bob):
    answer = clerk_client.post(
        "/admin/beneficiaries/archiveentry/add/", {**FILING, "federation": tree["chengzhong"].pk}
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    entry = ArchiveEntry.objects.get()
    assert (entry.status, entry.tier, entry.causes, entry.income_per_head) == (
        ArchiveStatus.PENDING,
        "deep",
        ["illness", "schooling"],
        Decimal("520.00"),
    )
    assert [m.name for m in Household.objects.get().members.all()] == ["王大明"]
    change = entry.changes.get()
    own = clerk_client.post(
        "/admin/beneficiaries/archivechange/", {"action": "approve_selected", "_selected_action": [change.pk]}
    )
    assert own.status_code == 302
    assert ArchiveChange.objects.get().status == ChangeStatus.PENDING  # the maker cannot decide
    client.force_login(staff(bob))
    client.post("/admin/beneficiaries/archivechange/", {"action": "approve_selected", "_selected_action": [change.pk]})
    entry.refresh_from_db()
    assert entry.status == ArchiveStatus.OPEN


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [("head_id_number", "63010319800517\x0011X"), ("income_per_head", "1e30"), ("head_name", "王\u202e明")],
)
def test_hostile_filings_are_refused_on_the_form_and_write_nothing(clerk_client, tree, field, value):
    answer = clerk_client.post(
        "/admin/beneficiaries/archiveentry/add/", {**FILING, field: value, "federation": tree["chengzhong"].pk}
    )
    assert answer.status_code == 200
    assert "errornote" in answer.content.decode() or "errorlist" in answer.content.decode()
    assert not Household.objects.exists() and not ArchiveEntry.objects.exists()


@pytest.mark.django_db
def test_closing_is_asked_with_a_reason_and_decided_by_an_approver(clerk_client, client, tree, alice, bob):
    entry = admitted(
        household(tree["chengzhong"], alice, ("王大明", synthetic_id(11), "head")), clerk=alice, approver=bob
    )
    url = "/admin/beneficiaries/archiveentry/"
    page = clerk_client.post(url, {"action": "close_selected", "_selected_action": [entry.pk]})
    assert page.status_code == 200 and "close_reason" in page.content.decode()
    clerk_client.post(
        url,
        {
            "action": "close_selected",
            "_selected_action": [entry.pk],
            "close_reason": "out_of_hardship",
            "closed_on": "2022-10-01",
            "note": "就业稳定",
        },
    )
    close = entry.changes.get(kind="close")
    assert (close.status, close.close_reason, close.effective_on) == (
        ChangeStatus.PENDING,
        "out_of_hardship",
        datetime.date(2022, 10, 1),
    )
    client.force_login(staff(bob))
    client.post(
        "/admin/beneficiaries/archivechange/",
        {"action": "reject_selected", "_selected_action": [close.pk], "reason": "复查后仍困难"},
    )
    close.refresh_from_db()
    assert (close.status, close.decision_note) == (ChangeStatus.REJECTED, "复查后仍困难")
    entry.refresh_from_db()
    assert entry.status == ArchiveStatus.OPEN


@pytest.mark.django_db
def test_the_neighbours_archive_is_not_in_my_admin(clerk_client, tree, dave):
    erin = member("erin", tree["chengdong"], Role.APPROVER)
    theirs = admitted(
        household(tree["chengdong"], dave, ("赵六", synthetic_id(60, area="630102"), "head")), clerk=dave, approver=erin
    )
    for url in (
        "/admin/beneficiaries/archiveentry/",
        "/admin/beneficiaries/household/",
        "/admin/beneficiaries/archivechange/",
    ):
        page = clerk_client.get(url).content.decode()
        assert "赵六" not in page, url
    for url in (
        f"/admin/beneficiaries/archiveentry/{theirs.pk}/change/",
        f"/admin/beneficiaries/household/{theirs.household_id}/change/",
        f"/admin/beneficiaries/archivechange/{theirs.changes.get().pk}/change/",
    ):
        assert clerk_client.get(url).status_code == 404, url


@pytest.mark.django_db
def test_dibao_lines_by_clerks_and_rules_by_administrators(clerk_client, client, tree, olga):
    added = clerk_client.post(
        "/admin/beneficiaries/dibaoline/add/", {"federation": tree["chengzhong"].pk, "year": 2022, "monthly": "840"}
    )
    assert added.status_code == 302
    assert DibaoLine.objects.get().monthly == Decimal("840.00")
    rule = {
        "federation": tree["chengzhong"].pk,
        "name": "生活救助",
        "purpose": "hardship",
        "assistance_type": "living",
        "source": "",
        "allowed": "on",
        "scope": "household",
        "cap_amount": "",
        "cap_dibao_months": "12",
    }
    assert clerk_client.post("/admin/allocations/policyrule/add/", rule).status_code == 403
    client.force_login(olga)
    assert client.post("/admin/allocations/policyrule/add/", rule).status_code == 302
    made = PolicyRule.objects.get()
    assert (made.cap_dibao_months, made.scope, made.created_by) == (Decimal("12"), "household", olga)
    client.post("/admin/allocations/policyrule/", {"action": "take_out_of_force", "_selected_action": [made.pk]})
    made.refresh_from_db()
    assert made.active is False
