"""The health check a load balancer probes, and the production settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db.utils import OperationalError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_healthz_answers_without_login_and_says_when_the_database_is_gone(client, monkeypatch):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok", "workers": "ok"})

    def broken(*args, **kwargs):
        raise OperationalError("could not connect to server")

    from django.db import connection

    monkeypatch.setattr(connection, "cursor", broken)
    response = client.get("/healthz")
    assert (response.status_code, response.json()["status"]) == (503, "unavailable")


def test_production_settings_pass_the_deploy_check():
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "UNIONFUNDS_", "DATABASE"))
    }
    environment.update(
        DJANGO_SECRET_KEY="k" * 20 + "-production-like-secret-" + "q" * 30, DJANGO_ALLOWED_HOSTS="funds.example.cn"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
