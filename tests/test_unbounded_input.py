"""Lenient or unbounded input (issue 14): files holding full ID numbers are readable by
the app's own user only, and no unthrottled, mail-less password reset is published."""

import os
import stat

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.test_list_import import frontline_rows, upload, xlsx_bytes


def mode_of(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.django_db
def test_an_uploaded_list_is_written_readable_by_the_app_only(alice_client, rich_fund):
    job, _location = upload(alice_client, rich_fund, xlsx_bytes(frontline_rows(3)))
    assert mode_of(job.upload.path) == 0o600
    assert mode_of(os.path.dirname(job.upload.path)) == 0o700


def test_an_export_file_saved_by_a_job_is_readable_by_the_app_only():
    # Finished exports are saved with `job.output.save`, through this same storage.
    name = default_storage.save("jobs/exports/2026/12/名单.xlsx", ContentFile(b"full ID numbers"))
    try:
        assert mode_of(default_storage.path(name)) == 0o600
    finally:
        default_storage.delete(name)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/done/"]
)
def test_no_self_service_password_reset_is_published(client, url):
    assert client.get(url).status_code == 404
    assert client.post(url, {"email": "alice@example.org"}).status_code == 404


@pytest.mark.django_db
def test_sign_in_and_password_change_are_still_published(client):
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/accounts/password_change/").status_code == 302
