"""The national register of ID numbers is no oracle (docs/DOMAIN.md, rule 3): a
clerk paying a person by ID number learns nothing of people outside their
subtree. A number registered elsewhere is paid, under the name the clerk typed,
which the payment keeps; the person's record is not theirs to see or to be told
about. Within the clerk's subtree a wrong name is still refused, naming the
registered one."""

import datetime
import uuid

import pytest

from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Disbursement
from beneficiaries import services as people
from beneficiaries.models import Beneficiary
from tests.api_helpers import API, client_for
from tests.conftest import member, staff, synthetic_id
from unionfunds.models import AuditEvent, Role

DAY = datetime.date(2022, 4, 20)
REGISTERED = "赵六"
TYPED = "钱七"


@pytest.fixture
def elsewhere(tree, dave) -> Beneficiary:
    """A migrant worker registered by 城东区, outside 城中区's subtree."""
    return people.beneficiary_register(
        name=REGISTERED, id_number=synthetic_id(99, area="630102"), federation=tree["chengdong"], by=dave
    )


def paid_as(pk: int) -> tuple[str, str, int]:
    paid = Disbursement.objects.get(pk=pk)
    return paid.payee_name, paid.payee_id_number, paid.beneficiary_id


@pytest.mark.django_db
@pytest.mark.parametrize("name", [TYPED, REGISTERED])
def test_a_list_pays_a_person_registered_elsewhere_under_the_name_typed(rich_fund, alice, elsewhere, name):
    created = money.disbursements_create(
        fund=rich_fund,
        rows=[ListRow(name=name, id_number=elsewhere.id_number, amount="100")],
        assistance_type="living",
        date=DAY,
        by=alice,
    )
    assert paid_as(created.ids[0]) == (name, elsewhere.id_number, elsewhere.pk)
    assert Beneficiary.objects.count() == 1  # the same person, not a second record
    elsewhere.refresh_from_db()
    assert elsewhere.name == REGISTERED  # the register is not rewritten by the payer


@pytest.mark.django_db
def test_the_api_answers_the_same_whether_a_number_is_registered_elsewhere_or_not(fund, alice, elsewhere):
    def pay(name, number, kind):
        body = {"fund": fund.pk, "person": {"name": name, "id_number": number}, "assistance_type": kind}
        return client_for(alice).post(API + "disbursements/", {**body, "amount": "10.00"}, format="json")

    unknown, wrong_name = pay(TYPED, synthetic_id(98), "living"), pay(TYPED, elsewhere.id_number, "living")
    assert [r.status_code for r in (unknown, wrong_name)] == [201, 201]
    shape = {key for key in unknown.json() if key not in ("id", "beneficiary", "created_at")}
    assert {key for key in wrong_name.json() if key not in ("id", "beneficiary", "created_at")} == shape
    assert REGISTERED not in wrong_name.content.decode()
    assert paid_as(wrong_name.json()["id"])[:2] == (TYPED, elsewhere.id_number)
    # Paid once, each is the clerk's to see as she typed them (the card, docs/DOMAIN.md rule 3):
    # another name is refused alike, naming what she typed, never the register.
    again = [pay(REGISTERED, number, "medical") for number in (synthetic_id(98), elsewhere.id_number)]
    assert [r.status_code for r in again] == [400, 400]
    assert again[0].json() == again[1].json()
    assert again[0].json()["code"] == "name_mismatch" and TYPED in again[0].json()["message"]


@pytest.mark.django_db
def test_the_api_bulk_list_says_nothing_of_a_person_registered_elsewhere(rich_fund, alice, elsewhere):
    body = {
        "fund": rich_fund.pk,
        "assistance_type": "living",
        "date": "2022-04-20",
        "rows": [{"name": TYPED, "id_number": elsewhere.id_number, "amount": "100.00"}],
    }
    answer = client_for(alice).post(API + "disbursements/bulk/", body, format="json")
    assert answer.status_code == 201, answer.content
    assert REGISTERED not in answer.content.decode()
    assert Disbursement.objects.get().payee_name == TYPED


@pytest.mark.django_db
def test_the_form_and_the_pages_show_the_name_typed_not_the_register(client, alice, bob, fund, elsewhere):
    client.force_login(alice)
    data = {
        "fund": fund.pk,
        "id_number": elsewhere.id_number,
        "name": TYPED,
        "assistance_type": "living",
        "amount": "800",
        "date": "2022-04-02",
        "submission": str(uuid.uuid4()),
    }
    assert client.get(f"/beneficiaries/check/?id_number={elsewhere.id_number}").json()["registered_name"] is None
    assert client.post("/entries/new/disbursement/", data).status_code == 302
    paid = Disbursement.objects.get()
    for url in (f"/entries/disbursement/{paid.pk}/", "/disbursements/", "/disbursements/export.csv"):
        response = client.get(url)
        page = b"".join(response.streaming_content if response.streaming else [response.content]).decode()
        assert TYPED in page and REGISTERED not in page, url
    client.force_login(bob)
    queue = client.get("/approvals/").content.decode()
    assert TYPED in queue and REGISTERED not in queue


@pytest.mark.django_db
def test_within_my_subtree_a_wrong_name_is_still_refused_with_the_registered_one(rich_fund, alice, worker):
    with pytest.raises(money.ListRefused) as refused:
        money.disbursements_create(
            fund=rich_fund,
            rows=[ListRow(name=TYPED, id_number=worker.id_number, amount="100")],
            assistance_type="living",
            date=DAY,
            by=alice,
        )
    [problem] = refused.value.problems
    assert problem.code == "name_mismatch" and worker.name in problem.message and TYPED in problem.message


@pytest.mark.django_db
def test_a_level_that_sees_both_sees_the_name_paid_and_the_registered_one(elsewhere, rich_fund, alice, tree, client):
    created = money.disbursements_create(
        fund=rich_fund,
        rows=[ListRow(name=TYPED, id_number=elsewhere.id_number, amount="100")],
        assistance_type="living",
        date=DAY,
        by=alice,
    )
    client.force_login(member("xavier", tree["xining"], Role.AUDITOR))
    page = client.get(f"/entries/disbursement/{created.ids[0]}/").content.decode()
    assert TYPED in page
    assert REGISTERED in client.get(f"/beneficiaries/{elsewhere.pk}/").content.decode()


@pytest.mark.django_db
def test_decisions_searches_and_the_admin_name_the_payee_as_paid(client, rich_fund, alice, bob, elsewhere):
    created = money.disbursements_create(
        fund=rich_fund,
        rows=[ListRow(name=TYPED, id_number=elsewhere.id_number, amount="100")],
        assistance_type="living",
        date=DAY,
        by=alice,
    )
    paid = Disbursement.objects.get(pk=created.ids[0])
    money.movements_approve(movements=[paid], by=bob)
    approved = AuditEvent.objects.get(action="disbursement.approved")
    assert TYPED in approved.object_repr and REGISTERED not in approved.object_repr
    client.force_login(staff(alice))
    # The register's name finds no payment: searching by it would confirm a guess.
    assert TYPED not in client.get("/disbursements/", {"q": REGISTERED}).content.decode()
    assert TYPED in client.get("/disbursements/", {"q": TYPED}).content.decode()
    for url in ("/admin/allocations/disbursement/", f"/admin/allocations/disbursement/{paid.pk}/change/"):
        page = client.get(url).content.decode()
        assert TYPED in page and REGISTERED not in page, url
    assert TYPED not in client.get("/admin/allocations/disbursement/", {"q": REGISTERED}).content.decode()
