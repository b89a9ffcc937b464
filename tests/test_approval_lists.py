"""A disbursement list is decided as a list: every imported sheet and every list
pushed through the API, batch or not, approved or rejected whole, with its fund,
type, batch, count and total restated to the approver."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Disbursement, ListOrigin, PaymentList, Status
from beneficiaries import services as people
from tests.conftest import member, synthetic_id
from tests.test_list_import import frontline_rows, person_id, upload, xlsx_bytes
from unionfunds.models import AuditEvent, Role


def imported_list(client, fund, rows: int, batch: str = "") -> PaymentList:
    _job, location = upload(client, fund, xlsx_bytes(frontline_rows(rows)), batch=batch)
    client.post(f"{location}confirm/")
    return PaymentList.objects.get()


@pytest.fixture
def imported(alice_client, rich_fund) -> PaymentList:
    """250 rows of 1,000.00 from a sheet with no 批次, as README's walk-through imports them."""
    payment_list = imported_list(alice_client, rich_fund, 250)
    assert Disbursement.objects.filter(status=Status.PENDING, payment_list=payment_list).count() == 250
    return payment_list


def decide(client, payment_list, action="approve", *, rows=None, total=None, **more):
    return client.post(
        f"/disbursements/lists/{payment_list.pk}/decide/",
        {
            "action": action,
            "rows": payment_list.rows if rows is None else rows,
            "total": str(payment_list.total if total is None else total),
            **more,
        },
    )


@pytest.mark.django_db
def test_an_imported_list_without_a_batch_is_one_list_in_the_queue(client, imported, bob):
    assert (imported.batch, imported.origin, imported.rows, imported.total) == ("", "import", 250, Decimal("250000.00"))
    client.force_login(bob)
    page = client.get("/approvals/").content.decode()
    row = page[page.index(f'href="/disbursements/lists/{imported.pk}/"') :].split("</tr>")[0]
    assert "城中区总工会 · 疫情防控专项资金" in row and "疫情生活补贴" in row
    assert ">250<" in row and "250,000.00" in row and "批准全部 250 笔（¥250,000.00）" in row
    # Its rows are not offered one by one below the lists.
    assert "职工0001" not in page


@pytest.mark.django_db
def test_the_approver_approves_the_whole_list_from_its_page(client, imported, bob, rich_fund):
    client.force_login(bob)
    page = client.get(f"/disbursements/lists/{imported.pk}/").content.decode()
    assert "本次审批该名单待审批的全部 250 笔，合计 ¥250,000.00，从 疫情防控专项资金 支付。" in page
    assert "职工0001 6301**********0011" in page and person_id(1) not in page  # the rows, ID numbers masked
    response = decide(client, imported)
    assert response.status_code == 302 and response["Location"] == f"/disbursements/lists/{imported.pk}/"
    assert set(Disbursement.objects.values_list("status", flat=True)) == {Status.APPROVED}
    rich_fund.refresh_from_db()
    assert (rich_fund.balance, rich_fund.reserved) == (Decimal("760000.00"), Decimal("0.00"))
    page = client.get(response["Location"]).content.decode()
    assert "已处理 250 笔。" in page and "已批准 250 · ¥250,000.00" in page
    event = AuditEvent.objects.get(action="payment_list.approved")
    assert (event.user, event.changes) == (
        bob,
        {"rows": {"before": None, "after": 250}, "total": {"before": None, "after": "250000.00"}},
    )


@pytest.mark.django_db
def test_a_list_changed_since_the_approver_saw_it_is_not_decided(client, imported, alice, bob):
    one = Disbursement.objects.filter(payment_list=imported).order_by("pk").first()
    money.movement_reject(movement=one, by=bob, reason="重复")
    client.force_login(bob)
    response = decide(client, imported)  # the count and total of the page she saw before
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "名单在您查看之后有了变化：现在有 249 笔（¥249,000.00）待审批。请重新查看后再审批。" in page
    assert Disbursement.objects.filter(status=Status.PENDING).count() == 249
    decide(client, imported, rows=249, total="249000.00")
    assert Disbursement.objects.filter(status=Status.APPROVED).count() == 249


@pytest.mark.django_db
def test_rejecting_a_list_needs_a_reason_and_releases_all_it_reserved(client, imported, bob, rich_fund):
    client.force_login(bob)
    decide(client, imported, "reject", reason="  ")
    assert Disbursement.objects.filter(status=Status.PENDING).count() == 250
    decide(client, imported, "reject", reason="名单有误，请重新导入")
    assert set(Disbursement.objects.values_list("status", "rejection_reason")) == {
        (Status.REJECTED, "名单有误，请重新导入")
    }
    rich_fund.refresh_from_db()
    assert (rich_fund.balance, rich_fund.reserved) == (Decimal("1010000.00"), Decimal("0.00"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "post",
    [
        {"rows": "", "total": "250000.00"},
        {"rows": "2" * 5000, "total": "250000.00"},
        {"rows": "250\x00", "total": "250000.00"},
        {"rows": "250", "total": "1e999999"},
        {"rows": "250", "total": "NaN"},
    ],
    ids=["no-count", "huge-count", "nul", "huge-total", "nan"],
)
def test_a_decision_without_what_was_shown_decides_nothing(client, imported, bob, post):
    client.force_login(bob)
    response = client.post(f"/disbursements/lists/{imported.pk}/decide/", {"action": "approve", **post})
    assert response.status_code == 302
    assert "请重新打开名单" in client.get(response["Location"]).content.decode()
    assert Disbursement.objects.filter(status=Status.PENDING).count() == 250


@pytest.mark.django_db
def test_no_one_else_decides_the_list(client, imported, alice, tree):
    client.force_login(alice)  # the maker: no decision offered, none taken
    assert "批准全部" not in client.get(f"/disbursements/lists/{imported.pk}/").content.decode()
    decide(client, imported)
    client.force_login(member("east-approver", tree["chengdong"], Role.APPROVER))
    assert client.get(f"/disbursements/lists/{imported.pk}/").status_code == 404
    assert decide(client, imported).status_code == 404
    assert set(Disbursement.objects.values_list("status", flat=True)) == {Status.PENDING}


@pytest.mark.django_db
def test_a_list_pushed_through_the_api_is_decided_as_one_there(alice, bob, rich_fund, tree):
    clerk, approver = APIClient(), APIClient()
    clerk.force_authenticate(alice)
    approver.force_authenticate(bob)
    rows = [{"name": f"工人{n}", "id_number": synthetic_id(100 + n), "amount": "300.00"} for n in range(3)]
    body = {"fund": rich_fund.pk, "assistance_type": "living", "rows": rows}
    created = clerk.post("/api/v1/disbursements/bulk/", body, format="json")
    assert created.status_code == 201, created.data
    pk = created.data["list"]
    assert Disbursement.objects.get(pk=created.data["ids"][0]).payment_list_id == pk
    shown = approver.get(f"/api/v1/disbursement-lists/{pk}/").data
    assert {key: shown[key] for key in ("origin", "rows", "total", "waiting", "waiting_total", "created_by")} == {
        "origin": "api",
        "rows": 3,
        "total": "900.00",
        "waiting": 3,
        "waiting_total": "900.00",
        "created_by": "alice",
    }
    stale = approver.post(f"/api/v1/disbursement-lists/{pk}/approve/", {"rows": 2, "total": "600.00"}, format="json")
    assert stale.status_code == 409 and stale.data["code"] == "list_changed"
    done = approver.post(f"/api/v1/disbursement-lists/{pk}/approve/", {"rows": 3, "total": "900.00"}, format="json")
    assert (done.status_code, done.data) == (200, {"decided": 3})
    again = approver.post(f"/api/v1/disbursement-lists/{pk}/approve/", {}, format="json")
    assert again.status_code == 409 and again.data["code"] == "list_decided"
    east = APIClient()
    east.force_authenticate(member("east-approver", tree["chengdong"], Role.APPROVER))
    assert east.get(f"/api/v1/disbursement-lists/{pk}/").status_code == 404
    assert east.get("/api/v1/disbursement-lists/").data["count"] == 0


@pytest.mark.django_db
def test_a_single_payment_is_not_a_list_but_a_list_of_one_row_is(alice, rich_fund, tree):
    worker = people.beneficiary_register(
        name="张三", id_number=synthetic_id(5), federation=tree["chengzhong"], by=alice
    )
    single = money.disbursement_create(
        fund=rich_fund, beneficiary=worker, assistance_type="living", amount="100", by=alice
    )
    assert single.payment_list_id is None
    pushed = money.disbursements_create(
        fund=rich_fund,
        rows=[ListRow(name="张三", id_number=synthetic_id(5), amount="100", confirm_duplicate=True)],
        assistance_type="living",
        by=alice,
    )
    assert PaymentList.objects.get(pk=pushed.payment_list_id).origin == ListOrigin.API


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_lists_of_what_was_entered_before(alice, rich_fund):
    created = money.disbursements_create(
        fund=rich_fund,
        rows=[ListRow(name=f"工人{n}", id_number=synthetic_id(200 + n), amount="50") for n in range(4)],
        batch="第二批",
        assistance_type="living",
        by=alice,
    )
    alone = money.disbursements_create(
        fund=rich_fund,
        rows=[ListRow(name="孤", id_number=synthetic_id(300), amount="10")],
        assistance_type="living",
        by=alice,
    )
    executor = MigrationExecutor(connection)
    executor.migrate([("allocations", "0008_fund_opened_from")])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    (made,) = PaymentList.objects.all()
    assert (made.origin, made.batch, made.rows, made.total) == ("earlier", "第二批", 4, Decimal("200.00"))
    assert set(Disbursement.objects.filter(pk__in=created.ids).values_list("payment_list", flat=True)) == {made.pk}
    assert Disbursement.objects.get(pk=alone.ids[0]).payment_list_id is None  # one row alone: a single entry
    assert made.created_at.date() <= datetime.date.today()
