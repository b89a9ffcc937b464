"""Whoever may not see a person's full ID number cannot rebuild it either: the
birth date (digits 7-14) and the full phone are hidden beside the masked number,
through every door, and a search by a whole number finds only the people the
searcher may see in full (docs/DOMAIN.md, "Masked numbers stay masked")."""

import csv
import datetime
import io

import openpyxl
import pytest

from beneficiaries import archive
from beneficiaries import services as people
from tests.api_helpers import client_for
from tests.conftest import synthetic_id

BIRTH = datetime.date(1988, 11, 6)
PHONE = "13812345678"

# Who sees the number in full: the clerks and auditors at the person's
# federation or above (alice, carol). bob approves, olga administers, gus is of
# another province (sees nothing at all).
FULL = {"alice": True, "carol": True, "bob": False, "olga": False, "gus": None}


@pytest.fixture
def person(tree, alice):
    return people.beneficiary_register(
        name="王五", id_number=synthetic_id(29, birth=BIRTH), phone=PHONE, federation=tree["chengzhong"], by=alice
    )


@pytest.fixture
def users(alice, bob, carol, olga, outsider):
    return {"alice": alice, "bob": bob, "carol": carol, "olga": olga, "gus": outsider}


def _text(response) -> str:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if response["Content-Type"].startswith("application/vnd.openxmlformats"):
        book = openpyxl.load_workbook(io.BytesIO(body))
        cells = [cell for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row]
        return "\n".join(c.isoformat()[:10] if isinstance(c, datetime.date) else str(c) for c in cells if c)
    if response["Content-Type"].startswith("text/csv"):
        content = body.decode("utf-8-sig")
        return "\n".join(",".join(row) for row in csv.reader(io.StringIO(content)))
    return body.decode()


@pytest.fixture
def household(person, tree, alice):
    """王五's household, filed for the hardship archive."""
    line = archive.MemberLine(people.person_line(name=person.name, id_number=person.id_number), "head")
    return archive.household_file(federation=tree["chengzhong"], members=[line], by=alice)


def _doors(person, household) -> dict[str, tuple[str, str]]:
    """door name → (client kind, url)."""
    number = person.id_number
    return {
        "api household": ("api", f"/api/v1/households/{household.pk}/"),
        "api households": ("api", "/api/v1/households/"),
        "api households by number": ("api", f"/api/v1/households/?id_number={number}"),
        "api detail": ("api", f"/api/v1/beneficiaries/{person.pk}/"),
        "api list": ("api", "/api/v1/beneficiaries/"),
        "api csv": ("api", "/api/v1/beneficiaries/?format=csv&full_ids=1"),
        "api xlsx": ("api", "/api/v1/beneficiaries/?format=xlsx&full_ids=1"),
        "api filter by number": ("api", f"/api/v1/beneficiaries/?id_number={number}"),
        "page of the person": ("page", f"/beneficiaries/{person.pk}/"),
        "page list search by number": ("page", f"/beneficiaries/?q={number}"),
        "page export csv": ("page", "/beneficiaries/export.csv?full_ids=1"),
        "page export xlsx": ("page", "/beneficiaries/export.xlsx?full_ids=1"),
        "admin change list": ("page", "/admin/beneficiaries/beneficiary/"),
        "admin search by number": ("page", f"/admin/beneficiaries/beneficiary/?q={number}"),
        "admin change form": ("page", f"/admin/beneficiaries/beneficiary/{person.pk}/change/"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("who", sorted(FULL))
def test_no_one_who_may_not_see_the_number_can_rebuild_it(client, person, household, users, who, subtests):
    user = users[who]
    api = client_for(user)
    client.force_login(user)
    for door, (kind, url) in _doors(person, household).items():
        if door.startswith("admin") and not user.is_staff:
            continue  # the admin is closed to non-staff; test_admin_pages covers that
        with subtests.test(door=door):
            response = (api if kind == "api" else client).get(url)
            # A search page echoes what the user typed; that reveals nothing new.
            echo = person.id_number if "by number" in door else "\0"
            if FULL[who] is None:  # another subtree: nothing of the person, by any door
                assert response.status_code in (200, 403, 404), door
                text = _text(response).replace(echo, "") if response.status_code == 200 else ""
                assert person.masked_id_number not in text and person.id_number not in text, door
                continue
            assert response.status_code == 200, door
            text = _text(response)
            if FULL[who] and not door.startswith("admin") and door != "page of the person":
                assert person.id_number in text, door  # may see it, and the showing is logged
                continue
            text = text.replace(echo, "")
            assert person.id_number not in text, door
            assert BIRTH.isoformat() not in text and "19881106" not in text, door
            assert PHONE not in text, door
            if "by number" in door:
                # The search is a full view: it finds no one the user may not see in full.
                assert person.masked_id_number not in text and person.name not in text, door


@pytest.mark.django_db
def test_the_api_shows_the_birth_year_and_a_masked_phone_to_an_approver(person, bob):
    data = client_for(bob).get(f"/api/v1/beneficiaries/{person.pk}/").json()
    assert data["id_number"] == person.masked_id_number
    assert data["birth_date"] is None and data["birth_year"] == 1988
    assert data["phone"] == "138****5678"
    assert data["gender"] == person.gender  # digit 17 alone does not rebuild the number


@pytest.mark.django_db
def test_the_api_shows_birth_date_and_phone_to_a_clerk_who_sees_the_number(person, alice):
    data = client_for(alice).get(f"/api/v1/beneficiaries/{person.pk}/").json()
    assert data["id_number"] == person.id_number
    assert data["birth_date"] == BIRTH.isoformat() and data["phone"] == PHONE


@pytest.mark.django_db
def test_the_last_four_a_masked_number_shows_find_whom_they_show_them_of(client, person, users, tree):
    other = people.beneficiary_register(
        name="另一人", id_number=synthetic_id(77), federation=tree["chengzhong"], by=users["alice"]
    )
    last_four = person.id_number[-4:]
    assert other.id_number[-4:] != last_four
    client.force_login(users["bob"])  # an approver: sees the numbers masked
    for typed in (last_four, last_four.lower(), f" {last_four} "):
        page = client.get("/beneficiaries/", {"q": typed}).content.decode()
        assert person.masked_id_number in page and other.masked_id_number not in page, typed
    # Three, five or odd digits are no last four: they find no number.
    for typed in (last_four[1:], "1" + last_four, "０" + last_four[1:], "\x00" + last_four):
        assert person.masked_id_number not in client.get("/beneficiaries/", {"q": typed}).content.decode()
    # Someone of another county finds no one by them.
    client.force_login(users["gus"])
    assert person.masked_id_number not in client.get("/beneficiaries/", {"q": last_four}).content.decode()
