"""What a signed-in user sees on the home page, in which language."""

import pytest

from allocations import services as money


@pytest.mark.django_db
def test_home_asks_to_sign_in_first(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_home_shows_my_funds_in_chinese_even_to_an_english_browser(alice_client, fund, tree, alice):
    money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="2000", by=alice)
    page = alice_client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "城中区总工会" in page
    assert "可用余额（元）" in page
    assert "10,000.00" in page and "8,000.00" in page
    assert "待审批资金下拨" in page


@pytest.mark.django_db
def test_english_on_request(alice_client, fund):
    alice_client.cookies["django_language"] = "en"
    page = alice_client.get("/").content.decode()
    assert "Available (yuan)" in page


@pytest.mark.django_db
def test_home_hides_other_counties(client, fund, dave):
    client.force_login(dave)
    page = client.get("/").content.decode()
    assert "城东区总工会" in page
    assert "疫情防控专项资金" not in page
