"""The probe: sends the requests, checks every answer, keeps the tally."""

import contextlib
import itertools
import json

from django.conf import settings
from django.db import connection
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from allocations.models import Notification
from tests.probe.bodies import (
    admin_posts,
    autocomplete_queries,
    form_data,
    neighbour_bodies,
    neighbour_queries,
    own_body,
)
from tests.probe.leaks import Answer, QueryReads, changes, fingerprint, is_write, leaked, response_text, sent_values
from tests.probe.routes import NO_CONTROL, PUBLIC, SKIP, VALUES, Route, collect_routes, fillings, pick_for
from tests.probe.world import World
from unionfunds.models import AuditEvent, ExportRecord, RateWindow, TrailHead


class Probe:
    """Sends the requests, checks every answer, keeps the tally."""

    def __init__(self, world: World):
        self.world = world
        self.answers: list[Answer] = []
        self.own_traces: list[str] = []
        self.twins: dict[tuple, Answer] = {}
        self.session = Client(raise_request_exception=False)
        self.session.force_login(world.prober)
        token, _created = Token.objects.get_or_create(user=world.prober)
        self.token = APIClient(raise_request_exception=False)
        self.token.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        self.baseline = fingerprint()

    def send(self, route: Route, client: str, method: str, url: str, data=None, *, reads=None) -> Answer:
        if data is not None and method != "get" and route.is_api:
            kwargs = {"data": json.dumps(data), "content_type": "application/json"}
        else:
            kwargs = {} if data is None else {"data": data}
        wrote = []

        def watch(execute, sql, params, many, context):
            wrote.append(is_write(sql))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(watch), reads.watching() if reads else contextlib.nullcontext():
            response = getattr(self.session if client == "session" else self.token, method)(url, **kwargs)
        for browser in (self.session, self.token):
            # A message (the admin's "ID … does not exist") would show on the next page what this request sent.
            browser.cookies.pop("messages", None)
        answer = Answer(route.label, client, method.upper(), url, response.status_code, response.get("Location", ""))
        if data and method == "get":
            answer.url += "?" + "&".join(f"{key}={value}" for key, value in data.items())
        problems = []
        if response.status_code >= 500:
            problems.append(f"server error {response.exc_info and response.exc_info[1]!r}")
        neighbour = self.world.neighbour
        shown = leaked(response_text(response), sent_values(url, data), neighbour.markers, neighbour.directory)
        if shown:
            problems.append(f"shows the neighbour's {'; '.join(shown)}")
        if any(wrote):
            problems += self.check_writes(answer)
        answer.problem = "; ".join(problems)
        self.answers.append(answer)
        return answer

    def twin(self, route: Route, client: str, method: str, url: str, data) -> Answer:
        """The answer to the same request for a record that does not exist."""
        key = (route.label, client, method, url)
        if key not in self.twins:
            self.twins[key] = self.send(route, client, method, url, data)
        return self.twins[key]

    def check_writes(self, answer: Answer) -> list[str]:
        """What changed in the database, but the clerk's own traces."""
        after = fingerprint()
        problems = []
        for table_name, pk, how in changes(self.baseline, after):
            if how in ("added", "changed") and (
                self.own_head(table_name, pk) or self.own_count(table_name) or self.own_notice(table_name, pk)
            ):
                continue
            if how == "added" and self.own_trace(table_name, pk):
                self.own_traces.append(f"{table_name} #{pk} by {answer.method} {answer.url}")
            else:
                problems.append(f"{how} a row of {table_name} (#{pk})")
        self.baseline = after
        return problems

    def own_head(self, table_name: str, pk) -> bool:
        """The head of the clerk's own audit or export chain (unionfunds.trail)."""
        if table_name != TrailHead._meta.db_table:
            return False
        prober = self.world.prober.pk
        return TrailHead.objects.get(pk=pk).key in (f"audit:{prober}", f"export:{prober}")

    def own_count(self, table_name: str) -> bool:
        """A request-limit window (unionfunds.ratelimit): keyed by who asks (her token, her
        account, her address, the name typed at sign-in), never by what she asked for, and
        every request counts, refused or not; so it carries nothing of the neighbour's."""
        return table_name == RateWindow._meta.db_table

    def is_hers(self, table_name: str, pk, how: str) -> bool:
        """What a request of hers may leave behind: her traces, her chain heads, her counts."""
        if how == "added" and self.own_trace(table_name, pk):
            return True
        return how in ("added", "changed") and (
            self.own_head(table_name, pk) or self.own_count(table_name) or self.own_notice(table_name, pk)
        )

    def own_notice(self, table_name: str, pk) -> bool:
        """One of her own notices, marked read when she opens it or marks them all read."""
        if table_name != Notification._meta.db_table:
            return False
        return Notification.objects.filter(pk=pk, recipient=self.world.prober).exists()

    def own_trace(self, table_name: str, pk) -> bool:
        """A line of the clerk's export log, or of the audit of her own people's ID
        numbers shown to her: both are hers, filed at her own federation."""
        for model in (ExportRecord, AuditEvent):
            if table_name == model._meta.db_table:
                row = model.objects.select_related("federation").get(pk=pk)
                return row.user_id == self.world.prober.pk and row.federation.path.startswith(
                    self.world.own.county.path
                )
        return False


def door(route: Route) -> str:
    """The client a URL is for: the API takes tokens, the pages and the admin sessions
    (a token there is no sign-in, so its requests are anonymous)."""
    return "token" if route.is_api else "session"


def probe_records(probe: Probe, route: Route, world: World, failures: list[str]) -> None:
    """A URL naming a record: each of the neighbour's (one will do for an anonymous
    request), by GET and by each write the view takes; then, as the control, her own."""
    twins = {f.values: f for f in fillings(route, pick_for(world, "missing"))}
    body = own_body(world)
    data = body if route.is_api else form_data(body)
    for client in ("session", "token"):
        chosen = fillings(route, pick_for(world, "neighbour"))
        if client != door(route) and not route.is_api:
            chosen = chosen[:1]  # anonymous: the record cannot matter
        methods = route.methods() if client == door(route) or route.is_api else ["get"]
        for filling, method in itertools.product(chosen, methods):
            if (route.name, method) in SKIP:
                continue
            url = route.url(filling.kwargs)
            if url is None:
                failures.append(f"{route.label}: {filling.kwargs} does not resolve to its own view")
                continue
            answer = probe.send(route, client, method, url, None if method == "get" else data)
            if (answer.status == 404 and route.name not in PUBLIC) or (client != door(route) and signs_in(answer)):
                continue
            # Anything but a 404 must be what a record that does not exist gets too.
            twin_url = route.url(twins[filling.values].kwargs)
            other = probe.twin(route, client, method, twin_url, None if method == "get" else data)
            if (other.status, other.location.replace(twin_url, url)) != (answer.status, answer.location):
                if not (other.status == answer.status and answer.status in (403, 405)):
                    note(answer, f"answers {answer.status} where a missing record gets {other.status}")
            elif answer.status not in (403, 405) and not 300 <= answer.status < 400 and route.name not in PUBLIC:
                note(answer, f"answers {answer.status}")

    # The control: her own records are found. A refusal for her role or the
    # method is fine; a 404 means the probe built a wrong URL.
    for client in () if route.name in NO_CONTROL else ("session", "token") if route.is_api else ("session",):
        found: dict[tuple, int] = {}
        for filling in fillings(route, pick_for(world, "own")):
            key, url = filling.values, route.url(filling.kwargs)
            if found.get(key, 404) == 404 and url is not None:
                answer = probe.send(route, client, "get", url)
                answer.client += " (own)"
                found[key] = answer.status
        failures += [
            f"control: {client} GET {route.label} {dict(key)} finds none of her own records"
            for key, status in found.items()
            if status == 404
        ]


def signs_in(answer: Answer) -> bool:
    """Sent to sign in: what a token gets outside the API, and one who is not staff
    in the admin (its logout sends to its index, which sends to its sign-in)."""
    sign_in = (resolve_url(settings.LOGIN_URL), reverse("admin:login"))
    return answer.status == 302 and (answer.location.startswith(sign_in) or answer.location == reverse("admin:index"))


def note(answer: Answer, problem: str) -> None:
    answer.problem = "; ".join(filter(None, [answer.problem, problem]))


# Parameters that only choose how the same rows are shown: their first value gets
# every filter and body, the others a few.
PRESENTATION = ("extension",)


def probe_lists(probe: Probe, route: Route, world: World, failures: list[str]) -> None:
    """A URL naming no record: lists, searches, exports, forms. GET with each filter
    the view reads pointed at the neighbour; writes with bodies pointing at it."""
    queries, bodies = neighbour_queries(world), neighbour_bodies(world)
    if not route.is_api:
        bodies = [form_data(body) for body in bodies] + admin_posts(route, world)
    for filling in fillings(route, pick_for(world, "neighbour")):
        url = route.url(filling.kwargs)
        if url is None:
            failures.append(f"{route.label}: {filling.kwargs} does not resolve to its own view")
            continue
        full = all(filling.kwargs[p] == VALUES[p][0] for p in PRESENTATION if p in filling.kwargs)
        for client in ("session", "token"):
            reads = QueryReads()
            probe.send(route, client, "get", url, reads=reads)
            if client == door(route):
                if route.name == "admin:autocomplete":
                    variants = autocomplete_queries()
                else:
                    variants = [{key: value} for key in queries if key in reads.keys for value in queries[key]]
                for query in variants if full else variants[:1]:
                    probe.send(route, client, "get", url, query)
            for method in route.methods()[1:] if client == door(route) or route.is_api else ():
                if (route.name, method) in SKIP:
                    continue
                for body in bodies if full and client == door(route) else bodies[:1]:
                    probe.send(route, client, method, url, body)


def routes_by_kind(world: World) -> tuple[list[Route], list[Route]]:
    with_records, without = [], []
    for route in collect_routes():
        filled = fillings(route, pick_for(world, "missing"))
        (with_records if any(filling.records for filling in filled) else without).append(route)
    return with_records, without
