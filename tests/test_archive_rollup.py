"""The archive's roll-up: households in the archive at a year's end, admitted,
out of hardship and fallen back within it, and helped; per child subtree, and
equal to a replay of every entry's history."""

import datetime

import pytest
from django.utils import translation

from allocations import archive_rollups
from allocations import services as money
from allocations.lists import ListRow
from beneficiaries import archive
from beneficiaries.archive_models import ArchiveChange, ArchiveEntry, ChangeKind, ChangeStatus
from tests.api_helpers import API, client_for
from tests.conftest import member, synthetic_id
from tests.factories import FundFactory, approved_contribution
from tests.test_archive import FIGURES, household
from unionfunds.models import Role

TODAY = datetime.date(2023, 3, 1)


def open_on(house, day, *, clerk, approver):
    change = archive.archive_open(household=house, figures=FIGURES, valid_from=day, by=clerk)
    archive.archive_change_approve(change=change, by=approver)
    return change.entry


def close_on(entry, day, reason, *, clerk, approver):
    change = archive.archive_close(entry=entry, reason=reason, closed_on=day, by=clerk)
    archive.archive_change_approve(change=change, by=approver)


def reopen_on(entry, day, *, clerk, approver):
    change = archive.archive_reopen(entry=entry, figures=FIGURES, reopened_on=day, by=clerk)
    archive.archive_change_approve(change=change, by=approver)


@pytest.fixture
def history(tree, alice, bob):
    """城中区: A admitted 2021, moved away in December and back (返困) in June 2022;
    B admitted and paid in 2022; C admitted in 2022 and out of hardship in
    September. Its grassroots union files D in 2022; a filing of E waits."""
    grassroots_clerk = member("gao", tree["grassroots"], Role.CLERK)
    grassroots_approver = member("guo", tree["grassroots"], Role.APPROVER)
    families = {
        name: household(tree["chengzhong"], alice, (name, synthetic_id(n), "head"))
        for n, name in enumerate(["甲", "乙", "丙"], 21)
    }
    a = open_on(families["甲"], datetime.date(2021, 3, 1), clerk=alice, approver=bob)
    close_on(a, datetime.date(2021, 12, 15), "moved", clerk=alice, approver=bob)
    reopen_on(a, datetime.date(2022, 6, 1), clerk=alice, approver=bob)
    b = open_on(families["乙"], datetime.date(2022, 2, 1), clerk=alice, approver=bob)
    c = open_on(families["丙"], datetime.date(2022, 5, 1), clerk=alice, approver=bob)
    close_on(c, datetime.date(2022, 9, 1), "out_of_hardship", clerk=alice, approver=bob)
    d = household(tree["grassroots"], grassroots_clerk, ("丁", synthetic_id(31), "head"))
    open_on(d, datetime.date(2022, 7, 1), clerk=grassroots_clerk, approver=grassroots_approver)
    e = household(tree["chengzhong"], alice, ("戊", synthetic_id(32), "head"))
    archive.archive_open(household=e, figures=FIGURES, valid_from=datetime.date(2022, 8, 1), by=alice)
    fund = FundFactory(federation=tree["chengzhong"], name="困难职工帮扶资金", purpose="hardship", by=alice)
    approved_contribution(fund, "10000", by=alice, approver=bob)
    paid = money.disbursements_create(
        fund=fund,
        rows=[ListRow(name="乙", id_number=synthetic_id(22), amount="800")],
        assistance_type="living",
        date=datetime.date(2022, 4, 1),
        by=alice,
    )
    money.movements_approve(movements=list(paid), by=bob)
    return {"A": a, "B": b, "C": c}


def replayed(root, year, today=TODAY) -> dict:
    """The figures of `root`'s subtree from each entry's history, one by one."""
    start, end = archive_rollups.period(year, today)
    figures = dict(in_archive=0, filed=0, closed_out=0, relapsed=0, helped=0)
    for entry in ArchiveEntry.objects.filter(federation__path__startswith=root.path):
        changes = list(entry.changes.filter(status=ChangeStatus.APPROVED).order_by("effective_on", "pk"))
        state = None
        for change in changes:
            in_period = change.effective_on <= end and (start is None or change.effective_on >= start)
            figures["filed"] += in_period and change.kind == ChangeKind.OPEN
            figures["closed_out"] += (
                in_period and change.kind == ChangeKind.CLOSE and change.close_reason == "out_of_hardship"
            )
            figures["relapsed"] += in_period and change.kind == ChangeKind.REOPEN
            if change.effective_on <= end and change.kind != ChangeKind.REVIEW:
                state = change.kind
        if state in (ChangeKind.OPEN, ChangeKind.REOPEN):
            figures["in_archive"] += 1
            payments = entry.household.disbursements.filter(status="approved", reverses__isnull=True, date__lte=end)
            if start is not None:
                payments = payments.filter(date__gte=start)
            figures["helped"] += payments.exists()
    return figures


def as_dict(figures) -> dict:
    return {name: getattr(figures, name) for name in ("in_archive", "filed", "closed_out", "relapsed", "helped")}


@pytest.mark.django_db
def test_a_year_counts_what_the_history_says(tree, history):
    result = archive_rollups.archive_rollup(tree["chengzhong"], 2022, today=TODAY)
    assert as_dict(result.total) == dict(in_archive=3, filed=3, closed_out=1, relapsed=1, helped=1)
    assert as_dict(result.own) == dict(in_archive=2, filed=2, closed_out=1, relapsed=1, helped=1)
    [(grassroots, figures)] = result.children
    assert (grassroots, as_dict(figures)) == (
        tree["grassroots"],
        dict(in_archive=1, filed=1, closed_out=0, relapsed=0, helped=0),
    )
    assert str(result.total.share_helped) == "0.333"
    earlier = archive_rollups.archive_rollup(tree["chengzhong"], 2021, today=TODAY)
    assert as_dict(earlier.total) == dict(in_archive=0, filed=1, closed_out=0, relapsed=0, helped=0)


@pytest.mark.django_db
@pytest.mark.parametrize("year", [None, 2021, 2022, 2023])
@pytest.mark.parametrize("root", ["qinghai", "xining", "chengzhong", "grassroots", "chengdong"])
def test_every_scope_and_year_equals_a_replay_and_children_add_up(tree, history, root, year):
    result = archive_rollups.archive_rollup(tree[root], year, today=TODAY)
    assert as_dict(result.total) == replayed(tree[root], year)
    for child, figures in result.children:
        assert as_dict(figures) == replayed(child, year), child
    summed = archive_rollups.ArchiveFigures()
    for figures in [result.own, *(f for _, f in result.children)]:
        summed.add(figures)
    assert summed == result.total


@pytest.mark.django_db
def test_a_reversed_payment_no_longer_helps(tree, alice, bob, history):
    payment = history["B"].household.disbursements.get()
    [reversal] = money.movements_reverse(movements=[payment], by=alice, reason="重复")
    money.movement_approve(movement=reversal, by=bob)
    assert archive_rollups.archive_rollup(tree["chengzhong"], 2022, today=TODAY).total.helped == 0


@pytest.mark.django_db
def test_the_roll_up_page_and_the_api_show_the_archive(client, tree, carol, history):
    client.force_login(carol)
    with translation.override("zh-hans"):
        page = client.get(f"/rollup/{tree['xining'].pk}/?fiscal_year=2022", HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = page.content.decode()
    assert "困难职工档案" in text and "在档户数" in text
    body = client_for(carol).get(f"{API}rollups/{tree['xining'].pk}/archive/", {"year": 2022}).json()
    chengzhong = next(row for row in body["children"] if row["federation"]["code"] == tree["chengzhong"].code)
    assert body["year"] == 2022
    assert (chengzhong["filed"], chengzhong["closed_out"], chengzhong["relapsed"]) == (3, 1, 1)
    assert body["total"]["filed"] == 3
    bad = client_for(carol).get(f"{API}rollups/{tree['xining'].pk}/archive/", {"year": "99999999999"})
    assert bad.status_code == 400


@pytest.mark.django_db
def test_a_neighbour_sees_no_archive_roll_up_of_mine(tree, dave, history):
    assert client_for(dave).get(f"{API}rollups/{tree['chengzhong'].pk}/archive/").status_code == 404
    assert ArchiveChange.objects.filter(status=ChangeStatus.PENDING).count() == 1
