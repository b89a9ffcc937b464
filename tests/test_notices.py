"""E-mail to whoever must act next, where the deployment has mail: the nearest
approvers when something waits, the clerk when it was decided or returned.
One message per recipient, one notice per list, nothing for what was refused."""

import pytest
from django.core import mail
from django.test import override_settings

from allocations import services as money
from allocations.lists import ListRow
from tests.conftest import member, synthetic_id
from unionfunds.models import Role


@pytest.fixture(autouse=True)
def mail_on():
    with override_settings(UNIONFUNDS_NOTIFY_EMAIL=True, UNIONFUNDS_SITE_URL="https://funds.example.cn"):
        yield


@pytest.fixture
def people_with_mail(alice, bob, tree):
    """alice (clerk) and bob (approver) of 城中区 with addresses, a second approver
    there without one, and approvers above (西宁) and beside (城东) who are not asked."""
    for user, address in ((alice, "alice@chengzhong.example.cn"), (bob, "bob@chengzhong.example.cn")):
        user.email = address
        user.save(update_fields=["email"])
    member("no-mail", tree["chengzhong"], Role.APPROVER)
    for name, place in (("city-approver", "xining"), ("east-approver", "chengdong")):
        user = member(name, tree[place], Role.APPROVER)
        user.email = f"{name}@example.cn"
        user.save(update_fields=["email"])


def sent() -> list[tuple[str, list[str], str]]:
    return [(message.subject, message.to, message.body) for message in mail.outbox]


@pytest.mark.django_db
def test_a_list_tells_its_approvers_once_and_its_decision_tells_the_clerk(
    rich_fund, alice, bob, people_with_mail, django_capture_on_commit_callbacks
):
    rows = [ListRow(name=f"工人{n}", id_number=synthetic_id(300 + n), amount="100") for n in range(50)]
    with django_capture_on_commit_callbacks(execute=True):
        created = money.disbursements_create(
            fund=rich_fund, rows=rows, assistance_type="living", batch="第三批", by=alice
        )
    ((subject, to, body),) = sent()
    assert to == ["bob@chengzhong.example.cn"]  # the nearest approvers with an address; not alice, not above
    assert subject == f"[工会专项资金管理] 待您审批：发放名单 #{created.payment_list_id} 第三批 ×50 ¥5,000.00"
    assert "alice 在 城中区总工会 录入了" in body
    assert f"https://funds.example.cn/disbursements/lists/{created.payment_list_id}/" in body
    mail.outbox.clear()
    payment_list = money.PaymentList.objects.get(pk=created.payment_list_id)
    with django_capture_on_commit_callbacks(execute=True):
        money.payment_list_reject(payment_list=payment_list, by=bob, reason="名单缺少签字")
    ((subject, to, body),) = sent()
    assert (subject, to) == ("[工会专项资金管理] 已驳回：50 × 资金发放", ["alice@chengzhong.example.cn"])
    assert "原因：名单缺少签字" in body and f"/disbursements/lists/{created.payment_list_id}/" in body


@pytest.mark.django_db
def test_a_return_for_correction_tells_the_clerk_with_the_reason(
    rich_fund, alice, bob, tree, people_with_mail, django_capture_on_commit_callbacks
):
    allocation = money.allocation_create(from_fund=rich_fund, to_federation=tree["grassroots"], amount="10", by=alice)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        money.movements_return(movements=[allocation], by=bob, reason="请附批文")
    ((subject, to, body),) = sent()
    assert subject.startswith("[工会专项资金管理] 已退回修改：") and to == ["alice@chengzhong.example.cn"]
    assert "请附批文" in body and f"/entries/allocation/{allocation.pk}/" in body


@pytest.mark.django_db
def test_nothing_is_sent_for_what_was_refused_or_when_mail_is_off(
    rich_fund, alice, tree, people_with_mail, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception, match="资金不足"):
        money.allocation_create(from_fund=rich_fund, to_federation=tree["grassroots"], amount="99999999", by=alice)
    assert sent() == []
    with override_settings(UNIONFUNDS_NOTIFY_EMAIL=False), django_capture_on_commit_callbacks(execute=True):
        money.allocation_create(from_fund=rich_fund, to_federation=tree["grassroots"], amount="10", by=alice)
    assert sent() == []
