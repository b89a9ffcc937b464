"""Told what to do next: what waits for an approver on the 审批 menu and the home
page, a clerk's rejected entries with the reasons, and recent activity that
shows a 250-row list as one line."""

import datetime
import re

import pytest
from django.utils import timezone

from allocations import services as money
from allocations.models import Allocation, Disbursement, PaymentList, Status
from tests.conftest import member
from tests.test_approval_lists import imported_list
from unionfunds.models import Role


def badge(page: str) -> str | None:
    found = re.search(r'href="/approvals/">[^<]*<span class="badge"[^>]*>(\d+)</span>', page)
    return found.group(1) if found else None


def card(page: str, label: str) -> str:
    found = re.search(rf'<div class="label">{label}</div><div class="figure">([\d,]+)</div>', page)
    assert found, f"no card {label!r}"
    return found.group(1)


@pytest.fixture
def waiting(alice_client, rich_fund, alice, tree):
    """For 城中区's approver: an imported list of 250 rows and one allocation."""
    payment_list = imported_list(alice_client, rich_fund, 250)
    money.allocation_create(from_fund=rich_fund, to_federation=tree["grassroots"], amount="100", by=alice)
    return payment_list


@pytest.mark.django_db
def test_the_approver_sees_what_waits_for_her_on_every_page(client, waiting, bob, tree):
    client.force_login(bob)
    home = client.get("/").content.decode()
    assert badge(home) == "2"  # the list once, the allocation once
    assert card(home, "待我审批") == "2" and 'class="card to-do" href="/approvals/"' in home
    assert badge(client.get("/disbursements/").content.decode()) == "2"
    money.payment_list_approve(payment_list=waiting, by=bob)
    assert badge(client.get("/").content.decode()) == "1"
    # An approver elsewhere has nothing waiting, and no badge.
    client.force_login(member("east-approver", tree["chengdong"], Role.APPROVER))
    home = client.get("/").content.decode()
    assert badge(home) is None and card(home, "待我审批") == "0"


@pytest.mark.django_db
def test_a_clerk_counts_nothing_she_entered_herself(client, waiting, alice):
    page = client.get("/").content.decode()  # alice_client: the clerk, no approver role
    assert badge(page) is None and "待我审批" not in page
    assert card(page, "我录入的待审批") == "251"


@pytest.mark.django_db
def test_a_clerk_finds_her_rejected_entries_with_the_reasons(client, waiting, alice, bob):
    money.payment_list_reject(payment_list=waiting, by=bob, reason="第三列金额与批文不符")
    allocation = money.movements_reject(movements=[Allocation.objects.get()], by=bob, reason="收款单位有误")
    assert allocation == 1
    old = Disbursement.objects.order_by("pk").first()
    Disbursement.objects.filter(pk=old.pk).update(decided_at=timezone.now() - datetime.timedelta(days=31))
    home = client.get("/").content.decode()
    assert card(home, "我录入的被驳回（近 30 天）") == "250"  # 249 payments and the allocation
    page = client.get("/mine/").content.decode()
    assert "第三列金额与批文不符" in page and "收款单位有误" in page
    assert f'href="/entries/disbursement/{old.pk}/"' not in page  # rejected 31 days ago
    assert f"发放名单 #{waiting.pk}" in page and "导入的表格" in page


@pytest.mark.django_db
def test_recent_activity_shows_a_list_as_one_line(client, waiting, bob):
    money.payment_list_approve(payment_list=waiting, by=bob)
    client.force_login(bob)
    page = client.get("/").content.decode()
    activity = page[page.index('<table class="data activity">') :]
    lines = re.findall(r"<tr><td>.*?</tr>", activity, flags=re.S)
    shown = [re.sub(r"<[^>]+>|\s+", " ", line).split() for line in lines]
    said = [" ".join(words) for words in shown]
    list_lines = [line for line in said if f"#{waiting.pk} ×250" in line]
    assert len(list_lines) == 2, said  # entered, approved: one line each
    assert not any("疫情防控专项资金 → 职工" in line for line in said), said  # no line per row
    assert any("¥1,000,000.00" in line for line in said), said  # what happened before the list still shows
    assert PaymentList.objects.count() == 1 and Disbursement.objects.filter(status=Status.APPROVED).count() == 250
