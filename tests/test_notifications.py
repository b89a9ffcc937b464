"""Notices in the app (通知): the approvers are told what waits for them, the clerk
what became of her entries, with the reason; one notice per recipient however many
rows, none for what was refused or rolled back; each user reads only her own."""

import datetime
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from allocations import notify
from allocations import services as money
from allocations.lists import ListRow
from allocations.models import Allocation, Notification
from tests.conftest import member, synthetic_id
from tests.test_approval_lists import imported_list
from unionfunds.models import Role


@pytest.fixture
def fresh(rich_fund):
    """The fund's own contributions told bob and alice already: start from none."""
    Notification.objects.all().delete()
    return rich_fund


def notices(user) -> list[tuple[str, str, str, str]]:
    """What the user is told, oldest first: (verb, sentence in Chinese, reason, link)."""
    with translation.override("zh-hans"):
        return [
            (n.verb, n.sentence(), n.reason, n.path)
            for n in Notification.objects.addressed_to(user).order_by("created_at", "pk")
        ]


def unread_badge(page: str) -> str | None:
    found = re.search(r'href="/notifications/">[^<]*<span class="badge"[^>]*>(\d+)</span>', page)
    return found.group(1) if found else None


def allocation(fund, tree, alice, amount="10") -> Allocation:
    return money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount=amount, by=alice)


@pytest.mark.django_db
def test_the_nearest_approvers_are_told_what_a_clerk_entered(fresh, alice, bob, tree):
    second = member("second-approver", tree["chengzhong"], Role.APPROVER)  # no e-mail address: told all the same
    city = member("city-approver", tree["xining"], Role.APPROVER)
    entry = allocation(fresh, tree, alice)
    sentence = f"alice 在 城中区总工会 录入了 城中区总工会 → {tree['grassroots'].name} ¥10.00，等待您审批。"
    told = [("waiting", sentence, "", f"/entries/allocation/{entry.pk}/")]
    assert notices(bob) == told and notices(second) == told
    assert notices(city) == [] and notices(alice) == []


@pytest.mark.django_db
def test_the_clerk_is_told_each_decision_with_its_reason_and_the_decider_is_not(fresh, alice, bob, tree):
    approved, rejected, returned = (allocation(fresh, tree, alice, amount) for amount in ("10", "20", "30"))
    money.movement_approve(movement=approved, by=bob)
    money.movement_reject(movement=rejected, by=bob, reason="金额有误")
    money.movements_return(movements=[returned], by=bob, reason="请附批文")
    told = notices(alice)
    assert [(verb, reason, path) for verb, _sentence, reason, path in told] == [
        ("approved", "", f"/entries/allocation/{approved.pk}/"),
        ("rejected", "金额有误", f"/entries/allocation/{rejected.pk}/"),
        ("returned", "请附批文", f"/entries/allocation/{returned.pk}/"),
    ]
    assert told[1][1] == f"bob：驳回，城中区总工会 → {tree['grassroots'].name} ¥20.00。"
    assert {verb for verb, *_rest in notices(bob)} == {"waiting"}  # told it waited; not of his own decisions
    # Each decision settled bob's notice of what it decided.
    assert not Notification.objects.addressed_to(bob).unread().exists()


@pytest.mark.django_db
def test_a_resubmitted_entry_tells_the_approvers_again(fresh, alice, bob, tree):
    entry = allocation(fresh, tree, alice)
    money.movements_return(movements=[entry], by=bob, reason="请附批文")
    money.movements_resubmit(movements=[entry], by=alice)
    assert [verb for verb, *_rest in notices(bob)] == ["waiting", "waiting"]
    assert Notification.objects.addressed_to(bob).unread().count() == 1


@pytest.mark.django_db
def test_decided_leaves_out_the_decider_among_the_makers(fresh, alice, bob):
    about = notify.About("allocation", "城中区总工会 → 纺织厂工会 ¥10.00")
    notify.decided(verb="approved", maker_ids=[alice.pk, bob.pk], by=bob, about=about, path="/mine/")
    assert [verb for verb, *_rest in notices(alice)] == ["approved"] and notices(bob) == []


@pytest.mark.django_db
def test_a_refused_or_rolled_back_entry_tells_nobody(fresh, alice, bob, tree):
    with pytest.raises(Exception, match="资金不足"):
        allocation(fresh, tree, alice, amount="99999999")
    with pytest.raises(RuntimeError), transaction.atomic():
        allocation(fresh, tree, alice)
        assert len(notices(bob)) == 1  # written with the entry, in its transaction
        raise RuntimeError("the caller's transaction fails after the entry")
    assert Notification.objects.count() == 0 and Allocation.objects.filter(status="pending").count() == 0


@pytest.mark.django_db
def test_a_list_of_a_thousand_rows_is_one_notice_per_recipient(alice_client, fresh, alice, bob, tree):
    second = member("second-approver", tree["chengzhong"], Role.APPROVER)
    payment_list = imported_list(alice_client, fresh, 1000)
    assert Notification.objects.count() == 2
    ((verb, sentence, _reason, path),) = notices(bob)
    assert (verb, path) == ("waiting", f"/disbursements/lists/{payment_list.pk}/")
    assert f"录入了 发放名单 #{payment_list.pk} ×1,000 ¥1,000,000.00" in sentence and len(notices(second)) == 1
    money.payment_list_reject(payment_list=payment_list, by=second, reason="名单缺少签字")
    assert notices(alice) == [
        (
            "rejected",
            "second-approver：驳回，1,000 × 资金发放。",
            "名单缺少签字",
            f"/disbursements/lists/{payment_list.pk}/",
        )
    ]
    assert Notification.objects.count() == 3


@pytest.mark.django_db
def test_a_list_from_the_service_is_one_notice_too(fresh, alice, bob):
    rows = [ListRow(name=f"工人{n}", id_number=synthetic_id(300 + n), amount="100") for n in range(50)]
    money.disbursements_create(fund=fresh, rows=rows, assistance_type="living", batch="第三批", by=alice)
    assert len(notices(bob)) == 1 and Notification.objects.count() == 1


@pytest.mark.django_db
def test_a_notice_is_shown_in_the_readers_language(fresh, alice, bob, tree):
    entry = allocation(fresh, tree, alice)
    money.movement_reject(movement=entry, by=bob, reason="金额有误")
    notice = Notification.objects.addressed_to(alice).get()
    with translation.override("en"):
        assert notice.sentence() == f"bob: rejected, 城中区总工会 → {tree['grassroots'].name} ¥10.00."
    with translation.override("zh-hans"):
        assert notice.sentence().startswith("bob：驳回，")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x", "x/"])
def test_a_notice_links_only_to_a_path_on_this_site(fresh, alice, bob, tree, path):
    about = notify.About("allocation", "x")
    with pytest.raises(ValueError, match="path on this site"):
        notify.waiting(federation=tree["chengzhong"], maker=alice, about=about, path=path)
    assert Notification.objects.count() == 0
    # The database refuses such a link too, whoever writes the row.
    if path.startswith("/"):
        with pytest.raises(IntegrityError), transaction.atomic():
            Notification.objects.create(recipient=bob, verb="waiting", kind="allocation", who="alice", path=path)


@pytest.fixture
def told(fresh, alice, bob, tree):
    """Three notices for alice: one rejection (with its reason), two approvals."""
    entries = [allocation(fresh, tree, alice, amount) for amount in ("10", "20", "30")]
    money.movement_reject(movement=entries[0], by=bob, reason="金额有误")
    for entry in entries[1:]:
        money.movement_approve(movement=entry, by=bob)
    return entries


@pytest.mark.django_db
def test_the_notices_page_lists_hers_newest_first_unread_marked(alice_client, told, tree):
    page = alice_client.get("/notifications/")
    assert page.status_code == 200
    html = page.content.decode()
    rows = re.findall(r'<tr class="(unread|read)">(.*?)</tr>', html, re.S)
    assert [css for css, _row in rows] == ["unread"] * 3 and all("未读" in row for _css, row in rows)
    assert "bob：驳回" in rows[-1][1] and "金额有误" in rows[-1][1]  # the oldest last
    assert "bob：批准" in rows[0][1]
    assert unread_badge(html) == "3"


@pytest.mark.django_db
def test_opening_a_notice_marks_it_read_and_goes_to_its_entry(alice_client, told):
    notice = Notification.objects.get(verb="rejected")
    response = alice_client.get(f"/notifications/{notice.pk}/open/")
    assert response.status_code == 302 and response["Location"] == f"/entries/allocation/{told[0].pk}/"
    notice.refresh_from_db()
    assert notice.read_at is not None
    entry_page = alice_client.get(response["Location"]).content.decode()
    assert "金额有误" in entry_page
    html = alice_client.get("/notifications/").content.decode()
    assert unread_badge(html) == "2" and len(re.findall(r'<tr class="read">', html)) == 1


@pytest.mark.django_db
def test_nobody_opens_another_users_notice(client, told, bob, dave):
    notice = Notification.objects.get(verb="rejected")
    for other in (bob, dave):  # her approver, in her subtree; a clerk next door
        client.force_login(other)
        assert client.get(f"/notifications/{notice.pk}/open/").status_code == 404
        assert "金额有误" not in client.get("/notifications/").content.decode()
    client.post("/notifications/read/")
    notice.refresh_from_db()
    assert notice.read_at is None
    client.logout()
    assert client.get(f"/notifications/{notice.pk}/open/")["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_mark_all_read_is_a_post_and_clears_the_badge(alice_client, told):
    assert alice_client.get("/notifications/read/").status_code == 405
    response = alice_client.post("/notifications/read/")
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    assert not Notification.objects.unread().exists()
    html = alice_client.get("/notifications/").content.decode()
    assert unread_badge(html) is None and 'class="unread"' not in html and "全部标为已读" not in html


@pytest.mark.django_db
def test_mark_all_read_needs_the_csrf_token(told, alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.post("/notifications/read/").status_code == 403
    assert Notification.objects.unread().count() == 3


@pytest.mark.django_db
def test_the_badge_is_one_count_of_her_unread_notices(alice_client, told, alice):
    with CaptureQueriesContext(connection) as queries:
        page = alice_client.get("/funds/").content.decode()
    table = Notification._meta.db_table
    assert len([q for q in queries.captured_queries if table in q["sql"]]) == 1
    assert unread_badge(page) == "3"


@pytest.mark.django_db
def test_the_notices_page_is_paged(alice_client, fresh, alice):
    Notification.objects.bulk_create(
        Notification(recipient=alice, verb="approved", kind="allocation", label=f"#{n}", who="bob", path="/mine/")
        for n in range(60)
    )
    first = alice_client.get("/notifications/").content.decode()
    assert first.count('<tr class="unread">') == 50 and "1 / 2" in first
    second = alice_client.get("/notifications/", {"page": "2"}).content.decode()
    assert second.count('<tr class="unread">') == 10
    assert alice_client.get("/notifications/", {"page": "99999999999999999999"}).status_code == 200  # the last page
    assert alice_client.get("/notifications/", {"page": "\x00"}).status_code == 400


@pytest.mark.django_db
def test_old_notices_are_pruned_read_or_not(fresh, alice, bob, tree):
    allocation(fresh, tree, alice)
    old = Notification.objects.create(
        recipient=alice, verb="approved", kind="allocation", label="x", who="bob", path="/mine/"
    )
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(days=181))
    out = StringIO()
    call_command("prune_notifications", stdout=out)
    assert "1 notifications older than 180 days deleted" in out.getvalue()
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["bob"]


@pytest.mark.django_db
def test_the_folded_menus_button_carries_what_waits_and_what_is_unread(client, fresh, alice, bob, tree):
    allocation(fresh, tree, alice)
    allocation(fresh, tree, alice, amount="20")
    client.force_login(bob)
    page = client.get("/").content.decode()
    button = re.search(r'<label for="menu-toggle" class="menu-button">(.*?)</label>', page, re.S).group(1)
    assert re.search(r'<span class="badge"[^>]*>(\d+)</span>', button).group(1) == "4"  # 2 to decide + 2 notices
    client.post("/notifications/read/")
    button = re.search(r'class="menu-button">(.*?)</label>', client.get("/").content.decode(), re.S).group(1)
    assert re.search(r'class="badge"[^>]*>(\d+)<', button).group(1) == "2"
    client.force_login(alice)
    assert "badge" not in re.search(r'class="menu-button">(.*?)</label>', client.get("/").content.decode()).group(1)
