from django import template
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.template.defaultfilters import yesno
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from unionfunds.money import MoneyField, format_yuan, to_yuan
from unionfunds.permissions import can_see

register = template.Library()

ACTIONS = {
    # A federation's card of a person registered elsewhere reads as the registration it is for that federation.
    "card.created": _("registered"),
    "created": _("entered"),
    "registered": _("registered"),
    "edited": _("edited"),
    "approved": _("approved"),
    "rejected": _("rejected"),
    "reversal_requested": _("reversal requested"),
    "returned": _("returned for correction"),
    "resubmitted": _("resubmitted"),
    "withdrawn": _("withdrawn"),
    "moved": _("moved"),
    "granted": _("role granted"),
    "revoked": _("role revoked"),
    "onboarded": _("account opened"),
    "password_reset": _("temporary password set"),
    "id_number_shown": _("full ID number shown"),
}

# The page of a record, by model name: what the recent activity links to.
RECORD_PAGES = {
    "contribution": lambda pk: reverse("entry", args=["contribution", pk]),
    "allocation": lambda pk: reverse("entry", args=["allocation", pk]),
    "disbursement": lambda pk: reverse("entry", args=["disbursement", pk]),
    "beneficiary": lambda pk: reverse("beneficiary", args=[pk]),
    "fund": lambda pk: reverse("fund", args=[pk]),
    "paymentlist": lambda pk: reverse("payment_list", args=[pk]),
}
NOTHING = "—"


@register.filter
def verbose_name(instance) -> str:
    return str(instance._meta.verbose_name)


@register.filter
def action_label(action: str) -> str:
    """ "allocation.approved" → "approved", in the user's language."""
    verb = action.rsplit(".", 1)[-1]
    return str(ACTIONS.get(action) or ACTIONS.get(verb, action))


@register.filter
def model_name(instance) -> str:
    return instance._meta.model_name


@register.filter
def sees(user, federation) -> bool:
    """Whether a link to a record of `federation` would open for this user:
    both ends of an allocation see it, but not each other's funds."""
    return can_see(user, federation)


@register.filter
def record_url(event) -> str:
    """The page of the record an audit event is about, or "" if it has none."""
    page = RECORD_PAGES.get(event.content_type.model)
    return page(event.object_id) if page else ""


@register.filter
def field_label(event, name: str) -> str:
    """The verbose name of a field named in an audit event's changes, in the
    user's language; the raw name if the model no longer has that field."""
    field = _field(_model_of(event), name)
    return str(capfirst(field.verbose_name)) if field else name


@register.simple_tag(takes_context=True)
def readable_history(context, events) -> list[tuple[object, list[tuple[str, str, str]]]]:
    """Each event with its changes as (label, before, after), values as a person
    reads them: choices by their label, amounts with separators, and related
    records by name, looked up once per model for the whole history. Fields come
    in the model's order; a change that reads the same on both sides (an empty
    note going from nothing to "") is left out."""
    events = list(events)
    request = context.get("request")
    names = _related_names(events, getattr(request, "user", None))
    rows = []
    for event in events:
        model = _model_of(event)
        changes = []
        for name, change in sorted((event.changes or {}).items(), key=lambda item: _position(model, item[0])):
            field = _field(model, name)
            before, after = (_shown(field, change.get(key), names) for key in ("before", "after"))
            if before != after:
                changes.append((field_label(event, name), before, after))
        rows.append((event, changes))
    return rows


def _model_of(event) -> type[models.Model] | None:
    # Cached by ContentType's manager: no query per event.
    return ContentType.objects.get_for_id(event.content_type_id).model_class()


def _field(model, name: str):
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _position(model, name: str) -> int:
    fields = [field.name for field in model._meta.get_fields()] if model is not None else []
    return fields.index(name) if name in fields else len(fields)


def _points_elsewhere(field, model) -> bool:
    """A foreign key to another model; one to the same model (a reversal's
    `reverses`) is shown by number."""
    return bool(field is not None and field.many_to_one and field.related_model is not model)


# Records named in a history only to those who may see them: a payment to a
# person registered elsewhere must not tell the payer the register's name, nor
# one to a household another federation filed that household's name.
NAMED_IF_VISIBLE = {"beneficiaries.beneficiary", "beneficiaries.household"}


def _related_names(events, user) -> dict[tuple[type, object], str]:
    wanted: dict[type, set] = {}
    for event in events:
        model = _model_of(event)
        for name, change in (event.changes or {}).items():
            field = _field(model, name)
            if _points_elsewhere(field, model):
                values = {change.get("before"), change.get("after")} - {None, ""}
                wanted.setdefault(field.related_model, set()).update(values)
    names = {}
    for related, pks in wanted.items():
        # Their own names often need the federation (a fund's does): fetch it in the same query.
        joined = [f.name for f in related._meta.concrete_fields if f.many_to_one and not f.null]
        records = related._base_manager.all()
        if related._meta.label_lower in NAMED_IF_VISIBLE:
            records = related._default_manager.visible_to(user) if user is not None else records.none()
        for record in records.select_related(*joined).filter(pk__in=pks):
            names[(related, record.pk)] = str(record)
    return names


def _shown(field, value, names: dict) -> str:
    if value is None or value == "" or value == []:
        return NOTHING
    if field is None:
        return str(value)
    if isinstance(value, list):
        # Categories are recorded by code (older events hold their labels).
        labels = _code_labels(field)
        return "、".join(str(labels.get(item, item)) for item in value)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if field.many_to_one:
        return names.get((field.related_model, value), f"#{value}")
    if isinstance(field, models.BooleanField):
        return yesno(value)
    if isinstance(field, MoneyField):
        try:
            return format_yuan(to_yuan(value))
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _code_labels(field) -> dict:
    related = getattr(field, "related_model", None)
    try:
        return dict(related._meta.get_field("code").flatchoices) if related is not None else {}
    except FieldDoesNotExist:
        return {}


@register.simple_tag(takes_context=True)
def sort_header(context, key: str, label: str, css: str = ""):
    """A column header; on a sortable list, a link that sorts by it (again: the
    other way round), saying which way the list is sorted now."""
    css_attr = format_html(' class="{}"', css) if css else ""
    request = context.get("request")
    if not context.get("sortable") or request is None:
        return format_html("<th{}>{}</th>", css_attr, label)
    current = request.GET.get("sort", "")
    query = request.GET.copy()
    query.pop("page", None)
    query["sort"] = f"-{key}" if current == key else key
    way = {key: "ascending", f"-{key}": "descending"}.get(current)
    arrow = {"ascending": " ▲", "descending": " ▼"}.get(way or "", "")
    return format_html(
        '<th{}{}><a href="?{}" class="sort">{}{}</a></th>',
        css_attr,
        format_html(' aria-sort="{}"', way) if way else "",
        query.urlencode(),
        label,
        arrow,
    )
