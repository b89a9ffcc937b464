"""Roll-ups against figures computed by hand (docs/DOMAIN.md's 青海 2022 example and a
sideways transfer between provinces)."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations import services as money
from allocations.rollups import Filters, rollup
from tests.factories import FundFactory, approved_contribution
from unionfunds.models import Federation
from unionfunds.services import federation_create, federation_move

D = Decimal


def child(result, code):
    return next(figures for federation, figures in result.children if federation.code == code)


@pytest.mark.django_db
def test_qinghai_raised_8_04_million_split_by_level_however_it_moved(tree, qinghai_2022):
    result = rollup(tree["qinghai"])
    assert result.total.raised == D("8040000.00")
    assert result.total.raised_by_level == {
        "province": D("2600000.00"),
        "city": D("3610000.00"),
        "grassroots": D("1830000.00"),
    }
    assert result.total.raised_by_source == {
        "own_funds": D("2600000.00"),
        "matching": D("3610000.00"),
        "self_raised": D("1830000.00"),
    }
    assert result.total.allocated_out == D("0.00")
    assert result.total.disbursed == D("5000.00")
    assert (result.total.person_times, result.total.persons) == (4, 3)
    assert result.total.balance == D("8035000.00")


@pytest.mark.django_db
def test_a_transfer_from_a_parent_is_raised_by_the_child_not_by_the_parent(tree, qinghai_2022):
    xining = rollup(tree["qinghai"]).children[0][1]
    assert xining.raised_by_source == {
        "matching": D("3610000.00"),
        "self_raised": D("1830000.00"),
        "allocation": D("200000.00"),
    }
    assert xining.raised_by_level["province"] == D("200000.00")
    own = rollup(tree["qinghai"]).own
    assert own.allocated_out == D("200000.00")
    assert own.raised == D("2600000.00")


@pytest.mark.django_db
def test_own_plus_children_add_up_and_inner_transfers_count_once(tree, qinghai_2022):
    result = rollup(tree["xining"])
    rows = [result.own] + [figures for _, figures in result.children]
    for name in ("disbursed", "person_times", "balance"):
        assert sum(getattr(row, name) for row in rows) == getattr(result.total, name), name
    assert result.own.allocated_out == D("510000.00")  # to 城中区 and 城东区, both inside 西宁
    assert result.total.allocated_out == D("0.00")
    chengzhong = child(result, "630103")
    assert chengzhong.raised_by_source == {"allocation": D("500000.00"), "self_raised": D("1830000.00")}
    assert (chengzhong.person_times, chengzhong.persons) == (3, 3)
    assert (child(result, "630102").persons, result.total.persons) == (1, 3)


@pytest.mark.django_db
def test_filters_by_month_and_assistance_type(tree, qinghai_2022):
    may = rollup(tree["xining"], Filters(date_from=datetime.date(2022, 5, 1), date_to=datetime.date(2022, 5, 31)))
    assert (may.total.disbursed, may.total.raised) == (D("2000.00"), D("0.00"))
    living = rollup(tree["xining"], Filters(assistance_type="living"))
    assert (living.total.disbursed, living.total.person_times) == (D("3000.00"), 3)
    assert rollup(tree["xining"], Filters(fiscal_year=2021)).total.raised == D("0.00")


@pytest.mark.django_db
def test_a_reversal_cancels_on_the_date_of_what_it_reverses(tree, qinghai_2022, clerk, approver):
    from allocations.models import Disbursement

    payment = Disbursement.objects.get(amount=D("2000.00"))
    reversal = money.movement_reverse(movement=payment, by=clerk, reason="错发")
    assert rollup(tree["xining"]).total.disbursed == D("5000.00")  # pending reversals do not count
    money.movement_approve(movement=reversal, by=approver)
    may = rollup(tree["xining"], Filters(date_from=datetime.date(2022, 5, 1), date_to=datetime.date(2022, 5, 31)))
    assert (may.total.disbursed, may.total.person_times) == (D("0.00"), 0)
    whole = rollup(tree["xining"])
    assert (whole.total.disbursed, whole.total.person_times, whole.total.persons) == (D("3000.00"), 3, 3)


@pytest.fixture
def zhejiang_to_hubei(tree, clerk, approver):
    zhejiang = federation_create(code="33", name="浙江省总工会", level="province", parent=tree["nation"])
    hubei = federation_create(code="42", name="湖北省总工会", level="province", parent=tree["nation"])
    fund = FundFactory(federation=zhejiang, fiscal_year=2020, by=clerk)
    approved_contribution(fund, "30000000", by=clerk, approver=approver)
    money.movement_approve(
        movement=money.allocation_create(from_fund=fund, to_federation=hubei, amount="2000000", by=clerk), by=approver
    )
    return zhejiang, hubei


@pytest.mark.django_db
def test_a_sideways_transfer_is_out_at_the_sender_in_at_the_recipient_and_neither_above(tree, zhejiang_to_hubei):
    zhejiang, hubei = zhejiang_to_hubei
    assert rollup(zhejiang).total.allocated_out == D("2000000.00")
    assert rollup(hubei).total.raised_by_source == {"allocation": D("2000000.00")}
    assert rollup(hubei).total.raised_by_level == {"province": D("2000000.00")}
    nation = rollup(tree["nation"])
    assert (nation.total.raised, nation.total.allocated_out) == (D("30000000.00"), D("0.00"))
    assert child(nation, "33").allocated_out == D("2000000.00")
    assert child(nation, "42").raised == D("2000000.00")


@pytest.mark.django_db
def test_query_count_does_not_grow_with_children(tree, qinghai_2022):
    def queries_for(federation):
        with CaptureQueriesContext(connection) as queries:
            rollup(federation)
        return len(queries)

    few = queries_for(tree["xining"])
    for n in range(20):
        federation_create(code=f"6301{90 + n}", name=f"测试区{n}总工会", level="county", parent=tree["xining"])
    assert queries_for(tree["xining"]) == few


@pytest.mark.django_db
def test_moving_a_county_moves_its_figures_and_leaves_the_province_unchanged(tree, qinghai_2022):
    before = rollup(tree["qinghai"])
    federation_move(federation=tree["chengzhong"], new_parent=tree["haidong"])
    after = rollup(tree["qinghai"])
    xining, haidong = child(after, "6301"), child(after, "6302")
    assert (after.total.raised, after.total.disbursed, after.total.balance) == (
        before.total.raised,
        before.total.disbursed,
        before.total.balance,
    )
    assert haidong.disbursed == D("3000.00") and xining.disbursed == D("2000.00")
    # The 50万 from 西宁 to 城中区 is now money leaving 西宁 and arriving in 海东.
    assert xining.allocated_out == D("500000.00")
    assert haidong.raised_by_source["allocation"] == D("500000.00")
    assert haidong.raised_by_level == {"city": D("500000.00"), "grassroots": D("1830000.00")}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "filters", [Filters(), Filters(date_from=datetime.date(2022, 5, 1)), Filters(purpose="warmth")]
)
def test_every_figure_equals_the_rows_behind_it(tree, qinghai_2022, zhejiang_to_hubei, filters):
    from allocations.rollups import net_total, rows_behind
    from unionfunds.money import money_sum

    for federation in Federation.objects.all():
        result = rollup(federation, filters)
        scopes = [(result.total, federation, False), (result.own, federation, True)]
        scopes += [(figures, kid, False) for kid, figures in result.children]
        for figures, scope, own in scopes:
            behind = {
                name: rows_behind(name, scope, own=own, filters=filters)
                for name in ("raised", "allocated_out", "disbursed")
            }
            assert sum(net_total(q) for q in behind["raised"].values()) == figures.raised, (scope, own)
            assert net_total(behind["allocated_out"]["allocations"]) == figures.allocated_out, (scope, own)
            assert net_total(behind["disbursed"]["disbursements"]) == figures.disbursed, (scope, own)
            funds = rows_behind("balance", scope, own=own, filters=filters)["funds"]
            assert funds.aggregate(t=money_sum("balance"))["t"] == figures.balance, (scope, own)


def totals_table() -> dict:
    from allocations.models import AllocationTotal, ContributionTotal, DisbursementTotal, PersonCount, PersonReach

    return {
        "contributions": {(t.fund_id, t.source): t.amount for t in ContributionTotal.objects.exclude(amount=0)},
        "allocations": {(t.from_fund_id, t.to_fund_id): t.amount for t in AllocationTotal.objects.exclude(amount=0)},
        "disbursements": {
            (t.fund_id, t.assistance_type): (t.amount, t.person_times)
            for t in DisbursementTotal.objects.exclude(amount=0, person_times=0)
        },
        "reach": {
            (r.federation_id, r.own, r.fiscal_year, r.beneficiary_id): r.payments
            for r in PersonReach.objects.exclude(payments=0)
        },
        "persons": {(c.federation_id, c.own, c.fiscal_year): c.persons for c in PersonCount.objects.exclude(persons=0)},
    }


@pytest.mark.django_db
def test_running_totals_equal_the_entries_after_approvals_and_reversals(
    tree, qinghai_2022, zhejiang_to_hubei, clerk, approver
):
    from allocations import totals
    from allocations.models import Disbursement

    payment = Disbursement.objects.get(amount=D("2000.00"))
    money.movement_approve(movement=money.movement_reverse(movement=payment, by=clerk, reason="错发"), by=approver)
    kept = totals_table()
    totals.rebuild()
    assert totals_table() == kept
    for filters in (Filters(), Filters(fiscal_year=2022), Filters(purpose="pandemic", assistance_type="living")):
        for federation in Federation.objects.all():
            assert rollup(federation, filters) == rollup(federation, filters, from_entries=True), federation


@pytest.mark.django_db
def test_persons_stay_exact_through_reversals_and_moves(tree, qinghai_2022, clerk, approver):
    from allocations import totals
    from allocations.models import Disbursement

    first = Disbursement.objects.filter(beneficiary=qinghai_2022["workers"][0]).order_by("pk").first()
    money.movement_approve(movement=money.movement_reverse(movement=first, by=clerk, reason="错发"), by=approver)
    assert rollup(tree["xining"]).total.persons == 3  # still paid by 城东区
    federation_move(federation=tree["chengdong"], new_parent=tree["haidong"])
    for filters in (Filters(), Filters(fiscal_year=2022)):
        for federation in Federation.objects.all():
            assert rollup(federation, filters) == rollup(federation, filters, from_entries=True), federation
    kept = totals_table()
    totals.rebuild()
    assert totals_table() == kept
    assert child(rollup(tree["qinghai"]), "6302").persons == 1
