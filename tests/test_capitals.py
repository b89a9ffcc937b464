"""Amounts in Chinese capitals (大写), as a voucher writes them: beside the amount
box as it is typed, on an entry's page and on a list's, and on the printed page."""

from decimal import Decimal

import pytest

from allocations import services as money
from allocations.models import Allocation
from unionfunds.money import in_capitals


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        # The examples of 《正确填写票据和结算凭证的基本规定》
        ("1680.32", "壹仟陆佰捌拾元零叁角贰分"),
        ("107000.53", "壹拾万柒仟元零伍角叁分"),
        ("1409.50", "壹仟肆佰零玖元伍角整"),
        ("6007.14", "陆仟零柒元壹角肆分"),
        ("325.04", "叁佰贰拾伍元零肆分"),
        # 壹拾, not 拾; 整 after 元; nothing before a fraction of a yuan
        ("10", "壹拾元整"),
        ("1000", "壹仟元整"),
        ("0.05", "伍分"),
        ("0.50", "伍角整"),
        ("0.25", "贰角伍分"),
        ("1.05", "壹元零伍分"),
        ("10.50", "壹拾元零伍角整"),
        # one 零 for a run of zeros, none before the unit of a section
        ("1010", "壹仟零壹拾元整"),
        ("1000010", "壹佰万零壹拾元整"),
        ("100010000", "壹亿零壹万元整"),
        ("100001000", "壹亿零壹仟元整"),
        ("100000001", "壹亿零壹元整"),
        ("2000000", "贰佰万元整"),  # 浙江 to 湖北, 200万
        ("120000000", "壹亿贰仟万元整"),
        # above 亿 the units repeat: a fund's balance may be that large
        ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
        ("1200000000000", "壹万贰仟亿元整"),
        ("1000000000000", "壹万亿元整"),
        ("10000000000000000", "壹亿亿元整"),
        ("0", "零元整"),
        ("-12.30", "负壹拾贰元叁角整"),
    ],
)
def test_an_amount_reads_in_capitals_as_a_voucher_writes_it(amount, words):
    assert in_capitals(Decimal(amount)) == words


def test_capitals_refuse_what_is_not_exact_to_the_fen():
    with pytest.raises(ValueError):
        in_capitals(Decimal("1.005"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "words"),
    [("1000", "壹仟元整"), ("88,000.00", "捌万捌仟元整"), (" 0.5 ", "伍角整")],
)
def test_the_form_echo_gives_the_capitals_of_what_is_typed(alice_client, typed, words):
    response = alice_client.get("/amounts/capitals/", {"amount": typed})
    assert response.status_code == 200
    assert response.json()["valid"] is True and response.json()["capitals"] == words


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed",
    ["", "abc", "1.005", "0", "-5", "1e3", "１０００", "9" * 5000, "1" + "0" * 14, "NaN", "Infinity"],
)
def test_the_form_echo_says_in_chinese_why_a_typed_amount_is_none(alice_client, typed):
    response = alice_client.get("/amounts/capitals/", {"amount": typed})
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False and "capitals" not in body
    assert "元" in body["message"]


@pytest.mark.django_db
def test_the_form_echo_refuses_a_nul_character_as_every_address_does(alice_client):
    response = alice_client.get("/amounts/capitals/", {"amount": "1\x00000"})
    assert response.status_code == 400 and "空字符" in response.content.decode()


@pytest.mark.django_db
def test_the_form_echo_needs_a_signed_in_user(client, tree):
    response = client.get("/amounts/capitals/", {"amount": "1000"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_a_form_sent_back_shows_the_capitals_of_the_amount_it_holds(alice_client, fund, tree):
    response = alice_client.post(
        "/entries/new/allocation/",
        {"from_fund": fund.pk, "to_federation": "", "amount": "2500", "date": "2022-04-01", "submission": "x"},
    )
    page = response.content.decode()
    assert response.status_code == 200 and 'class="field has-error"' in page
    assert 'data-capitals-of="id_amount"' in page
    assert '大写：</span><span class="capitals-words">贰仟伍佰元整</span>' in page


@pytest.mark.django_db
def test_an_empty_form_shows_no_capitals_but_is_ready_to(alice_client, fund):
    page = alice_client.get("/entries/new/allocation/").content.decode()
    assert 'data-capitals-of="id_amount"' in page
    assert '<span class="capitals-label" hidden>大写：</span><span class="capitals-words"></span>' in page


@pytest.mark.django_db
def test_an_entry_page_shows_its_amount_in_capitals(alice_client, alice, fund, tree):
    allocation = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="1680.32", by=alice)
    page = alice_client.get(f"/entries/allocation/{allocation.pk}/").content.decode()
    assert "1,680.32" in page and "壹仟陆佰捌拾元零叁角贰分" in page


@pytest.mark.django_db
def test_what_happened_reads_amounts_with_thousands_separators(alice_client, alice, fund, tree):
    money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="8800.00", by=alice)
    assert str(Allocation.objects.get()).endswith("¥8,800.00")
    page = alice_client.get("/").content.decode()
    assert "¥8,800.00" in page and "¥8800.00" not in page
