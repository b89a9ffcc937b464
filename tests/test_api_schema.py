"""The published OpenAPI schema is complete and true: Schemathesis generates
requests for every operation from it (with a token) and checks that no answer is
a server error or breaks the schema. The interactive docs work offline."""

import datetime
import re

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.specs.openapi.checks import positive_data_acceptance

from allocations import policy
from allocations import services as money
from beneficiaries import archive
from beneficiaries import services as people
from tests.api_helpers import API
from tests.conftest import member, synthetic_id
from unionfunds.models import Role
from unionfunds.wsgi import application

EXAMPLES_PER_OPERATION = 8


@pytest.fixture
def sam(tree, fund, worker, alice, bob, hospital):
    """Every role at 青海, so that generated requests can get past the role checks;
    with a few records for them to find."""
    sam = member("sam", tree["qinghai"], Role.CLERK, Role.APPROVER, Role.AUDITOR, Role.ADMIN)
    money.disbursement_create(fund=fund, unit=hospital, assistance_type="medical", amount="10", by=alice)
    money.disbursement_create(fund=fund, beneficiary=worker, assistance_type="living", amount="10", by=alice)
    money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="10", by=alice)
    people.beneficiary_register(name="李四", id_number=synthetic_id(5), federation=tree["chengzhong"], by=alice)
    # The archive: a household admitted and paid from a hardship fund, a review waiting, a 低保 line, a rule.
    archive.dibao_line_set(federation=tree["chengzhong"], year=2022, monthly="840", by=alice)
    policy.rule_create(federation=tree["qinghai"], by=sam, name="生活救助", purpose="hardship", cap_amount="10000")
    house = archive.household_file(
        federation=tree["chengzhong"],
        members=[archive.MemberLine(people.person_line(name="王大明", id_number=synthetic_id(11)), "head")],
        by=alice,
    )
    figures = archive.Figures(tier="deep", income_per_head="0", causes=("illness",))
    filing = archive.archive_open(household=house, figures=figures, valid_from=datetime.date(2022, 1, 1), by=alice)
    archive.archive_change_approve(change=filing, by=bob)
    hardship = money.fund_create(
        federation=tree["chengzhong"], name="困难职工帮扶资金", purpose="hardship", fiscal_year=2022, by=alice
    )
    money.movement_approve(
        movement=money.contribution_create(fund=hardship, source="own_funds", amount="5000", by=alice), by=bob
    )
    money.disbursement_create(
        fund=hardship,
        person=people.person_line(name="王大明", id_number=synthetic_id(11)),
        assistance_type="living",
        amount="10",
        date=datetime.date(2022, 4, 20),
        by=alice,
    )
    archive.archive_review(entry=filing.entry, figures=figures, reviewed_on=datetime.date(2022, 6, 1), by=alice)
    return sam


@pytest.fixture
def api_schema(sam, settings):
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "token": "100000/minute",
            "login": "100000/minute",
            "login_username": "100000/minute",
        },
    }
    # Django closes the connection at the end of each request; the test's
    # transaction must outlive the requests (PostgreSQL: "connection already closed").
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def sam_token(sam) -> str:
    return Token.objects.get_or_create(user=sam)[0].key


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.django_db
@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_answers_as_its_schema_says(case, sam_token):
    # Every check, also that a schema-valid request is accepted, except at the
    # token endpoint: a generated username and password are schema-valid and
    # wrong, and answered 400 invalid_credentials by design.
    excluded = [positive_data_acceptance] if (case.method, case.path) == ("POST", "/api/v1/auth/token/") else []
    case.call_and_validate(headers={"Authorization": f"Token {sam_token}"}, excluded_checks=excluded)


@pytest.mark.django_db
def test_the_schema_lists_every_resource_and_its_errors():
    response = APIClient().get(API + "schema/", {"format": "json"})
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for resource in (
        *("federations", "funds", "contributions", "allocations", "disbursements", "beneficiaries", "units"),
        *("households", "archive-entries", "archive-changes", "policy-rules"),
    ):
        assert f"/api/v1/{resource}/" in paths and f"/api/v1/{resource}/{{id}}/" in paths
    assert "post" in paths["/api/v1/dibao-lines/"] and "patch" in paths["/api/v1/policy-rules/{id}/"]
    for verb in ("review", "close", "reopen"):
        # Each asks for a new change: 201, as the server answers.
        responses = paths[f"/api/v1/archive-entries/{{id}}/{verb}/"]["post"]["responses"]
        assert "201" in responses and "200" not in responses
    for verb in ("approve", "reject", "withdraw"):
        assert "200" in paths[f"/api/v1/archive-changes/{{id}}/{verb}/"]["post"]["responses"]
    entries = {p["name"] for p in paths["/api/v1/archive-entries/"]["get"]["parameters"]}
    assert {"status", "tier", "federation", "due_for_review", "never_helped", "follow_up"} <= entries
    for kind in ("contributions", "allocations", "disbursements"):
        for verb in ("approve", "reject", "reverse"):
            assert f"/api/v1/{kind}/{{id}}/{verb}/" in paths
    assert "/api/v1/disbursements/bulk/" in paths and "/api/v1/auth/token/" in paths
    create = paths["/api/v1/disbursements/"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "429"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create["parameters"])
    amount = document["components"]["schemas"]["Disbursement"]["properties"]["amount"]
    assert (amount["type"], amount["format"]) == ("string", "decimal")


@pytest.mark.django_db
def test_the_interactive_docs_need_no_internet(client):
    response = client.get(API + "docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    external = [url for url in re.findall(r'(?:src|href)="([^"]+)"', html) if url.startswith(("http:", "https:", "//"))]
    assert external == []
    scripts = re.findall(r'src="([^"]+\.js)"', html)
    assert scripts
    for script in scripts:
        assert client.get(script).status_code == 200, script


@pytest.mark.django_db
def test_the_schema_generates_without_a_single_warning(tmp_path):
    """drf-spectacular warns where it has to guess a type; guessing is not allowed."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--lang", "en", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/v1/disbursements/bulk/approve/" in (tmp_path / "schema.yaml").read_text()


@pytest.mark.django_db
def test_the_schema_says_what_the_server_answers():
    """Each of these once differed between the schema and the server, and a
    generated client lost data or crashed on it."""
    document = APIClient().get(API + "schema/", {"format": "json"}).json()
    paths, components = document["paths"], document["components"]["schemas"]
    for kind in ("contributions", "allocations", "disbursements"):
        responses = paths[f"/api/v1/{kind}/{{id}}/reverse/"]["post"]["responses"]
        assert "201" in responses and "200" not in responses  # the server answers 201 Created
    sent = re.compile(components["DisbursementRequest"]["properties"]["amount"]["pattern"])
    assert [text for text in ("1000", "1000.5", "0.01", "999999999999.99") if not sent.fullmatch(text)] == []
    assert [text for text in ("", "-1", "0", "0.00", "1.234", "1e3", "1000000000000") if sent.fullmatch(text)] == []
    answered = re.compile(components["Disbursement"]["properties"]["amount"]["pattern"])
    assert answered.fullmatch("1000.00") and answered.fullmatch("-5.00")
    assert components["BulkApprovalRequest"]["properties"]["ids"]["minItems"] == 1
    move = paths["/api/v1/federations/{id}/"]["patch"]["requestBody"]
    body = move["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert move["required"] and components[body]["required"] == ["parent"]
    created = paths["/api/v1/disbursements/bulk/"]["post"]["responses"]["201"]
    assert created["headers"]["Idempotent-Replayed"]["schema"] == {"type": "string", "enum": ["true"]}
    one_line = re.compile(components["ListRowRequest"]["properties"]["name"]["pattern"])
    assert one_line.fullmatch("欧阳·娜") and not one_line.fullmatch("张\u202e三") and not one_line.fullmatch("张\t三")
    reason = components["ReasonRequest"]["properties"]["reason"]
    assert re.fullmatch(reason["pattern"], "第一行\n第二行") and not re.fullmatch(reason["pattern"], "见\u202e附件")
    assert reason["maxLength"] == 1000
    conflict = paths["/api/v1/disbursements/"]["post"]["responses"]["409"]["description"]
    assert all(code in conflict for code in ("insufficient_funds", "duplicate_payment", "idempotency_conflict"))
    assert all(code in conflict for code in ("not_in_archive", "cap_exceeded", "once_per_year", "change_waiting"))
    # A household may have no income: 0 is sent as an income, never as an amount paid.
    income = re.compile(components["ArchiveFilingRequest"]["properties"]["income_per_head"]["pattern"])
    assert [text for text in ("0", "0.00", "650", "650.5") if not income.fullmatch(text)] == []
    assert [text for text in ("", "-1", "650.001", "1e3", "６５０") if income.fullmatch(text)] == []
    override = components["ListRowRequest"]["properties"]["override_reason"]
    assert re.fullmatch(override["pattern"], "因灾返贫\n经审批") and override["maxLength"] == 1000
