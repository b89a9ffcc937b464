"""The admin site: each list shows the user's subtree and nothing else, rows
outside it are not found, and what is added or decided goes through the services.

Olga administers 城中区, Ned 城东区 next door; both are staff. Alice (clerk)
and Bob (approver) of 城中区 and Dave (clerk) of 城东区 come from conftest."""

import json
from decimal import Decimal

import pytest
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.utils import translation

from allocations import services as money
from allocations.models import Contribution, Fund, Status
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, Category, Unit
from tests.conftest import member, staff, synthetic_id
from tests.factories import FundFactory, approved_contribution
from unionfunds import exportlog, listexports
from unionfunds.models import AuditEvent, Federation, Membership, Role


@pytest.fixture
def ned(tree):
    return staff(member("ned", tree["chengdong"], Role.ADMIN))


@pytest.fixture
def world(tree, fund, worker, hospital, alice, bob, dave, neighbours_worker):
    """One row of every kind in 城中区 (mine) and one in 城东区 (theirs)."""
    east_approver = member("eve", tree["chengdong"], Role.APPROVER)
    east_fund = FundFactory(federation=tree["chengdong"], name="送温暖资金", purpose="warmth", by=dave)
    east_contribution = approved_contribution(east_fund, "5000", by=dave, approver=east_approver)
    east_worker = neighbours_worker
    return {
        "federation": (tree["chengzhong"], tree["chengdong"]),
        "fund": (fund, east_fund),
        "contribution": (Contribution.objects.get(fund=fund), east_contribution),
        "allocation": (
            money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="100", by=alice),
            money.allocation_create(
                from_fund=east_fund,
                to_federation=tree["chengdong"],
                to_fund=FundFactory(federation=tree["chengdong"], name="备用金", purpose="warmth", by=dave),
                amount="100",
                by=dave,
            ),
        ),
        "disbursement": (
            money.disbursement_create(fund=fund, beneficiary=worker, assistance_type="living", amount="10", by=alice),
            money.disbursement_create(
                fund=east_fund, beneficiary=east_worker, assistance_type="living", amount="10", by=dave
            ),
        ),
        "beneficiary": (worker, east_worker),
        "unit": (
            hospital,
            people.unit_create(name="城东区人民医院", kind="hospital", federation=tree["chengdong"], by=dave),
        ),
        "membership": (
            Membership.objects.get(user=alice, role=Role.CLERK),
            Membership.objects.get(user=dave, role=Role.CLERK),
        ),
        "auditevent": (
            AuditEvent.objects.filter(federation=tree["chengzhong"]).first(),
            AuditEvent.objects.filter(federation=tree["chengdong"]).first(),
        ),
    }


APP = {
    "federation": "unionfunds",
    "membership": "unionfunds",
    "auditevent": "unionfunds",
    "fund": "allocations",
    "contribution": "allocations",
    "allocation": "allocations",
    "disbursement": "allocations",
    "beneficiary": "beneficiaries",
    "unit": "beneficiaries",
}


def changelist(model: str) -> str:
    return f"/admin/{APP[model]}/{model}/"


def change_page(model: str, obj) -> str:
    return f"/admin/{APP[model]}/{model}/{obj.pk}/change/"


@pytest.mark.django_db
@pytest.mark.parametrize("model", sorted(APP))
def test_a_county_admin_lists_only_their_subtree(client, world, olga, model):
    mine, theirs = world[model]
    client.force_login(olga)
    response = client.get(changelist(model))
    assert response.status_code == 200
    listed = {row.pk for row in response.context["cl"].result_list}
    assert mine.pk in listed
    assert theirs.pk not in listed


@pytest.mark.django_db
@pytest.mark.parametrize("model", sorted(APP))
def test_a_row_of_the_neighbouring_county_is_not_found(client, world, olga, model):
    mine, theirs = world[model]
    client.force_login(olga)
    assert client.get(change_page(model, mine)).status_code == 200
    response = client.get(change_page(model, theirs))
    assert response.status_code == 404
    assert str(theirs) not in response.content.decode()
    assert client.get(f"/admin/{APP[model]}/{model}/{theirs.pk}/history/").status_code == 404


@pytest.mark.django_db
def test_a_superuser_sees_both_counties(client, world, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(root)
    listed = {row.pk for row in client.get(changelist("fund")).context["cl"].result_list}
    assert {fund.pk for fund in world["fund"]} <= listed


@pytest.mark.django_db
def test_users_who_are_not_staff_do_not_get_in(client, world, alice):
    client.force_login(alice)
    response = client.get(changelist("fund"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_the_beneficiary_page_never_shows_the_full_id_number(client, world, olga):
    worker = world["beneficiary"][0]
    client.force_login(olga)
    for url in (changelist("beneficiary"), change_page("beneficiary", worker)):
        page = client.get(url).content.decode()
        assert worker.masked_id_number in page
        assert worker.id_number not in page


def autocomplete(client, source: str, field: str, term: str = "") -> list[str]:
    app, model = source.split(".")
    response = client.get(
        "/admin/autocomplete/", {"app_label": app, "model_name": model, "field_name": field, "term": term}
    )
    assert response.status_code == 200
    return [result["text"] for result in json.loads(response.content)["results"]]


@pytest.mark.django_db
def test_federation_autocomplete_offers_only_the_users_subtree(client, tree, olga, ned):
    client.force_login(olga)
    assert sorted(autocomplete(client, "allocations.fund", "federation")) == sorted(
        ["城中区总工会", "城中区建筑公司工会"]
    )
    assert autocomplete(client, "unionfunds.federation", "parent", term="区") == ["城中区总工会", "城中区建筑公司工会"]
    assert autocomplete(client, "allocations.fund", "federation", term="城东") == []
    client.force_login(ned)
    assert autocomplete(client, "allocations.fund", "federation") == ["城东区总工会"]


@pytest.mark.django_db
def test_autocomplete_for_a_form_the_user_cannot_fill_is_empty(client, tree, olga):
    """Olga administers 城中区 but is no clerk: no federation to register people at."""
    client.force_login(olga)
    assert autocomplete(client, "beneficiaries.beneficiary", "federation") == []


@pytest.mark.django_db
def test_fund_and_beneficiary_autocomplete_stay_in_the_subtree(client, world, olga):
    client.force_login(olga)
    funds = autocomplete(client, "allocations.disbursement", "fund")
    in_subtree = Fund.objects.filter(federation__path__startswith=world["federation"][0].path)
    assert sorted(funds) == sorted(str(fund) for fund in in_subtree)
    assert str(world["fund"][1]) not in funds
    people_found = autocomplete(client, "allocations.disbursement", "beneficiary")
    assert people_found == [str(world["beneficiary"][0])]


# Adding through the services ------------------------------------------------------


@pytest.mark.django_db
def test_the_fund_add_page_opens_a_fund_through_the_service(client, tree, olga):
    client.force_login(olga)
    assert client.get("/admin/allocations/fund/add/").status_code == 200
    response = client.post(
        "/admin/allocations/fund/add/",
        {"federation": tree["grassroots"].pk, "name": "金秋助学", "purpose": "education", "fiscal_year": "2023"},
    )
    assert response.status_code == 302
    fund = Fund.objects.get(name="金秋助学")
    assert fund.federation == tree["grassroots"]
    assert fund.balance == Decimal("0.00") and fund.reserved == Decimal("0.00")
    event = AuditEvent.objects.get(action="fund.created", object_id=fund.pk)
    assert event.user == olga


@pytest.mark.django_db
def test_the_fund_add_page_refuses_a_federation_outside_the_users_subtree(client, tree, olga):
    client.force_login(olga)
    response = client.post(
        "/admin/allocations/fund/add/",
        {"federation": tree["chengdong"].pk, "name": "金秋助学", "purpose": "education", "fiscal_year": "2023"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["federation"]
    assert not Fund.objects.exists()


@pytest.mark.django_db
def test_the_fund_add_page_shows_the_services_refusal_next_to_its_field(client, tree, olga):
    client.force_login(olga)
    response = client.post(
        "/admin/allocations/fund/add/",
        {"federation": tree["chengzhong"].pk, "name": "金秋助学", "purpose": "education", "fiscal_year": "1999"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["fiscal_year"]
    assert not Fund.objects.exists()


@pytest.mark.django_db
def test_a_clerk_without_the_admin_role_has_no_fund_add_page(client, tree, alice):
    client.force_login(staff(alice))
    assert client.get("/admin/allocations/fund/add/").status_code == 403


@pytest.mark.django_db
def test_the_federation_add_page_adds_a_child_in_the_tree(client, tree, olga):
    client.force_login(olga)
    response = client.post(
        "/admin/unionfunds/federation/add/",
        {"parent": tree["chengzhong"].pk, "code": "630103-T01", "name": "南关街道工会", "level": "township"},
    )
    assert response.status_code == 302
    added = Federation.objects.get(code="630103-T01")
    assert added.parent == tree["chengzhong"]
    assert added.path.startswith(tree["chengzhong"].path) and added.depth == tree["chengzhong"].depth + 1
    assert Federation.objects.find_problems() == ([], [], [], [], [])


@pytest.mark.django_db
def test_the_federation_add_page_refuses_a_code_already_taken(client, tree, olga):
    client.force_login(olga)
    response = client.post(
        "/admin/unionfunds/federation/add/",
        {"parent": tree["chengzhong"].pk, "code": "630102", "name": "重复", "level": "township"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["code"]
    assert Federation.objects.filter(code="630102").count() == 1


@pytest.mark.django_db
def test_the_beneficiary_add_page_registers_a_person(client, tree, alice):
    client.force_login(staff(alice))
    number = synthetic_id(7)
    response = client.post(
        "/admin/beneficiaries/beneficiary/add/",
        {
            "federation": tree["chengzhong"].pk,
            "name": "王五",
            "id_number": number,
            "categories": [Category.objects.get(code="model_worker").pk],
        },
    )
    assert response.status_code == 302
    person = Beneficiary.objects.get(id_number=number)
    assert person.gender == "male" and person.birth_date.year == 1980
    assert list(person.categories.values_list("code", flat=True)) == ["model_worker"]
    assert AuditEvent.objects.filter(action="beneficiary.registered", object_id=person.pk).exists()


@pytest.mark.django_db
def test_the_beneficiary_add_page_refuses_a_wrong_check_digit(client, tree, alice):
    client.force_login(staff(alice))
    number = synthetic_id(7)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    response = client.post(
        "/admin/beneficiaries/beneficiary/add/",
        {"federation": tree["chengzhong"].pk, "name": "王五", "id_number": wrong},
    )
    assert response.status_code == 200
    assert "校验码不符" in response.content.decode()
    assert not Beneficiary.objects.exists()


@pytest.mark.django_db
def test_the_unit_add_page_creates_a_unit(client, tree, alice):
    client.force_login(staff(alice))
    response = client.post(
        "/admin/beneficiaries/unit/add/",
        {"federation": tree["grassroots"].pk, "name": "城中区疾控中心", "kind": "agency"},
    )
    assert response.status_code == 302
    assert Unit.objects.get(name="城中区疾控中心").federation == tree["grassroots"]


# Money entries: read-only, decided by the services ---------------------------------


@pytest.mark.django_db
def test_an_approved_entry_cannot_be_changed_in_the_admin(client, world, olga):
    contribution = world["contribution"][0]
    client.force_login(olga)
    page = client.get(change_page("contribution", contribution))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = client.post(change_page("contribution", contribution), {"amount": "1"})
    assert response.status_code == 403
    contribution.refresh_from_db()
    assert contribution.amount == Decimal("10000.00")


def post_action(client, model: str, action: str, entries, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [entry.pk for entry in entries], **extra}
    return client.post(changelist(model), data)


@pytest.mark.django_db
def test_an_approver_rejects_with_a_reason_given_on_a_page_of_its_own(client, fund, alice, bob):
    entry = money.contribution_create(fund=fund, source="donation", amount="300", by=alice)
    client.force_login(staff(bob))
    page = post_action(client, "contribution", "reject_selected", [entry], index="0")
    assert page.status_code == 200
    assert "reason" in page.context["form"].fields
    entry.refresh_from_db()
    assert entry.status == Status.PENDING

    no_reason = post_action(client, "contribution", "reject_selected", [entry], reason=" ")
    assert no_reason.status_code == 200
    assert no_reason.context["form"].errors

    done = post_action(client, "contribution", "reject_selected", [entry], reason="重复录入")
    assert done.status_code == 302
    entry.refresh_from_db()
    assert entry.status == Status.REJECTED
    assert entry.rejection_reason == "重复录入"
    assert entry.decided_by == bob


@pytest.mark.django_db
def test_the_maker_cannot_reject_their_own_entry_from_the_admin(client, tree, fund, alice):
    entry = money.contribution_create(fund=fund, source="donation", amount="300", by=alice)
    alice = staff(member("alice", tree["chengzhong"], Role.APPROVER))
    client.force_login(alice)
    response = post_action(client, "contribution", "reject_selected", [entry], reason="录错了")
    assert response.status_code == 302
    [refusal] = get_messages(response.wsgi_request)
    assert refusal.level == messages.ERROR
    entry.refresh_from_db()
    assert entry.status == Status.PENDING


@pytest.mark.django_db
def test_a_clerk_requests_a_reversal_of_an_approved_entry(client, fund, alice, bob):
    original = Contribution.objects.get(fund=fund)
    client.force_login(staff(alice))
    response = post_action(client, "contribution", "reverse_selected", [original], reason="来源记错")
    assert response.status_code == 302
    reversal = Contribution.objects.get(reverses=original)
    assert reversal.status == Status.PENDING
    assert reversal.reason == "来源记错"
    fund.refresh_from_db()
    assert fund.reserved == original.amount


@pytest.mark.django_db
def test_actions_never_reach_an_entry_outside_the_subtree(client, world, tree, bob):
    theirs = world["allocation"][1]
    client.force_login(staff(bob))
    post_action(client, "allocation", "reject_selected", [theirs], reason="不是我们的")
    theirs.refresh_from_db()
    assert theirs.status == Status.PENDING
    assert theirs.rejection_reason == ""


@pytest.mark.django_db
@pytest.mark.parametrize("model", sorted(APP))
def test_every_admin_page_renders_for_a_superuser(client, world, django_user_model, model):
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    mine, _theirs = world[model]
    assert client.get("/admin/").status_code == 200
    assert client.get(changelist(model), {"q": "城"}).status_code == 200
    assert client.get(change_page(model, mine)).status_code == 200
    with_import = model in {"federation", "fund", "beneficiary", "unit"}
    with_add = with_import or model == "membership"  # roles are given there, one at a time
    assert client.get(f"/admin/{APP[model]}/{model}/add/").status_code == (200 if with_add else 403)
    for step in ("import", "export"):
        response = client.get(f"/admin/{APP[model]}/{model}/{step}/", follow=True)
        assert response.status_code == (200 if with_import else 404)


@pytest.mark.django_db
def test_the_audit_trail_in_the_admin_names_what_happened_in_words(client, world, olga):
    client.force_login(olga)
    page = client.get(changelist("auditevent")).content.decode()
    assert "资金下拨 · 录入" in page and "资金发放 · 录入" in page
    assert "allocation.created" not in page.replace('action=allocation.created"', "")  # only in the filter's link
    assert 'href="?action=allocation.created"' in page  # the filter, labelled in words too
    theirs = world["allocation"][1]
    filtered = client.get(changelist("auditevent"), {"action": "allocation.created"})
    listed = {event.object_id for event in filtered.context["cl"].result_list}
    assert world["allocation"][0].pk in listed and theirs.pk not in listed


@pytest.mark.django_db
def test_the_export_log_in_the_admin_names_the_list_in_words(client, world, alice, olga, tree):
    exportlog.record(
        user=alice, what="disbursements", format="csv", query={}, rows=2, full_ids=False, federation=tree["chengzhong"]
    )
    client.force_login(olga)
    page = client.get("/admin/unionfunds/exportrecord/").content.decode()
    with translation.override("zh-hans"):
        title = str(listexports.EXPORTS["disbursements"].title())
    assert f'<td class="field-what_shown">{title}</td>' in page
