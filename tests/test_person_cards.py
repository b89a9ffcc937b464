"""Each federation keeps its own card (登记卡) of the people it registered or
paid (docs/DOMAIN.md, rule 3): the register stays national, one person per ID
number, but a clerk who registers or pays a number registered outside her
subtree is answered as for a new person, and from then on sees the person as
she typed them, through every door, never as the register has them.

赵六 is registered by 城东区 (Dave) with his phone, employer and category; Alice,
clerk of 城中区 next door, types the same number as 钱七 with her own."""

import datetime
import importlib
import uuid

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Disbursement
from beneficiaries import idnumber
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, Category, PersonCard, mask_phone
from tests.api_helpers import API, client_for
from tests.conftest import member, staff, synthetic_id
from tests.probe.leaks import response_text
from unionfunds.models import AuditEvent, Role

DAY = datetime.date(2022, 4, 20)
REGISTERED, REGISTERED_PHONE, REGISTERED_EMPLOYER = "赵六", "13912345678", "城东钢铁厂"
TYPED, TYPED_PHONE, TYPED_EMPLOYER = "钱七", "13800001111", "城中建筑公司"
# Two numbers of the same birth date and gender: their answers differ by nothing else.
ELSEWHERE, UNKNOWN = synthetic_id(99, area="630102"), synthetic_id(97, area="630102")


def secrets_of(person: Beneficiary) -> list[str]:
    """What the register says of 赵六 that Alice never typed."""
    return [
        REGISTERED,
        REGISTERED_PHONE,
        mask_phone(REGISTERED_PHONE),
        REGISTERED_EMPLOYER,
        person.federation.name,
    ]


@pytest.fixture
def registered(tree, dave) -> Beneficiary:
    """赵六, a model worker registered by 城东区, outside 城中区's subtree."""
    return people.beneficiary_register(
        name=REGISTERED,
        id_number=ELSEWHERE,
        federation=tree["chengdong"],
        phone=REGISTERED_PHONE,
        employer=REGISTERED_EMPLOYER,
        categories=["model_worker"],
        by=dave,
    )


def typed(tree, number: str) -> dict:
    return {
        "name": TYPED,
        "id_number": number,
        "federation": tree["chengzhong"].pk,
        "phone": TYPED_PHONE,
        "employer": TYPED_EMPLOYER,
        "categories": ["migrant_worker"],
    }


@pytest.fixture
def carded(tree, alice, registered) -> Beneficiary:
    """赵六 as Alice registered him: through her card."""
    answer = client_for(alice).post(API + "beneficiaries/", typed(tree, ELSEWHERE), format="json")
    assert answer.status_code == 201, answer.content
    return registered


def body_of(response) -> str:
    return response_text(response)


# Registering ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_registers_a_number_registered_elsewhere_as_it_registers_an_unknown_one(tree, alice, registered):
    api = client_for(alice)
    fresh = api.post(API + "beneficiaries/", typed(tree, UNKNOWN), format="json")
    card = api.post(API + "beneficiaries/", typed(tree, ELSEWHERE), format="json")

    assert (fresh.status_code, card.status_code) == (201, 201)
    differ = ("id", "id_number", "created_at")
    assert {k: v for k, v in card.json().items() if k not in differ} == {
        k: v for k, v in fresh.json().items() if k not in differ
    }
    assert card.json()["id_number"] == ELSEWHERE  # she typed it: shown back in full, as a fresh one is
    assert card.json()["federation"] == tree["chengzhong"].pk and card.json()["name"] == TYPED
    text = body_of(card)
    assert not [secret for secret in secrets_of(registered) if secret in text], text

    # The register is as 城东区 left it; 城中区's card holds what Alice typed.
    registered.refresh_from_db()
    assert (registered.name, registered.phone, registered.employer) == (
        REGISTERED,
        REGISTERED_PHONE,
        REGISTERED_EMPLOYER,
    )
    card_row = PersonCard.objects.get(beneficiary=registered)
    assert (card_row.federation, card_row.name, card_row.phone, card_row.employer, card_row.created_by) == (
        tree["chengzhong"],
        TYPED,
        TYPED_PHONE,
        TYPED_EMPLOYER,
        alice,
    )
    assert [c.code for c in card_row.categories.all()] == ["migrant_worker"]
    assert Beneficiary.objects.count() == 2  # one person per ID number, still


@pytest.mark.django_db
def test_a_card_is_audited_at_its_federation_with_the_number_and_phone_masked(tree, alice, carded):
    event = AuditEvent.objects.get(action="card.created")
    assert (event.user, event.federation, event.object_id) == (alice, tree["chengzhong"], carded.pk)
    assert event.changes["id_number"]["after"] == idnumber.mask(ELSEWHERE)
    assert event.changes["phone"]["after"] == mask_phone(TYPED_PHONE)
    assert event.changes["name"]["after"] == TYPED and REGISTERED not in event.object_repr


@pytest.mark.django_db
def test_a_number_she_sees_is_still_already_registered(tree, alice, carded, worker):
    api = client_for(alice)
    for number in (ELSEWHERE, worker.id_number):  # her card, a person of her subtree
        answer = api.post(API + "beneficiaries/", typed(tree, number), format="json")
        assert answer.status_code == 409 and answer.json()["code"] == "already_registered"
    assert PersonCard.objects.count() == 1


@pytest.mark.django_db
def test_the_admin_add_page_answers_the_same_for_an_unknown_number_and_one_registered_elsewhere(
    client, tree, alice, registered
):
    client.force_login(staff(alice))
    pages = []
    for number in (UNKNOWN, ELSEWHERE):
        data = {**typed(tree, number), "categories": [Category.objects.get(code="migrant_worker").pk]}
        answer = client.post("/admin/beneficiaries/beneficiary/add/", data, follow=True)
        assert answer.status_code == 200 and answer.redirect_chain[0][1] == 302
        pages.append(body_of(answer))
    assert [TYPED in page for page in pages] == [True, True]
    assert not [secret for secret in secrets_of(registered) if secret in pages[1]]
    assert PersonCard.objects.get(beneficiary=registered).name == TYPED


@pytest.mark.django_db
def test_the_admin_import_answers_the_same_for_an_unknown_number_and_one_registered_elsewhere(
    client, tree, alice, registered
):
    client.force_login(staff(alice))
    rows = (
        "name,id_number,phone,employer,federation,categories\n"
        f"{TYPED},{UNKNOWN},{TYPED_PHONE},{TYPED_EMPLOYER},630103,migrant_worker\n"
        f"{TYPED},{ELSEWHERE},{TYPED_PHONE},{TYPED_EMPLOYER},630103,migrant_worker\n"
    )
    sheet = SimpleUploadedFile("rows.csv", rows.encode(), content_type="text/csv")
    previewed = client.post(
        "/admin/beneficiaries/beneficiary/import/", {"format": "0", "resource": "0", "import_file": sheet}
    )
    result = previewed.context["result"]
    assert [row.import_type for row in result.rows] == ["new", "new"]
    assert [row.diff[0] for row in result.rows] == [row.diff[0] for row in result.rows[:1]] * 2  # the name column
    assert not [secret for secret in secrets_of(registered) if secret in body_of(previewed)]
    confirmed = client.post(
        "/admin/beneficiaries/beneficiary/process_import/", previewed.context["confirm_form"].initial, follow=True
    )
    assert confirmed.status_code == 200
    assert not [secret for secret in secrets_of(registered) if secret in body_of(confirmed)]
    assert PersonCard.objects.get(beneficiary=registered).phone == TYPED_PHONE


@pytest.mark.django_db
def test_an_import_row_of_a_person_seen_through_a_card_changes_the_card_not_the_register(client, tree, alice, carded):
    client.force_login(staff(alice))
    sheet = SimpleUploadedFile(
        "rows.csv", f"name,id_number,phone,federation\n{TYPED},{ELSEWHERE},13700002222,630103\n".encode()
    )
    previewed = client.post(
        "/admin/beneficiaries/beneficiary/import/", {"format": "0", "resource": "0", "import_file": sheet}
    )
    assert [row.import_type for row in previewed.context["result"].rows] == ["update"]
    assert not [secret for secret in secrets_of(carded) if secret in body_of(previewed)]
    client.post("/admin/beneficiaries/beneficiary/process_import/", previewed.context["confirm_form"].initial)
    assert PersonCard.objects.get(beneficiary=carded).phone == "13700002222"
    carded.refresh_from_db()
    assert carded.phone == REGISTERED_PHONE
    assert AuditEvent.objects.filter(action="card.edited", federation=tree["chengzhong"]).count() == 1


# Paying -------------------------------------------------------------------------


def pay(fund, clerk, name: str, number: str) -> Disbursement:
    created = money.disbursements_create(
        fund=fund,
        rows=[ListRow(name=name, id_number=number, amount="100", phone=TYPED_PHONE)],
        assistance_type="living",
        date=DAY,
        by=clerk,
    )
    return Disbursement.objects.get(pk=created.ids[0])


@pytest.mark.django_db
def test_a_person_paid_then_looked_up_answers_as_one_she_registered_by_paying(client, rich_fund, alice, registered):
    elsewhere, fresh = pay(rich_fund, alice, TYPED, ELSEWHERE), pay(rich_fund, alice, TYPED, UNKNOWN)
    assert elsewhere.beneficiary_id == registered.pk
    api = client_for(alice)
    answers = [api.get(f"{API}beneficiaries/{paid.beneficiary_id}/") for paid in (elsewhere, fresh)]
    assert [answer.status_code for answer in answers] == [200, 200]
    differ = ("id", "id_number", "created_at")
    assert {k: v for k, v in answers[0].json().items() if k not in differ} == {
        k: v for k, v in answers[1].json().items() if k not in differ
    }
    assert answers[0].json()["name"] == TYPED and answers[0].json()["federation"] == rich_fund.federation_id
    client.force_login(alice)
    page = client.get(f"/beneficiaries/{elsewhere.beneficiary_id}/")
    assert page.status_code == 200 and TYPED in body_of(page)
    assert not [secret for secret in secrets_of(registered) if secret in body_of(page) + body_of(answers[0])]
    # The payment's page links to the person, as it does for anyone she registered.
    entry = body_of(client.get(f"/entries/disbursement/{elsewhere.pk}/"))
    assert f'href="/beneficiaries/{registered.pk}/"' in entry


@pytest.mark.django_db
def test_paying_a_person_she_holds_a_card_of_leaves_the_card_as_it_is(rich_fund, alice, carded):
    pay(rich_fund, alice, TYPED, ELSEWHERE)
    assert PersonCard.objects.get(beneficiary=carded).employer == TYPED_EMPLOYER
    assert AuditEvent.objects.filter(action="card.created").count() == 1


def thousand(area: str) -> list[str]:
    return [
        synthetic_id(n % 900 + 1, area=area, birth=datetime.date(1980, 1, 1) + datetime.timedelta(days=n // 900))
        for n in range(1000)
    ]


@pytest.mark.django_db
def test_a_list_of_1000_people_registered_elsewhere_writes_their_cards_in_a_bounded_number_of_queries(
    tree, rich_fund, alice, dave, django_assert_max_num_queries
):
    """The cards cost a few queries more than the same list paid to her own people,
    however long the list (on PostgreSQL one insert each for cards and audit; on
    SQLite a few batches)."""
    own, theirs = thousand("630103"), thousand("630102")
    for numbers, federation, clerk in ((own, "chengzhong", alice), (theirs, "chengdong", dave)):
        lines = [people.person_line(name=f"名{n}", id_number=number) for n, number in enumerate(numbers)]
        people.people_register(lines, federation=tree[federation], by=clerk)

    def rows(numbers: list[str]) -> list[ListRow]:
        return [
            ListRow(name=f"名{n}", id_number=number, amount="1", employer="城中") for n, number in enumerate(numbers)
        ]

    with CaptureQueriesContext(connection) as baseline:
        money.disbursements_create(fund=rich_fund, rows=rows(own), assistance_type="living", date=DAY, by=alice)
    assert not PersonCard.objects.exists()
    with django_assert_max_num_queries(len(baseline.captured_queries) + 30):
        money.disbursements_create(fund=rich_fund, rows=rows(theirs), assistance_type="medical", date=DAY, by=alice)
    cards = PersonCard.objects.filter(federation=tree["chengzhong"])
    assert cards.count() == 1000 and set(cards.values_list("employer", flat=True)) == {"城中"}
    assert AuditEvent.objects.filter(action="card.created").count() == 1000
    assert Beneficiary.objects.count() == 2000


# Seeing -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_card_only_viewer_never_sees_the_registers_words_on_any_page_api_or_export(client, alice, carded):
    client.force_login(staff(alice))
    api = client_for(alice)
    pk = carded.pk
    answers = {
        url: client.get(url)
        for url in (
            "/beneficiaries/",
            f"/beneficiaries/?q={TYPED}",
            f"/beneficiaries/{pk}/",
            "/beneficiaries/export.csv",
            "/beneficiaries/export.xlsx",
            "/beneficiaries/export.csv?full_ids=1",
            f"/beneficiaries/check/?id_number={ELSEWHERE}",
            "/admin/beneficiaries/beneficiary/",
            f"/admin/beneficiaries/beneficiary/{pk}/change/",
            f"/admin/beneficiaries/beneficiary/{pk}/history/",
            "/",
        )
    }
    answers |= {
        url: api.get(url)
        for url in (
            f"{API}beneficiaries/",
            f"{API}beneficiaries/{pk}/",
            f"{API}beneficiaries/?id_number={ELSEWHERE}",
            f"{API}beneficiaries/export/csv/?full_ids=1",
            f"{API}beneficiaries/export/xlsx/",
        )
    }
    for url, answer in answers.items():
        text = body_of(answer)
        assert answer.status_code == 200, url
        assert TYPED in text, url
        assert not [secret for secret in secrets_of(carded) if secret in text], (url, text[:3000])
    assert client.get(f"/beneficiaries/check/?id_number={ELSEWHERE}").json()["registered_name"] == TYPED
    # Her category, not the register's: in the API, the person's page and the sheets.
    assert api.get(f"{API}beneficiaries/{pk}/").json()["categories"] == ["migrant_worker"]
    theirs, hers = (str(Category.objects.get(code=code)) for code in ("model_worker", "migrant_worker"))
    for url in (f"/beneficiaries/{pk}/", "/beneficiaries/export.csv", f"{API}beneficiaries/export/csv/"):
        text = body_of(api.get(url) if url.startswith(API) else client.get(url))
        assert hers in text and theirs not in text.split("<select")[0], url


@pytest.mark.django_db
def test_she_may_see_the_number_she_typed_in_full_and_the_showing_is_filed_at_her_federation(
    client, tree, alice, carded
):
    client.force_login(alice)
    page = client.post(f"/beneficiaries/{carded.pk}/")
    assert page.status_code == 200 and ELSEWHERE in body_of(page) and TYPED_PHONE in body_of(page)
    shown = AuditEvent.objects.get(action="beneficiary.id_number_shown")
    assert (shown.federation, REGISTERED in shown.object_repr) == (tree["chengzhong"], False)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "found"),
    [
        ({"q": TYPED}, True),
        ({"q": TYPED_EMPLOYER}, True),
        ({"q": REGISTERED}, False),
        ({"q": REGISTERED_EMPLOYER}, False),
        ({"category": "migrant_worker"}, True),
        ({"category": "model_worker"}, False),
    ],
)
def test_searches_and_filters_find_the_person_by_her_card_never_by_the_register(client, alice, carded, query, found):
    client.force_login(staff(alice))
    page = client.get("/beneficiaries/", query)
    api = client_for(alice).get(f"{API}beneficiaries/", query if "category" in query else {})
    admin = client.get("/admin/beneficiaries/beneficiary/", query)
    assert (TYPED in body_of(page)) is found
    assert (TYPED in body_of(admin)) is found
    if "category" in query:
        assert ([row["name"] for row in api.json()["results"]] == [TYPED]) is found


@pytest.mark.django_db
def test_the_api_orders_by_the_name_she_sees(tree, alice, carded):
    people.beneficiary_register(name="阿大", id_number=synthetic_id(5), federation=tree["chengzhong"], by=alice)
    names = [row["name"] for row in client_for(alice).get(f"{API}beneficiaries/?ordering=-name").json()["results"]]
    assert names == sorted([TYPED, "阿大"], reverse=True)


@pytest.mark.django_db
def test_the_home_federation_sees_the_register_and_nothing_of_the_neighbours_card(client, tree, dave, carded):
    client.force_login(staff(dave))
    for url in (f"/beneficiaries/{carded.pk}/", f"/admin/beneficiaries/beneficiary/{carded.pk}/history/", "/"):
        text = body_of(client.get(url))
        assert TYPED not in text and TYPED_EMPLOYER not in text, url
    assert REGISTERED in body_of(client.get(f"/beneficiaries/{carded.pk}/"))
    assert client_for(dave).get(f"{API}beneficiaries/{carded.pk}/").json()["name"] == REGISTERED


@pytest.mark.django_db
def test_a_level_that_sees_the_home_record_sees_the_register(client, tree, carded):
    client.force_login(member("xavier", tree["xining"], Role.AUDITOR))
    text = body_of(client.get(f"/beneficiaries/{carded.pk}/"))
    assert REGISTERED in text and REGISTERED_EMPLOYER in text


@pytest.mark.django_db
def test_a_person_read_through_a_card_cannot_be_saved_over_the_register(alice, carded):
    seen = Beneficiary.objects.visible_to(alice).get(pk=carded.pk)
    assert seen.name == TYPED
    with pytest.raises(TypeError):
        seen.save()
    carded.refresh_from_db()
    assert carded.name == REGISTERED


@pytest.mark.django_db
def test_a_list_of_people_seen_through_cards_has_one_row_each(tree, alice, rich_fund, carded):
    """Several cards of one person in the subtree (the county's and a grassroots union's) are one row."""
    money.disbursements_create(
        fund=rich_fund,
        rows=[ListRow(name=TYPED, id_number=ELSEWHERE, amount="5")],
        assistance_type="medical",
        date=DAY,
        by=alice,
        home_federation=tree["grassroots"],
    )
    assert PersonCard.objects.filter(beneficiary=carded).count() == 2
    rows = client_for(alice).get(f"{API}beneficiaries/").json()["results"]
    assert [row["name"] for row in rows] == [TYPED]


# Payments made before cards existed --------------------------------------------


@pytest.mark.django_db
def test_the_migration_gives_a_card_to_each_federation_that_paid_a_person_registered_elsewhere(
    rich_fund, alice, registered, worker
):
    paid = pay(rich_fund, alice, TYPED, ELSEWHERE)
    pay(rich_fund, alice, worker.name, worker.id_number)  # her own: no card
    PersonCard.objects.all().delete()
    migration = importlib.import_module("beneficiaries.migrations.0005_person_cards")
    migration.cards_for_past_payments(apps, None)
    [card] = PersonCard.objects.all()
    assert (card.beneficiary_id, card.federation_id, card.name) == (registered.pk, rich_fund.federation_id, TYPED)
    assert (card.created_by, card.created_at) == (alice, paid.created_at)


@pytest.mark.django_db
def test_a_form_payment_by_id_number_also_makes_the_card(client, alice, fund, registered):
    client.force_login(alice)
    data = {
        "fund": fund.pk,
        "id_number": ELSEWHERE,
        "name": TYPED,
        "assistance_type": "living",
        "amount": "800",
        "date": "2022-04-02",
        "submission": str(uuid.uuid4()),
    }
    assert client.post("/entries/new/disbursement/", data).status_code == 302
    assert PersonCard.objects.get(beneficiary=registered).name == TYPED
    assert client.get(f"/beneficiaries/check/?id_number={ELSEWHERE}").json()["registered_name"] == TYPED
