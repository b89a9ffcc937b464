"""Request limits (unionfunds.ratelimit) hold across server processes, count
requests that are refused later, and take any bytes a client sends as its name."""

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api_helpers import API, client_for, codes
from unionfunds import ratelimit
from unionfunds.models import RateWindow

BASE_DIR = settings.BASE_DIR

# A server process of its own: Django set up on the test database, its requests
# made with the test client, all of them sent once the parent says "go".
SERVER_PROCESS = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "unionfunds.settings"
os.environ["UNIONFUNDS_TESTING"] = "1"
from django.conf import settings
settings.DATABASES["default"]["NAME"] = os.environ["LIMITS_DATABASE_NAME"]
import django
django.setup()
from django.test import Client
client = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION="Token " + os.environ["LIMITS_TOKEN"])
client.get("/healthz")  # the first request's imports, before the race
print("ready", flush=True)
sys.stdin.readline()
statuses = [client.get("/api/v1/funds/").status_code for _ in range(int(os.environ["LIMITS_REQUESTS"]))]
print(json.dumps(statuses), flush=True)
"""


def rates(**changed) -> dict:
    return {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **changed}


def with_rates(**changed):
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates(**changed)})


@pytest.mark.django_db(transaction=True)
def test_a_token_limit_holds_across_server_processes(alice):
    """Four processes, five requests each, one token allowed ten a minute: ten in
    all are answered. A count kept in each process's memory answers all twenty."""
    token = Token.objects.create(user=alice)
    env = {
        **os.environ,
        "LIMITS_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "LIMITS_TOKEN": token.key,
        "LIMITS_REQUESTS": "5",
        "UNIONFUNDS_API_RATE": "10/minute",
        "DJANGO_ALLOWED_HOSTS": "localhost",
    }
    servers = [
        subprocess.Popen(
            [sys.executable, "-c", SERVER_PROCESS],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for server in servers:
            assert server.stdout.readline().strip() == "ready", server.stderr.read()[-3000:]
        for server in servers:
            server.stdin.write("go\n")
            server.stdin.flush()
        answers = [server.communicate(timeout=120) for server in servers]
    finally:
        for server in servers:
            server.kill()
    statuses = []
    for server, (out, err) in zip(servers, answers, strict=True):
        assert server.returncode == 0, err[-3000:]
        statuses += json.loads(out.strip().splitlines()[-1])
    assert sorted(statuses) == [200] * 10 + [429] * 10
    assert RateWindow.objects.get().hits == 20  # the refused ones are counted too


@pytest.mark.django_db(transaction=True)
def test_requests_arriving_together_are_counted_one_after_another():
    """Eight connections counting one key at once get 1 to 80, each number once."""
    key = ratelimit.key_for("token", "together")
    seen: list[int] = []
    barrier = threading.Barrier(8)

    def count_ten() -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(10):
                seen.append(ratelimit.count(key, 60).hits)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=count_ten) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(seen) == list(range(1, 81))


@pytest.mark.django_db
def test_a_window_lasts_its_period_and_the_next_request_starts_another():
    key = ratelimit.key_for("login", "127.0.0.1")
    first = ratelimit.count(key, 60, now_ms=1_000_000)
    assert (first.hits, first.ends_ms) == (1, 1_060_000)
    assert ratelimit.count(key, 60, now_ms=1_059_999).hits == 2
    assert ratelimit.count(key, 60, now_ms=1_059_999).seconds_left(now_ms=1_030_000) == 30.0
    later = ratelimit.count(key, 60, now_ms=1_060_000)
    assert (later.hits, later.ends_ms) == (1, 1_120_000)


@pytest.mark.django_db
def test_ended_windows_are_pruned_and_running_ones_kept():
    ratelimit.count(ratelimit.key_for("token", "ended"), 60, now_ms=0)
    ratelimit.count(ratelimit.key_for("token", "running"), 60, now_ms=100_000)
    assert ratelimit.prune(now_ms=100_000) == 1
    assert list(RateWindow.objects.values_list("key", flat=True)) == [ratelimit.key_for("token", "running")]
    assert ratelimit.prune(older_than=timedelta(minutes=1), now_ms=170_000) == 0


@pytest.mark.django_db
def test_refused_idempotent_posts_still_count(alice):
    """An idempotent POST runs in a transaction that a refusal rolls back; its
    request is counted before, so refusals cannot be sent without limit."""
    client = client_for(alice)
    with with_rates(token="2/minute"):
        statuses = [
            client.post(API + "disbursements/", {}, format="json", headers={"Idempotency-Key": f"k-{n}"}).status_code
            for n in range(3)
        ]
    assert statuses == [400, 400, 429]
    assert RateWindow.objects.get().hits == 3


@pytest.mark.django_db
def test_any_username_or_address_is_counted_without_a_server_error(alice):
    """The username as sent and a forwarded address are hashed into the key:
    NUL bytes and 100,000 characters are refused by the form's own checks."""

    def sign_in(username: str):
        body = json.dumps({"username": username, "password": "x"})
        return APIClient().post(API + "auth/token/", body, content_type="application/json")

    with with_rates(login_username="2/minute"):
        for username in ("\x00" * 3, "名" * 100_000, "\ud800"):
            answers = [sign_in(username) for _ in range(3)]
            assert [answer.status_code for answer in answers] == [400, 400, 429], answers[0].content[:300]
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}):
        answer = APIClient().get(API + "funds/", HTTP_X_FORWARDED_FOR="\x00" + "9" * 5000)
    assert answer.status_code == 401 and codes(answer) == ["not_authenticated"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's one write lock; PostgreSQL locks the row")
def test_on_sqlite_a_long_write_elsewhere_delays_a_request_half_a_second_at_most(alice):
    """While another process holds the database's write lock (a list being
    committed), an API read is answered uncounted instead of waiting for it."""
    client = client_for(alice)
    writer = sqlite3.connect(connection.settings_dict["NAME"], timeout=1)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        answer = client.get(API + "funds/")
        waited = time.monotonic() - started
    finally:
        writer.rollback()
        writer.close()
    assert answer.status_code == 200
    assert 0.4 < waited < 5
    assert not RateWindow.objects.exists()
    assert client.get(API + "funds/").status_code == 200
    assert RateWindow.objects.get().hits == 1
