"""The schema is the contract: a client generated from it with openapi-python-client
runs the whole API workflow against a live server, spreadsheets included.

Generated once per session from `/api/v1/schema/` as the server publishes it;
the only configuration is the one docs/API.md gives client writers (treat the
XLSX media type as bytes, which openapi-python-client does not know by name).
Each step checks what the generated code parsed, not only the status: a wrong
status in the schema (a reversal declared 200, answered 201) leaves `parsed`
empty, and a spreadsheet declared as a JSON alternative crashes the parser.
"""

import csv
import datetime
import importlib
import io
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import openpyxl
import pytest
from django.core.management import call_command

from tests.conftest import synthetic_id

PASSWORD = "generated-client-pass-1"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONFIG = f"content_type_overrides:\n  {XLSX}: application/octet-stream\n"


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """The package `unionfunds_client`, generated from the schema."""
    folder = tmp_path_factory.mktemp("generated-client")
    schema = folder / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--lang", "en", "--file", str(schema))
    (folder / "config.yml").write_text(CONFIG)
    bin_folder = str(Path(sys.executable).parent)  # ruff, which the generator runs on its output
    done = subprocess.run(
        [
            *(sys.executable, "-m", "openapi_python_client", "generate", "--path", str(schema), "--meta", "none"),
            *("--config", str(folder / "config.yml"), "--output-path", str(folder / "unionfunds_client")),
        ],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_folder}:/usr/bin:/bin", "HOME": str(folder)},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "WARNING" not in done.stdout, done.stdout[-3000:]  # no operation or response left out
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("unionfunds_client")
    finally:
        sys.path.remove(str(folder))


def module(generated, name: str):
    return importlib.import_module(f"{generated.__name__}.{name}")


def signed_in(generated, live_server, username: str):
    """A client with the token the API gives for a password, as an outside system gets one."""
    from_token = module(generated, "api.auth.auth_token_create")
    models = module(generated, "models")
    answer = from_token.sync_detailed(
        client=generated.Client(base_url=live_server.url),
        body=models.CredentialsRequest(username=username, password=PASSWORD),
    )
    assert answer.status_code == 200, answer.content
    return generated.AuthenticatedClient(base_url=live_server.url, token=answer.parsed.token, prefix="Token")


@pytest.mark.django_db(transaction=True)
def test_a_generated_client_runs_the_workflow(generated, live_server, fund, tree, alice, bob, carol):
    for user in (alice, bob, carol):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    models = module(generated, "models")
    clerk, approver, auditor = (signed_in(generated, live_server, name) for name in ("alice", "bob", "carol"))

    # Money in, approved by another.
    entered = module(generated, "api.contributions.contributions_create").sync_detailed(
        client=clerk,
        body=models.ContributionRequest(fund=fund.pk, source=models.SourceEnum("own_funds"), amount="5000"),
    )
    assert entered.status_code == 201 and entered.parsed.amount == "5000.00"
    approved = module(generated, "api.contributions.contributions_approve_create").sync_detailed(
        entered.parsed.id, client=approver
    )
    assert approved.status_code == 200 and approved.parsed.status == models.StatusEnum("approved")

    # An allocation down to the grassroots union.
    sent = module(generated, "api.allocations.allocations_create").sync_detailed(
        client=clerk,
        body=models.AllocationRequest(from_fund=fund.pk, to_federation=tree["grassroots"].pk, amount="1000.50"),
    )
    assert sent.status_code == 201 and sent.parsed.amount == "1000.50"

    # A real-name list, retried with its Idempotency-Key.
    bulk = module(generated, "api.disbursements.disbursements_bulk_create")
    rows = [models.ListRowRequest(name=f"职工{n}", id_number=synthetic_id(n), amount="300") for n in range(1, 4)]
    body = models.DisbursementListRequest(
        fund=fund.pk, rows=rows, batch="第一批", assistance_type=models.AssistanceTypeEnum("living")
    )
    first = bulk.sync_detailed(client=clerk, body=body, idempotency_key="list-2022-1")
    assert first.status_code == 201 and first.parsed.count == 3 and first.parsed.total == "900.00"
    again = bulk.sync_detailed(client=clerk, body=body, idempotency_key="list-2022-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.parsed.ids == first.parsed.ids

    approval = module(generated, "api.disbursements.disbursements_bulk_approve_create").sync_detailed(
        client=approver, body=models.BulkApprovalRequest(ids=first.parsed.ids)
    )
    assert approval.status_code == 200 and approval.parsed.approved == 3

    # A reversal is a new entry: 201, and the client has it.
    reversal = module(generated, "api.disbursements.disbursements_reverse_create").sync_detailed(
        first.parsed.ids[0], client=clerk, body=models.ReasonRequest(reason="重复发放")
    )
    assert reversal.status_code == 201 and reversal.parsed.reverses == first.parsed.ids[0]
    assert reversal.parsed.status == models.StatusEnum("pending")

    # An overdraft comes back as the error the schema describes.
    overdraft = module(generated, "api.disbursements.disbursements_bulk_create").sync_detailed(
        client=clerk,
        body=models.DisbursementListRequest(
            fund=fund.pk,
            rows=[models.ListRowRequest(name="职工9", id_number=synthetic_id(9), amount="99999999")],
            assistance_type=models.AssistanceTypeEnum("living"),
        ),
    )
    assert overdraft.status_code == 409 and overdraft.parsed.code == "insufficient_funds"

    # The auditor pages to the end by cursor.
    listing = module(generated, "api.disbursements.disbursements_list")
    seen, cursor = [], module(generated, "types").UNSET
    while True:
        page = listing.sync_detailed(
            client=auditor,
            batch="第一批",
            status=models.DisbursementsListStatus("approved"),
            page_size=1,
            cursor=cursor,
        )
        assert page.status_code == 200
        seen += [entry.id for entry in page.parsed.results]
        if not page.parsed.next_:
            break
        cursor = parse_qs(urlparse(page.parsed.next_).query)["cursor"][0]
    assert sorted(seen) == sorted(first.parsed.ids)

    # Spreadsheets, as files.
    xlsx = module(generated, "api.disbursements.disbursements_export_xlsx_retrieve").sync_detailed(
        client=auditor, batch="第一批", status=models.DisbursementsExportXlsxRetrieveStatus("approved")
    )
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.parsed.payload.read())).worksheets[0]
    cells = {value for row in sheet.iter_rows(values_only=True) for value in row}
    assert {"职工1", "职工2", "职工3"} <= cells and "行数: 3" in cells
    csv_answer = module(generated, "api.disbursements.disbursements_export_csv_retrieve").sync_detailed(
        client=auditor, batch="第一批"
    )
    assert csv_answer.status_code == 200
    assert isinstance(csv_answer.parsed, str)  # text, as the schema says
    table = list(csv.reader(io.StringIO(csv_answer.parsed.lstrip("\ufeff"))))
    assert {"职工1", "职工2", "职工3"} <= {cell for row in table for cell in row}

    # The roll-up, as figures and as a sheet.
    rollup = module(generated, "api.rollups.rollups_retrieve").sync_detailed(tree["qinghai"].pk, client=auditor)
    assert rollup.status_code == 200
    assert Decimal(rollup.parsed.total.raised.total) == Decimal("15000.00")
    rollup_sheet = module(generated, "api.rollups.rollups_export_xlsx_retrieve").sync_detailed(
        tree["qinghai"].pk, client=auditor
    )
    assert rollup_sheet.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(rollup_sheet.parsed.payload.read())).worksheets[0].max_row > 3
    held = module(generated, "api.funds.funds_retrieve").sync_detailed(fund.pk, client=auditor)
    assert held.status_code == 200 and held.parsed.balance == "14100.00"  # 15,000 in, 900 paid


@pytest.mark.django_db(transaction=True)
def test_a_generated_client_files_and_decides_an_archive_entry(generated, live_server, tree, alice, bob):
    for user in (alice, bob):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    models = module(generated, "models")
    clerk, approver = (signed_in(generated, live_server, name) for name in ("alice", "bob"))

    house = module(generated, "api.households.households_create").sync_detailed(
        client=clerk,
        body=models.HouseholdFilingRequest(
            federation=tree["chengzhong"].pk,
            members=[
                models.MemberLineRequest(
                    name="王大明", id_number=synthetic_id(11), relation=models.RelationEnum("head")
                )
            ],
        ),
    )
    assert house.status_code == 201 and house.parsed.members[0].name == "王大明"
    figures = {"tier": models.TierEnum("deep"), "income_per_head": "0", "causes": [models.CausesEnum("illness")]}
    entry = module(generated, "api.archive_entries.archive_entries_create").sync_detailed(
        client=clerk,
        body=models.ArchiveFilingRequest(household=house.parsed.id, valid_from=datetime.date(2022, 1, 1), **figures),
    )
    assert entry.status_code == 201 and entry.parsed.status == models.ArchiveStatusEnum("pending")
    approved = module(generated, "api.archive_changes.archive_changes_approve_create").sync_detailed(
        entry.parsed.pending_change.id, client=approver
    )
    assert approved.status_code == 200 and approved.parsed.status == models.StatusEnum("approved")

    # A review is a new change: 201, and the client has it; the entry waits for its approval.
    review = module(generated, "api.archive_entries.archive_entries_review_create").sync_detailed(
        entry.parsed.id,
        client=clerk,
        body=models.ArchiveReviewRequest(reviewed_on=datetime.date(2023, 1, 5), **figures),
    )
    assert review.status_code == 201 and review.parsed.kind == models.ChangeKindEnum("review")
    due = module(generated, "api.archive_entries.archive_entries_list").sync_detailed(client=clerk, due_for_review=True)
    assert due.status_code == 200 and [e.id for e in due.parsed.results] == [entry.parsed.id]
    assert due.parsed.results[0].pending_change.id == review.parsed.id
