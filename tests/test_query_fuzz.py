"""Every page answers hostile query strings below 500: each GET route of the
site (pages, exports, the admin's lists, the API), with every parameter any
filter of the project reads, set to NUL, overlong, negative, huge, non-numeric
and other scripts' digits. A 4xx with a message, or the page ignoring what it
cannot use, is fine; a 500 is a defect.

All parameters at once runs on both databases; one parameter at a time (so
that an early refusal cannot hide a later crash) on PostgreSQL, which is the
stricter about what it is sent.
"""

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from django_filters import FilterSet

from allocations import services as money
from allocations.views.rollup import FIGURE_TITLES
from unionfunds.models import Job

HOSTILE = [
    "\x00",
    "9" * 4000,
    "-1",
    "99999999999999999999",
    "abc",
    "1e309",
    "２０２２",
    "%",
    "' OR 1=1 --",
    "2022-13-45",
]
# Parameters the views read themselves, besides every filter's own.
READ_BY_VIEWS = [
    "q", "term", "page", "page_size", "cursor", "ordering", "format", "full_ids", "year", "years", "own",
    "assistance_type", "category", "kind", "e", "o", "p", "date__year", "date__month", "date__day", "at__year",
    "app_label", "model_name", "field_name", "next", "extension", "offset", "limit", "_changelist_filters",
]  # fmt: skip
SKIPPED = re.compile(
    r"^(accounts/reset/|accounts/logout|i18n/|healthz|api/v1/schema|api/v1/docs|admin/logout|admin/r/)"
)


def filter_parameters() -> list[str]:
    names: set[str] = set()
    pending = list(FilterSet.__subclasses__())
    while pending:
        filterset = pending.pop()
        pending.extend(filterset.__subclasses__())
        for name, declared in filterset.base_filters.items():
            names.add(name)
            names.update(f"{name}_{suffix}" for suffix in ("after", "before", "min", "max"))
            if getattr(declared, "field_name", None):
                names.add(declared.field_name)
    return sorted(names | set(READ_BY_VIEWS))


def routes(resolver=None, prefix: str = "") -> list[str]:
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += routes(entry, pattern)
        elif isinstance(entry, URLPattern):
            found.append(pattern)
    return found


@pytest.fixture
def world(tree, rich_fund, worker, alice, bob, django_user_model):
    """One of everything a route can name, and a superuser who sees it all."""
    paid = money.disbursement_create(
        fund=rich_fund, beneficiary=worker, assistance_type="living", amount="10", by=alice
    )
    money.movement_approve(movement=paid, by=bob)
    sent = money.allocation_create(from_fund=rich_fund, to_federation=tree["grassroots"], amount="5", by=alice)
    job = Job.objects.create(kind=Job.Kind.IMPORT, title="名单", created_by=alice, federation=tree["chengzhong"])
    root = django_user_model.objects.create_superuser("fuzz-root", password="x")
    ids = {
        "pk": [paid.pk, rich_fund.pk, worker.pk, job.pk, sent.pk],
        "federation_id": [tree["chengzhong"].pk],
        "object_id": [paid.pk, rich_fund.pk, worker.pk, tree["chengzhong"].pk],
    }
    return {"root": root, "ids": ids}


def filled(pattern: str, ids: dict[str, list[int]]) -> list[str]:
    """The route's concrete URLs, one per candidate value of its parameters."""
    pattern = pattern.lstrip("^").rstrip("$").replace("\\.", ".")
    pattern = re.sub(r"\(\?P<(\w+)>([a-z|]+)\)", lambda m: m.group(2).split("|")[0], pattern)
    pattern = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", pattern)
    if "(" in pattern or "<uidb64>" in pattern:
        return []
    names = re.findall(r"<(?:\w+:)?(\w+)>", pattern)
    urls = []
    for index in range(max([len(ids.get(name, [1])) for name in names] or [1])):
        url = pattern
        for name in names:
            if name == "kind":
                value = "disbursement"
            elif name == "extension":
                value = "xlsx"
            elif name == "figure":
                value = next(iter(FIGURE_TITLES))
            elif name == "format":
                value = "json"
            else:
                candidates = ids.get(name, ids["pk"])
                value = str(candidates[min(index, len(candidates) - 1)])
            url = re.sub(rf"<(?:\w+:)?{name}>", value, url, count=1)
        urls.append("/" + url)
    return urls


def reachable(client, world) -> list[str]:
    urls = []
    for pattern in routes():
        if SKIPPED.match(pattern.lstrip("^")):
            continue
        for url in filled(pattern, world["ids"]):
            if client.get(url).status_code < 400:
                urls.append(url)
                break
    for model in admin.site._registry:
        urls.append(f"/admin/{model._meta.app_label}/{model._meta.model_name}/")
    urls.append("/admin/autocomplete/")
    return sorted(set(urls))


def server_errors(client, urls: list[str], queries: list[dict]) -> list[str]:
    client.raise_request_exception = False  # a crash is a 500 to list, not the end of the test
    failures = []
    for url in urls:
        for query in queries:
            response = client.get(url, query)
            if response.status_code >= 500:
                failures.append(
                    f"{response.status_code} {url}?{'&'.join(sorted(query))[:60]}={next(iter(query.values()))[:12]!r}"
                )
    return failures


@pytest.mark.django_db
def test_every_route_answers_every_parameter_at_once_below_500(client, world):
    client.force_login(world["root"])
    urls = reachable(client, world)
    assert len(urls) > 40, urls
    names = filter_parameters()
    queries = [dict.fromkeys(names, value) for value in HOSTILE]
    assert server_errors(client, urls, queries) == []


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="one parameter at a time: PostgreSQL (make test-postgres)"
)
@pytest.mark.postgres
def test_every_route_answers_each_parameter_alone_below_500(client, world):
    client.force_login(world["root"])
    # Filters are read by lists, exports and searches, not by one record's admin pages.
    urls = [url for url in reachable(client, world) if not re.search(r"^/admin/.+/(\d+|add)/", url)]
    queries = [{name: value} for name in filter_parameters() for value in ("99999999999999999999", "-1", "abc")]
    assert server_errors(client, urls, queries) == []
