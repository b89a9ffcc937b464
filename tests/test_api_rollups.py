"""`GET /api/v1/rollups/<id>/`: API.md's body with the 青海 figures, scoped like everything else."""

import pytest

from tests.api_helpers import API, client_for, codes


@pytest.mark.django_db
def test_the_qinghai_roll_up_has_api_md_s_shape_and_figures(qinghai_2022, carol, tree):
    response = client_for(carol).get(f"{API}rollups/{tree['qinghai'].pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["federation"] == {"id": tree["qinghai"].pk, "code": "63", "name": "青海省总工会", "level": "province"}
    assert body["total"]["raised"] == {
        "total": "8040000.00",
        "by_source": {"own_funds": "2600000.00", "matching": "3610000.00", "self_raised": "1830000.00"},
        "by_level": {"province": "2600000.00", "city": "3610000.00", "grassroots": "1830000.00"},
    }
    assert (body["total"]["disbursed"], body["total"]["person_times"], body["total"]["persons"]) == ("5000.00", 4, 3)
    assert body["own"]["allocated_out"] == "200000.00"
    xining = next(child for child in body["children"] if child["federation"]["code"] == "6301")
    assert xining["raised"]["by_source"]["allocation"] == "200000.00"


@pytest.mark.django_db
def test_filters_narrow_the_figures(qinghai_2022, carol, tree):
    body = client_for(carol).get(f"{API}rollups/{tree['xining'].pk}/?assistance_type=medical").json()
    assert (body["total"]["disbursed"], body["total"]["persons"]) == ("2000.00", 1)
    empty = client_for(carol).get(f"{API}rollups/{tree['xining'].pk}/?fiscal_year=2021").json()
    assert empty["total"]["raised"] == {"total": "0.00", "by_source": {}, "by_level": {}}


@pytest.mark.django_db
def test_bad_filters_are_400_with_their_field(carol, tree):
    response = client_for(carol, language="en").get(f"{API}rollups/{tree['qinghai'].pk}/?purpose=lottery")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "purpose"
    backwards = client_for(carol).get(f"{API}rollups/{tree['qinghai'].pk}/?date_from=2022-05-01&date_to=2022-04-01")
    assert backwards.status_code == 400 and backwards.json()["errors"][0]["field"] == "date_to"


@pytest.mark.django_db
def test_outside_the_subtree_is_404_and_anonymous_is_401(dave, tree, client):
    response = client_for(dave).get(f"{API}rollups/{tree['qinghai'].pk}/")
    assert response.status_code == 404 and codes(response) == ["not_found"]
    assert client_for(dave).get(f"{API}rollups/{tree['chengdong'].pk}/").status_code == 200
    assert client.get(f"{API}rollups/{tree['chengdong'].pk}/").status_code == 401
