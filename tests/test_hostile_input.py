"""NUL characters, which PostgreSQL refuses in text and JSON: every door answers
a clear 400 before any query runs, and an export is never sent without its
record in the export log. Files with a NUL byte fail their job naming the line
or cell, and the worker reads the next one."""

import pytest

from allocations.models import Disbursement
from tests.test_list_import import (
    HEADERS,
    csv_bytes,
    frontline_rows,
    upload,
    xlsx_bytes,
)
from unionfunds.models import ExportRecord, Job

REFUSED = "含有空字符"


@pytest.fixture
def clerk_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def staff_alice(alice):
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    return alice


PAGES = [
    "/federations/search/?q=%00",
    "/disbursements/?q=%00",
    "/disbursements/export.xlsx?batch=%00",
    "/disbursements/export.xlsx?full_ids=1&note=x%00",
    "/funds/export.csv?%00=1",
    "/rollup/{fed}/export.xlsx?year=2022%00",
    "/admin/allocations/disbursement/?q=%00",
    "/admin/allocations/disbursement/?status__exact=%00",
    "/admin/autocomplete/?app_label=allocations&model_name=disbursement&field_name=fund&term=%00",
]
API = [
    "/api/v1/disbursements/?format=xlsx&batch=%00",
    "/api/v1/disbursements/?format=csv&note=%00",
    "/api/v1/federations/?search=%00",
    "/api/v1/rollups/{fed}/?year=%00",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_a_nul_in_a_pages_query_string_is_refused_with_a_page_in_chinese(client, tree, rich_fund, staff_alice, url):
    client.force_login(staff_alice)
    response = client.get(url.format(fed=tree["chengzhong"].pk))
    assert response.status_code == 400
    assert REFUSED in response.content.decode()
    assert not ExportRecord.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", API)
def test_a_nul_in_an_api_query_string_is_refused_in_the_apis_error_shape(client, tree, rich_fund, alice, url):
    client.force_login(alice)
    response = client.get(url.format(fed=tree["chengzhong"].pk), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "null_character" and "NUL" in body["message"]
    assert not ExportRecord.objects.exists()


@pytest.mark.django_db
def test_a_nul_in_the_path_is_refused(client, alice):
    client.force_login(alice)
    assert client.get("/disbursements/%00/").status_code == 400


@pytest.mark.django_db
def test_the_same_export_without_the_nul_is_sent_and_logged(client, rich_fund, alice):
    client.force_login(alice)
    response = client.get("/disbursements/export.csv?batch=x")
    assert response.status_code == 200
    b"".join(response.streaming_content)
    assert ExportRecord.objects.count() == 1


@pytest.mark.django_db
def test_a_csv_with_a_nul_byte_after_its_first_four_kilobytes_fails_naming_the_line(clerk_client, rich_fund):
    content = csv_bytes(frontline_rows(200))
    cut = content.index(b"\r\n", 5000)
    content = content[:cut] + b"\0" + content[cut:]
    assert content.find(b"\0") > 4096
    job, _ = upload(clerk_client, rich_fund, content, name="名单.csv")
    line = content.count(b"\n", 0, content.find(b"\0")) + 1
    assert job.state == Job.State.FAILED
    assert f"第 {line} 行" in job.message and "空字符" in job.message
    assert Disbursement.objects.count() == 0
    job, _ = upload(clerk_client, rich_fund, csv_bytes(frontline_rows(2)), name="名单.csv")
    assert job.state == Job.State.PREVIEW, job.message


@pytest.mark.django_db
def test_an_xlsx_cell_with_a_nul_fails_naming_the_cell(clerk_client, rich_fund):
    rows = frontline_rows(2)
    rows[1][0] = "PLACEHOLDER"
    import io
    import zipfile

    original, hostile = zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows, HEADERS))), io.BytesIO()
    with zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in original.infolist():
            archive.writestr(member, original.read(member).replace(b"PLACEHOLDER", "职工\0三".encode()))
    job, _ = upload(clerk_client, rich_fund, hostile.getvalue())
    assert job.state == Job.State.FAILED
    assert "第 3 行 A 列" in job.message and "空字符" in job.message
    assert Disbursement.objects.count() == 0


# Amounts -------------------------------------------------------------------------

LOOKS_LIKE_A_NUMBER = ["1e3", "1E+3", "1e-2", "１０００", "١٠٠٠", "1_000", "1e30", "Infinity", "0x10", " 1 000"]


@pytest.mark.django_db
@pytest.mark.parametrize("amount", [*LOOKS_LIKE_A_NUMBER, 1e30, "1000000000000.00"])
def test_the_api_takes_an_amount_only_as_decimal_digits(client, fund, worker, alice, amount):
    client.force_login(alice)
    body = {"fund": fund.pk, "beneficiary": worker.pk, "assistance_type": "living", "amount": amount}
    response = client.post("/api/v1/disbursements/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_amount"
    assert not Disbursement.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["1000", "1000.5", "0.01", 100, 12.5])
def test_ordinary_amounts_still_pass(client, rich_fund, worker, alice, amount):
    client.force_login(alice)
    body = {"fund": rich_fund.pk, "beneficiary": worker.pk, "assistance_type": "living", "amount": amount}
    response = client.post("/api/v1/disbursements/", body, content_type="application/json")
    assert response.status_code == 201, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("amount", LOOKS_LIKE_A_NUMBER)
def test_the_entry_form_takes_an_amount_only_as_decimal_digits(client, fund, worker, alice, amount):
    client.force_login(alice)
    response = client.post(
        "/entries/new/disbursement/",
        {
            "fund": fund.pk,
            "beneficiary": worker.pk,
            "assistance_type": "living",
            "amount": amount,
            "date": "2022-11-03",
        },
    )
    assert response.status_code == 200
    assert "金额" in response.content.decode() and not Disbursement.objects.exists()


@pytest.mark.django_db
def test_a_sheet_amount_of_1e30_or_1_0_is_named_by_its_cell_not_an_unexpected_error(clerk_client, rich_fund):
    rows = frontline_rows(3)
    rows[0][2] = 1e30  # a number cell
    rows[1][2] = "1_0"  # a text cell that Python would read as 10
    rows[2][2] = "1e3"
    job, _ = upload(clerk_client, rich_fund, xlsx_bytes(rows))
    assert job.state == Job.State.PREVIEW, job.message
    assert {(p["line"], p["column"], p["code"]) for p in job.problems} == {
        (2, "金额", "invalid_amount"),
        (3, "金额", "invalid_amount"),
        (4, "金额", "invalid_amount"),
    }
    assert "999,999,999,999.99" in next(p["message"] for p in job.problems if p["line"] == 2)
    assert Disbursement.objects.count() == 0


# Malformed parameters and keys ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", ["cD1hYmM=", "cD0tMQ==", "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "cj0xJnA9eA=="])
def test_a_malformed_cursor_is_a_clear_404(client, alice, cursor):
    client.force_login(alice)
    response = client.get("/api/v1/disbursements/", {"cursor": cursor}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found" and "cursor" in response.json()["message"].lower()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "contribution/?date__year=99999999999",
        "contribution/?date__year=2022&date__month=99999999999",
        "contribution/?date__year=-5",
        "contribution/?date__year=abc",
        "../unionfunds/auditevent/?at__year=-1",
        "../unionfunds/auditevent/?at__year=99999999999",
    ],
)
def test_the_admins_date_drill_down_refuses_impossible_dates_without_a_500(client, fund, django_user_model, query):
    root = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(root)
    response = client.get(f"/admin/allocations/{query}".replace("allocations/../", ""))
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert "e=1" in response["Location"]


@pytest.mark.django_db
def test_an_api_key_that_spells_a_forms_submission_cannot_stand_for_it(client, fund, alice):
    """The form's hidden submission key and the API's Idempotency-Key are apart:
    a key sent first through the API does not make the form's save a no-op."""
    import uuid

    from allocations.models import Contribution

    client.force_login(alice)
    submission = str(uuid.uuid4())
    body = {"fund": fund.pk, "source": "own_funds", "amount": "50.00"}
    for key in (f"form:{submission}", submission):
        response = client.post(
            "/api/v1/contributions/", body, content_type="application/json", headers={"Idempotency-Key": key}
        )
        assert response.status_code == 201
    before = Contribution.objects.count()
    form = {"fund": fund.pk, "source": "own_funds", "amount": "60.00", "date": "2022-04-01", "submission": submission}
    response = client.post("/entries/new/contribution/", form)
    assert response.status_code == 302 and response["Location"].startswith("/entries/contribution/")
    assert Contribution.objects.count() == before + 1
    assert Contribution.objects.order_by("-pk").first().amount == 60
    again = client.post("/entries/new/contribution/", form)  # the same form sent twice saves once
    assert again["Location"] == response["Location"] and Contribution.objects.count() == before + 1
