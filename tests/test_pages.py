"""What a signed-in user sees on the home page, in which language."""

import pytest
from django.utils import translation

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


@pytest.mark.django_db
def test_each_language_is_offered_in_its_own_words_and_the_title_says_the_page(alice_client, fund):
    page = alice_client.get("/").content.decode()
    assert '<option value="en">English</option>' in page and ">简体中文</option>" in page
    assert "英语" not in page
    assert "<title>首页 · 工会专项资金管理</title>" in page
    assert 'rel="icon" href="/static/favicon.svg' in page
    alice_client.cookies["django_language"] = "en"
    page = alice_client.get("/").content.decode()
    assert ">简体中文</option>" in page and "<title>Home · Union relief funds</title>" in page


@pytest.mark.django_db
def test_error_pages_say_why_and_what_to_do_in_chinese_in_the_sites_layout(alice_client, rf):
    missing = alice_client.get("/entries/allocation/999999/")
    page = missing.content.decode()
    assert missing.status_code == 404 and "没有这个页面或记录，或者它不在您所属工会的范围内。" in page
    assert 'class="brand"' in page and "<title>找不到 · 工会专项资金管理</title>" in page
    refused = alice_client.get("/approvals/")  # a clerk has no approval queue
    page = refused.content.decode()
    assert refused.status_code == 403 and "只有审批人有待审批列表。" in page and "系统管理员申请相应角色" in page
    from django.views.defaults import server_error

    with translation.override("zh-hans"):
        broken = server_error(rf.get("/"))
    assert broken.status_code == 500 and "这次操作没有保存，也不会只保存一半。" in broken.content.decode()
