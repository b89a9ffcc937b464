"""Bodies and queries that point at the neighbour."""

from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory

from allocations.models import Allocation, Contribution, Disbursement, Fund
from tests.probe.routes import Route
from tests.probe.world import NEIGHBOUR, World
from unionfunds.resources import FORMATS

PROBE_TEXT = "探针"  # what the probe writes in free-text fields of its bodies


def neighbour_bodies(world: World) -> list[dict]:
    """Writes a clerk might try across the border: everything the neighbour's (A);
    her own money to the neighbour's county, people and units (B, C). B and C carry
    a zero amount, so that no door can take them for a write of her own."""
    n, o = world.neighbour, world.own
    common = {
        "source": "donation",
        "purpose": "warmth",
        "fiscal_year": 2022,
        "assistance_type": "living",
        "date": "2022-06-02",
        "reason": PROBE_TEXT,
        "note": PROBE_TEXT,
        "kind": "hospital",
        "level": "grassroots",
        "code": f"{n.county.code}-G99",
        "batch": n.batch,
        "created_by": n.clerk.pk,
        "contribution": n.pending(Contribution),
        "allocation": n.pending(Allocation),
        "disbursement": n.pending(Disbursement),
        "ids": n.pending(Disbursement),
    }
    to_fund = Fund.objects.filter(federation=n.grassroots).first()
    everything = {
        **common,
        "action": "approve",
        "amount": "1.00",
        "federation": n.county.pk,
        "parent": n.county.pk,
        "fund": n.fund.pk,
        "from_fund": n.fund.pk,
        "to_federation": n.grassroots.pk,
        "to_fund": to_fund.pk,
        "beneficiary": n.worker.pk,
        "name": n.worker.name,
        "id_number": n.worker.id_number,
        "rows": [{"name": n.worker.name, "id_number": n.worker.id_number, "amount": "1.00"}],
    }
    to_them = {
        **common,
        "action": "reject",
        "amount": "0",
        "federation": n.county.pk,
        "parent": n.county.pk,
        "fund": o.fund.pk,
        "from_fund": o.fund.pk,
        "to_federation": n.county.pk,
        "beneficiary": n.worker.pk,
        "name": PROBE_TEXT,
    }
    to_their_unit = {**common, "action": "reverse", "amount": "0", "fund": o.fund.pk, "unit": n.unit.pk}
    return [everything, to_them, to_their_unit]


def own_body(world: World) -> dict:
    """For a URL that names the neighbour's record: a body valid for one of the
    clerk's own, so that the record in the URL is what is refused."""
    return {"reason": PROBE_TEXT, "note": PROBE_TEXT, "action": "approve", "parent": world.own.county.pk}


def form_data(body: dict) -> dict:
    """A JSON body as a form posts it: lists as repeated fields, nested rows left out."""
    data = {}
    for key, value in body.items():
        if isinstance(value, list):
            if all(not isinstance(item, dict) for item in value):
                data[key] = [str(item) for item in value]
        else:
            data[key] = str(value)
    return data


def neighbour_queries(world: World) -> dict[str, list[str]]:
    """Query-string filters and searches, by key, that point at the neighbour."""
    n = world.neighbour
    texts = [NEIGHBOUR.tag, n.worker.name, n.worker.id_number]  # the tag is in every name, batch and note
    county, fund = str(n.county.pk), str(n.fund.pk)
    return {
        "federation": [county],
        "parent": [county],
        "to_federation": [county],
        "fund": [fund],
        "from_fund": [fund],
        "to_fund": [fund],
        "beneficiary": [str(n.worker.pk)],
        "unit": [str(n.unit.pk)],
        "created_by": [str(n.clerk.pk)],
        "code": [n.county.code],
        "batch": [n.batch],
        "id_number": [n.worker.id_number],
        "q": texts,
        "search": texts,
        "term": texts,
    }


def autocomplete_queries() -> list[dict]:
    """The admin's autocomplete: every autocomplete box of every admin page, empty and searching."""
    queries = []
    for model, model_admin in admin.site._registry.items():
        for field_name in model_admin.autocomplete_fields:
            box = {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": field_name}
            queries += [box, {**box, "term": NEIGHBOUR.tag}]
    return queries


def admin_request(world: World):
    request = RequestFactory().get("/admin/")
    request.user = world.prober
    return request


def admin_posts(route: Route, world: World) -> list[dict]:
    """What the admin's list, export and import pages take: each action on the
    neighbour's rows, the export of each resource, the neighbour's own sheet."""
    model_admin, name = route.model_admin, route.pattern.name or ""
    if model_admin is None:
        return []
    if name.endswith("_changelist"):
        chosen = world.neighbour.sample(model_admin.model)
        actions = dict.fromkeys(["delete_selected", *(model_admin.actions or [])])
        return [
            {"action": action, "_selected_action": chosen, "index": "0", "post": "yes", "reason": PROBE_TEXT}
            for action in actions
        ]
    if name.endswith("_export"):
        bodies = []
        for index, resource in enumerate(model_admin.get_export_resource_classes(admin_request(world))):
            fields = {f"{resource.__name__.lower()}_{f}": "on" for f in resource().get_export_order()}
            bodies.append({"format": "0", "resource": str(index), **fields})
        return bodies
    if name.endswith("_import"):
        resource = model_admin.get_import_resource_classes(admin_request(world))[0]
        rows = model_admin.model.objects.filter(pk__in=world.neighbour.sample(model_admin.model))
        sheet = FORMATS[0]().export_data(resource(user=world.neighbour.clerk).export(queryset=rows))
        return [{"format": "0", "resource": "0", "import_file": SimpleUploadedFile("rows.csv", sheet)}]
    return []
