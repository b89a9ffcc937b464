"""Whatever money does, a roll-up adds up: own + children = total for the additive
figures, persons never exceed person-times, and the running totals agree with
the entries they summarise."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocations import services as money
from allocations.models import Allocation, Contribution, Disbursement, Status
from allocations.rollups import Filters, rollup
from tests.conftest import member
from tests.factories import BeneficiaryFactory, FundFactory
from unionfunds.models import Federation, Role

PLACES = ["qinghai", "xining", "haidong", "chengzhong", "chengdong", "grassroots", "gansu"]
AMOUNTS = st.sampled_from(["0.10", "0.20", "0.30", "1.00", "99.99", "1000.00", "2500.50"])
STEP = st.one_of(
    st.tuples(st.just("contribute"), st.sampled_from(PLACES), AMOUNTS),
    st.tuples(st.just("allocate"), st.sampled_from(PLACES), st.sampled_from(PLACES), AMOUNTS),
    st.tuples(st.just("pay"), st.sampled_from(PLACES), st.integers(0, 5), AMOUNTS, st.integers(1, 12)),
    st.tuples(st.just("reverse"), st.sampled_from(["contribution", "allocation", "disbursement"]), st.integers(0, 50)),
    st.tuples(st.just("reject"), st.integers(0, 50)),
)


@pytest.fixture
def world(tree):
    clerk = member("pclerk", tree["nation"], Role.CLERK)
    approver = member("pappr", tree["nation"], Role.APPROVER)
    funds = {place: FundFactory(federation=tree[place], name=f"{place}基金", by=clerk) for place in PLACES}
    workers = BeneficiaryFactory.create_batch(6, federation=tree["qinghai"], by=clerk)
    return {"tree": tree, "clerk": clerk, "approver": approver, "funds": funds, "workers": workers}


def run(step, world) -> None:
    clerk, approver, funds = world["clerk"], world["approver"], world["funds"]
    kind = step[0]
    try:
        if kind == "contribute":
            entry = money.contribution_create(fund=funds[step[1]], source="donation", amount=step[2], by=clerk)
        elif kind == "allocate":
            entry = money.allocation_create(
                from_fund=funds[step[1]], to_federation=world["tree"][step[2]], amount=step[3], by=clerk
            )
        elif kind == "pay":
            entry = money.disbursement_create(
                fund=funds[step[1]],
                beneficiary=world["workers"][step[2]],
                assistance_type="living",
                amount=step[3],
                date=datetime.date(2022, step[4], 1),
                confirm_duplicate=True,
                by=clerk,
            )
        elif kind == "reverse":
            model = {"contribution": Contribution, "allocation": Allocation, "disbursement": Disbursement}[step[1]]
            approved = list(model.objects.filter(status=Status.APPROVED, reverses=None).order_by("pk"))
            if not approved:
                return
            entry = money.movement_reverse(movement=approved[step[2] % len(approved)], by=clerk, reason="冲销")
        else:
            pending = list(Disbursement.objects.filter(status=Status.PENDING).order_by("pk"))
            if pending:
                money.movement_reject(movement=pending[step[1] % len(pending)], by=approver, reason="驳回")
            return
        if kind != "reverse" or step[2] % 3:
            money.movement_approve(movement=entry, by=approver)
    except ValidationError:
        pass  # refused steps leave nothing behind; the ledger tests check that


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=12))
def test_own_plus_children_is_the_total_after_any_history(world, steps):
    for step in steps:
        run(step, world)
    for federation in Federation.objects.all():
        for filters in (Filters(), Filters(fiscal_year=2022)):
            result = rollup(federation, filters)
            rows = [result.own] + [figures for _child, figures in result.children]
            for name in ("disbursed", "person_times", "balance"):
                assert sum(getattr(row, name) for row in rows) == getattr(result.total, name), (federation, name)
            assert result.total.persons <= result.total.person_times
            assert result.total.persons <= sum(row.persons for row in rows)
            assert all(row.persons <= row.person_times for row in rows)
            assert result == rollup(federation, filters, from_entries=True), federation
