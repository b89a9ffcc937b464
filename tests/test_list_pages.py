"""Lists of funds and entries: filtered, searched, paged, and only the user's subtree."""

import datetime

import pytest

from allocations import services as money


@pytest.fixture
def entries(tree, fund, alice, bob, worker):
    paid = money.disbursement_create(
        fund=fund, beneficiary=worker, assistance_type="living", amount="300", date=datetime.date(2022, 3, 1), by=alice
    )
    money.movement_approve(movement=paid, by=bob)
    money.allocation_create(
        from_fund=fund,
        to_federation=tree["grassroots"],
        amount="1000",
        batch="第二批",
        date=datetime.date(2022, 6, 1),
        by=alice,
    )
    return paid


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["funds", "contributions", "allocations", "disbursements"])
def test_every_list_shows_my_rows_and_none_of_my_neighbours(client, alice, dave, entries, kind):
    client.force_login(alice)
    mine = client.get(f"/{kind}/").content.decode()
    assert "城中区总工会" in mine
    client.force_login(dave)
    theirs = client.get(f"/{kind}/").content.decode()
    assert "城中区总工会" not in theirs


@pytest.mark.django_db
def test_disbursements_are_found_by_full_id_number_with_ids_masked(client, alice, entries, worker):
    client.force_login(alice)
    page = client.get(f"/disbursements/?q={worker.id_number}").content.decode()
    # Above the rows, the search box and the sorting headers' links repeat what was typed.
    table = page.split("<tbody", 1)[1]
    assert "张三" in table and worker.masked_id_number in table and worker.id_number not in table
    assert "张三" not in client.get(f"/disbursements/?q={worker.id_number[:-1]}").content.decode()


@pytest.mark.django_db
def test_filters_by_status_date_and_batch(client, alice, entries):
    client.force_login(alice)
    pending = client.get("/allocations/?status=pending").content.decode()
    assert "第二批" in pending
    assert "第二批" not in client.get("/allocations/?date_to=2022-05-31").content.decode()
    assert "第二批" in client.get("/allocations/?q=第二").content.decode()
    assert "300.00" in client.get("/disbursements/?status=approved&assistance_type=living").content.decode()


@pytest.mark.django_db
def test_unknown_lists_are_404(client, alice):
    client.force_login(alice)
    assert client.get("/nonsense/").status_code == 404
