"""The permission matrix: role × endpoint × inside/outside the subtree → status.

Everything is in 城中区 (alice its clerk, bob its approver), seen from above by
carol (provincial auditor) and erin (provincial admin). Dave is a clerk of the
neighbouring 城东区 and Gus holds every role in 甘肃: for them the records do not
exist (404), for reads and writes alike, also when the id is inside the body.
A refused write leaves the database exactly as it was.
"""

import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from allocations import services as money
from allocations.models import Allocation, Contribution, Disbursement, Fund
from beneficiaries.models import Beneficiary, Unit
from tests.api_helpers import API, client_for
from tests.conftest import synthetic_id
from tests.factories import FundFactory
from unionfunds.models import AuditEvent, Federation, IdempotencyKey
from unionfunds.services import federation_create

ANONYMOUS = "anonymous"
INSIDE = ("alice", "bob", "carol", "erin")
OUTSIDE = ("dave", "gus")


@pytest.fixture
def world(tree, fund, worker, alice, bob, carol, dave, admin_user, outsider, hospital):
    unit = hospital
    street = federation_create(
        code="630103-S01", name="城中区南关街道工会", level="township", parent=tree["chengzhong"]
    )

    def entries(amount: str) -> dict:
        return {
            "contributions": money.contribution_create(fund=fund, source="donation", amount=amount, by=alice),
            "allocations": money.allocation_create(
                from_fund=fund, to_federation=tree["grassroots"], amount=amount, by=alice
            ),
            "disbursements": money.disbursement_create(
                fund=fund, unit=unit, assistance_type="medical", amount=amount, by=alice
            ),
        }

    approved = entries("20.00")
    for entry in approved.values():
        money.movement_approve(movement=entry, by=bob)
    pending = entries("10.00")
    dave_fund = FundFactory(federation=tree["chengdong"], name="送温暖资金", purpose="warmth", by=dave)
    users = {"alice": alice, "bob": bob, "carol": carol, "erin": admin_user, "dave": dave, "gus": outsider}
    return SimpleNamespace(
        street=street,
        tree=tree,
        fund=fund,
        worker=worker,
        unit=unit,
        approved=approved,
        pending=pending,
        dave_fund=dave_fund,
        users=users,
    )


def state() -> dict:
    """Everything a refused request must leave as it was."""
    return {
        "counts": {
            model._meta.label: model.objects.count()
            for model in (
                Federation,
                Fund,
                Contribution,
                Allocation,
                Disbursement,
                Beneficiary,
                Unit,
                AuditEvent,
                IdempotencyKey,
            )
        },
        "funds": list(Fund.objects.order_by("pk").values_list("pk", "balance", "reserved")),
        "paths": list(Federation.objects.order_by("pk").values_list("pk", "path", "parent_id")),
        "statuses": [
            list(model.objects.order_by("pk").values_list("pk", "status"))
            for model in (Contribution, Allocation, Disbursement)
        ],
    }


# Each write: (method, path, body) built from the world.
WRITES = {
    "federation create": lambda w: (
        "POST",
        "federations/",
        {"code": "630103-G99", "name": "城中区新基层工会", "level": "grassroots", "parent": w.tree["chengzhong"].pk},
    ),
    # Within 城中区, so that everyone inside sees both ends of the move.
    "federation move": lambda w: ("PATCH", f"federations/{w.tree['grassroots'].pk}/", {"parent": w.street.pk}),
    "fund create": lambda w: (
        "POST",
        "funds/",
        {"federation": w.tree["chengzhong"].pk, "name": "送温暖资金", "purpose": "warmth", "fiscal_year": 2023},
    ),
    "contribution create": lambda w: (
        "POST",
        "contributions/",
        {"fund": w.fund.pk, "source": "matching", "amount": "100.00", "date": "2022-03-01"},
    ),
    "allocation create": lambda w: (
        "POST",
        "allocations/",
        {"from_fund": w.fund.pk, "to_federation": w.tree["grassroots"].pk, "amount": "100.00", "batch": "第一批"},
    ),
    "disbursement create": lambda w: (
        "POST",
        "disbursements/",
        {"fund": w.fund.pk, "beneficiary": w.worker.pk, "assistance_type": "living", "amount": "100.00"},
    ),
    "disbursement list": lambda w: (
        "POST",
        "disbursements/bulk/",
        {
            "fund": w.fund.pk,
            "assistance_type": "pandemic_subsidy",
            "date": "2022-04-20",
            "rows": [{"name": "李四", "id_number": synthetic_id(2), "amount": "1000.00"}],
        },
    ),
    "disbursement list approve": lambda w: (
        "POST",
        "disbursements/bulk/approve/",
        {"ids": [w.pending["disbursements"].pk]},
    ),
    "beneficiary create": lambda w: (
        "POST",
        "beneficiaries/",
        {"name": "王五", "id_number": synthetic_id(3), "federation": w.tree["chengzhong"].pk},
    ),
    "unit create": lambda w: (
        "POST",
        "units/",
        {"name": "城中区疾控中心", "kind": "agency", "federation": w.tree["chengzhong"].pk},
    ),
}
for kind in ("contributions", "allocations", "disbursements"):
    WRITES[f"{kind} approve"] = lambda w, kind=kind: ("POST", f"{kind}/{w.pending[kind].pk}/approve/", {})
    WRITES[f"{kind} reject"] = lambda w, kind=kind: (
        "POST",
        f"{kind}/{w.pending[kind].pk}/reject/",
        {"reason": "金额有误"},
    )
    WRITES[f"{kind} reverse"] = lambda w, kind=kind: (
        "POST",
        f"{kind}/{w.approved[kind].pk}/reverse/",
        {"reason": "重复录入"},
    )

ADMIN_WRITES = {"federation create": 201, "federation move": 200}
CLERK_WRITES = {
    "fund create": 201,
    "contribution create": 201,
    "allocation create": 201,
    "disbursement create": 201,
    "disbursement list": 201,
    "beneficiary create": 201,
    "unit create": 201,
    **{f"{kind} reverse": 201 for kind in ("contributions", "allocations", "disbursements")},
}
APPROVER_WRITES = {
    "disbursement list approve": 200,
    **{
        f"{kind} {verb}": 200
        for kind in ("contributions", "allocations", "disbursements")
        for verb in ("approve", "reject")
    },
}


def expected_write(endpoint: str, who: str) -> int:
    if who == ANONYMOUS:
        return 401
    if who in OUTSIDE:
        return 404
    allowed = {
        "alice": CLERK_WRITES,
        "bob": APPROVER_WRITES,
        "carol": {},
        "erin": {**ADMIN_WRITES, "fund create": 201},  # admins manage federations and funds
    }[who]
    return allowed.get(endpoint, 403)


WRITE_MATRIX = [(endpoint, who) for endpoint in WRITES for who in (*INSIDE, *OUTSIDE, ANONYMOUS)]


def send(world, who: str, method: str, path: str, body: dict):
    client = APIClient() if who == ANONYMOUS else client_for(world.users[who], language="en")
    return client.generic(method, API + path, json.dumps(body), content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "who"), WRITE_MATRIX, ids=[f"{e}-{w}" for e, w in WRITE_MATRIX])
def test_write_permission_matrix(world, endpoint, who):
    method, path, body = WRITES[endpoint](world)
    before = state()
    response = send(world, who, method, path, body)
    expected = expected_write(endpoint, who)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert state() == before
        assert (
            response.json()["code"]
            == {
                401: "not_authenticated",
                # Alice entered every pending entry: the maker rule answers before the role check.
                403: "maker_cannot_approve" if who == "alice" and endpoint in APPROVER_WRITES else "permission_denied",
                404: "not_found",
            }[expected]
        )
    else:
        assert state() != before


# Reads: every list and every record, from inside and from outside.
RESOURCES = {
    "federations": lambda w: w.tree["grassroots"].pk,
    "funds": lambda w: w.fund.pk,
    "contributions": lambda w: w.pending["contributions"].pk,
    "allocations": lambda w: w.pending["allocations"].pk,
    "disbursements": lambda w: w.pending["disbursements"].pk,
    "beneficiaries": lambda w: w.worker.pk,
    "units": lambda w: w.unit.pk,
}
READ_MATRIX = [(resource, who) for resource in RESOURCES for who in (*INSIDE, *OUTSIDE, ANONYMOUS)]


@pytest.mark.django_db
@pytest.mark.parametrize(("resource", "who"), READ_MATRIX, ids=[f"{r}-{w}" for r, w in READ_MATRIX])
def test_read_permission_matrix(world, resource, who):
    pk = RESOURCES[resource](world)
    listed = send(world, who, "GET", f"{resource}/?page_size=500", {})
    record = send(world, who, "GET", f"{resource}/{pk}/", {})
    if who == ANONYMOUS:
        assert (listed.status_code, record.status_code) == (401, 401)
        return
    assert listed.status_code == 200
    ids = [row["id"] for row in listed.json()["results"]]
    if who in INSIDE:
        assert pk in ids
        assert record.status_code == 200 and record.json()["id"] == pk
    else:
        assert pk not in ids
        assert record.status_code == 404 and record.json()["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "endpoint", "body"),
    [
        # Dave pays 城中区's worker from his own fund: the worker is not his to touch.
        (
            "dave",
            "disbursements/",
            lambda w: {"fund": w.dave_fund.pk, "beneficiary": w.worker.pk, "assistance_type": "living", "amount": "1"},
        ),
        # Alice allocates to a federation that does not exist (any existing one may receive: test_sideways.py).
        (
            "alice",
            "allocations/",
            lambda w: {"from_fund": w.fund.pk, "to_federation": 10**12, "amount": "1"},
        ),
        # Alice names Dave's fund as the recipient fund.
        (
            "alice",
            "allocations/",
            lambda w: {
                "from_fund": w.fund.pk,
                "to_federation": w.tree["chengzhong"].pk,
                "to_fund": w.dave_fund.pk,
                "amount": "1",
            },
        ),
        # Alice registers a person at 城东区, or opens a fund there.
        (
            "alice",
            "beneficiaries/",
            lambda w: {"name": "赵六", "id_number": synthetic_id(4), "federation": w.tree["chengdong"].pk},
        ),
        ("alice", "units/", lambda w: {"name": "城东区医院", "kind": "hospital", "federation": w.tree["chengdong"].pk}),
        # Erin, admin of 青海, moves a federation under 甘肃.
        ("erin", "federations/{grassroots}/", lambda w: {"parent": w.tree["gansu"].pk}),
        # Bob approves a list that includes an id outside his subtree (here: one that does not exist).
        ("bob", "disbursements/bulk/approve/", lambda w: {"ids": [w.pending["disbursements"].pk, 10**12]}),
    ],
    ids=[
        "pay-outside-worker",
        "allocate-to-no-federation",
        "outside-to-fund",
        "register-outside",
        "unit-outside",
        "move-outside",
        "approve-unknown-id",
    ],
)
def test_an_id_in_the_body_outside_the_subtree_answers_404_and_writes_nothing(world, who, endpoint, body):
    before = state()
    path = endpoint.format(grassroots=world.tree["grassroots"].pk)
    method = "PATCH" if path.startswith("federations/") else "POST"
    response = send(world, who, method, path, body(world))
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"
    assert response.json()["errors"][0]["field"] in {
        "beneficiary",
        "to_federation",
        "to_fund",
        "federation",
        "parent",
        "ids",
    }
    assert state() == before


@pytest.mark.django_db
def test_a_provincial_approver_may_decide_what_a_county_clerk_entered(world, province_approver):
    response = client_for(province_approver).post(API + f"disbursements/{world.pending['disbursements'].pk}/approve/")
    assert response.status_code == 200
    assert response.json()["status"] == "approved" and response.json()["decided_by"] == "papprover"
    world.fund.refresh_from_db()
    # 10,000 + 20 contributed - 20 allocated - 20 paid (approved before) - 10 paid now.
    assert world.fund.balance == Decimal("9970.00")
