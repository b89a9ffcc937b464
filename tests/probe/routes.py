"""The URL patterns of the root URLconf, and the ways to fill their parameters with a side's records."""

import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils.regex_helper import normalize

from allocations.views.rollup import FIGURE_TITLES
from allocations.waiting import KINDS
from beneficiaries.archive_models import ArchiveEntry
from tests.probe.world import World
from unionfunds.models import Federation

MISSING_ID = "999999999"


class Unfillable(Exception):
    pass


@dataclass
class Route:
    """One URL pattern of the root URLconf, with the regex the resolver joins for it."""

    regex: str
    pattern: URLPattern
    namespace: str

    def __post_init__(self):
        self.template, self.params = normalize(self.regex)[0]
        callback = self.pattern.callback
        self.callback = callback
        self.view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        owner = getattr(callback, "model_admin", None) or bound_to(callback)
        self.model_admin = owner if isinstance(owner, admin.ModelAdmin) else None
        self.actions = getattr(callback, "actions", None) or {}

    @property
    def name(self) -> str:
        if not self.pattern.name:
            return ""
        return f"{self.namespace}:{self.pattern.name}" if self.namespace else self.pattern.name

    @property
    def label(self) -> str:
        return self.name or self.regex

    @property
    def is_api(self) -> bool:
        return self.regex.startswith("api/")

    @property
    def is_admin(self) -> bool:
        return self.regex.startswith("admin/")

    def methods(self) -> list[str]:
        """GET, and the writing methods the view takes: those of an API view; POST
        (all a browser sends) of the pages and the admin, unless the view refuses it."""
        if self.actions:
            return ["get", *[m for m in ("post", "put", "patch", "delete") if m in self.actions]]
        if self.is_api and self.view_class is not None:
            return ["get", *[m for m in ("post", "put", "patch", "delete") if hasattr(self.view_class, m)]]
        if self.view_class is not None:
            return ["get", "post"] if hasattr(self.view_class, "post") else ["get"]
        declared = declared_methods(self.callback)
        return ["get", "post"] if declared is None or "post" in declared else ["get"]

    def url(self, kwargs: dict[str, str]) -> str | None:
        """The path for these values, if it reaches this pattern's view."""
        path = "/" + self.template % kwargs
        for candidate in (path, path + "no-such-page/"):
            try:
                if resolve(candidate).func is self.callback:
                    return candidate
            except Resolver404:
                pass
        return None


def collect_routes(resolver=None, prefix: str = "", namespace: str = "") -> list[Route]:
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        regex = prefix + entry.pattern.regex.pattern.removeprefix("^")
        if isinstance(entry, URLResolver):
            found += collect_routes(entry, regex, ":".join(filter(None, [namespace, entry.namespace])))
        else:
            found.append(Route(regex, entry, namespace))
    return found


def bound_to(view):
    """The object a view is a method of (a ModelAdmin, an AdminSite), through its decorators."""
    while view is not None:
        if getattr(view, "__self__", None) is not None:
            return view.__self__
        view = getattr(view, "__wrapped__", None)
    return None


def declared_methods(view) -> set[str] | None:
    """The methods a function view's `require_http_methods` lets through; None if it has none."""
    while view is not None:
        code = getattr(view, "__code__", None)
        if code is not None and "request_method_list" in code.co_freevars:
            cell = view.__closure__[code.co_freevars.index("request_method_list")]
            return {method.lower() for method in cell.cell_contents}
        view = getattr(view, "__wrapped__", None)
    return None


def model_named(name: str):
    for model in apps.get_models():
        if model._meta.model_name == name.replace("_", ""):
            return model
    return None


def record_model(route: Route, param: str):
    """The model whose record a path parameter names, read from the view: the API
    viewset's model, the admin's model, `<model>_id`, or the URL name's first word."""
    if param in ("pk", "object_id", "id"):
        if route.view_class is not None and getattr(route.view_class, "model", None) is not None:
            return route.view_class.model
        if route.model_admin is not None:
            return route.model_admin.model
        if route.pattern.name:
            name = route.pattern.name.removesuffix("_decide")
            return model_named(name) or model_named(re.split(r"[-_]", name)[0])
    if param.endswith("_id"):
        return model_named(param.removesuffix("_id"))
    return None


def alternatives(route: Route, param: str) -> tuple[str, ...] | None:
    """The values of a regex group that lists them: `(?P<kind>funds|contributions)`."""
    match = re.search(rf"\(\?P<{param}>([\w|-]+)\)", route.regex)
    return tuple(match.group(1).split("|")) if match else None


# Parameters that name no record, and what the probe puts in them.
VALUES: dict[str, tuple[str, ...]] = {
    "extension": ("xlsx", "csv"),
    "figure": tuple(FIGURE_TITLES),
    "url": ("no-such-page/",),  # the admin's catch-all
}


def entries_of_every_kind(pick: Callable) -> list[dict[str, str]]:
    """The kind in the path names the model (allocations.views.entries.KINDS)."""
    return [{"kind": kind, "pk": pk} for kind, model in KINDS.items() for pk in pick(model)]


ROWS_BEHIND_KINDS = {
    "raised": ("contributions", "allocations"),
    "allocated_out": ("allocations",),
    "disbursed": ("disbursements",),
    "balance": ("funds",),
}
assert set(ROWS_BEHIND_KINDS) == set(FIGURE_TITLES)

# Routes whose parameters the rules above cannot fill: which of them name a record,
# and, for a side, the values to fill them with (`pick(model)`: ids of its records).
SPECIAL: dict[str, tuple[tuple[str, ...], Callable]] = {
    "entry": (("pk",), entries_of_every_kind),
    "entry_decide": (("pk",), entries_of_every_kind),
    "entry_edit": (("pk",), entries_of_every_kind),
    # An archive entry's asks and its documents' upload name the entry by its pk.
    "archive_ask": (("pk",), lambda pick: [{"pk": pk} for pk in pick(ArchiveEntry)]),
    "archive_evidence_add": (("pk",), lambda pick: [{"pk": pk} for pk in pick(ArchiveEntry)]),
    # One section of the rows behind a figure: only the kinds that figure sums.
    "rows_behind_export": (
        ("federation_id",),
        lambda pick: [
            {"federation_id": pk, "figure": figure, "kind": kind, "extension": extension}
            for pk in pick(Federation)
            for figure, kinds in ROWS_BEHIND_KINDS.items()
            for kind in kinds
            for extension in ("xlsx", "csv")
        ],
    ),
    # The admin's "view on site": any record, by its content type.
    "admin:view_on_site": (
        ("object_id",),
        lambda pick: [
            {"content_type_id": str(ContentType.objects.get_for_model(model).pk), "object_id": pk}
            for model in admin.site._registry
            for pk in pick(model)[:1]
        ],
    ),
}
# Routes that answer anyone alike, signed in or not, so a record in them is no secret.
PUBLIC: dict[str, str] = {}

# Models with admin pages that no county makes rows of: probed with a missing id only.
NO_ROWS = {
    "auth.group": "the project gives roles by membership, never by group",
    "django_tasks_database.dbtaskresult": "the tests run tasks in-process, so no task rows are stored",
    "axes.accessfailurelog": "django-axes keeps no failure log unless AXES_ENABLE_ACCESS_FAILURE_LOG",
}

# Records that only the user they are addressed to opens, whoever else shares her
# subtree (by this field): her side's sample of them is hers.
ADDRESSED = {"allocations.notification": "recipient"}

# Routes whose control (her own records are found) cannot hold, and why.
NO_CONTROL = {"admin:view_on_site": "no model has a page of its own (get_absolute_url): 404 for every record"}

# Requests the probe does not send: they end or revoke the probe's own credentials.
SKIP = {
    ("logout", "post"): "ends the probe's own session",
    ("admin:logout", "post"): "ends the probe's own session",
    ("api:token", "delete"): "revokes the probe's own token",
}


@dataclass
class Filling:
    kwargs: dict[str, str]
    records: frozenset[str]  # the parameters that name a record

    @property
    def values(self) -> tuple:
        """The other parameters' values (kind, extension...): the same for every record."""
        return tuple(sorted((k, v) for k, v in self.kwargs.items() if k not in self.records))


def fillings(route: Route, pick: Callable) -> list[Filling]:
    """Every way to fill the route's parameters with `pick`'s records (and values)."""
    if route.name in SPECIAL:
        records, fill = SPECIAL[route.name]
        return [Filling(kwargs, frozenset(records)) for kwargs in fill(pick)]
    choices, records = [], set()
    for param in route.params:
        values = VALUES[param] if param in VALUES else alternatives(route, param)
        if values is None:
            model = record_model(route, param)
            if model is None:
                raise Unfillable(
                    f"{route.label} ({route.regex}): no rule fills <{param}>; add it to VALUES or SPECIAL "
                    "in tests/probe/routes.py"
                )
            values = tuple(pick(model))
            records.add(param)
        choices.append([(param, value) for value in values])
    return [Filling(dict(combination), frozenset(records)) for combination in itertools.product(*choices)]


def missing_id(model) -> str:
    """An id no row of `model` has, of the right form for its primary key."""
    pk = model._meta.pk
    if isinstance(pk, models.UUIDField):
        return str(uuid.UUID(int=0))
    if isinstance(pk, models.CharField):
        return "0" * (pk.max_length or 40)
    return MISSING_ID


def pick_for(world: World, which: str) -> Callable:
    """`pick(model)`: ids of the side's sampled records of `model`, or of none."""

    def pick(model) -> list[str]:
        if which == "missing":
            return [missing_id(model)]
        addressee = ADDRESSED.get(model._meta.label_lower)
        if which == "own" and addressee:
            sample = world.own.sample(model, lambda row: getattr(row, f"{addressee}_id") == world.prober.pk)
        else:
            sample = world.side(which).sample(model)
        if not sample and model._meta.label_lower in NO_ROWS:
            return pick_for(world, "missing")(model)
        if not sample:
            raise Unfillable(
                f"the {which} county has no {model._meta.label} row: make one in build_side, "
                "or name the model in NO_ROWS with the reason"
            )
        return sample

    return pick
