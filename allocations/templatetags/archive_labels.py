from django import template
from django.utils.translation import pgettext

from beneficiaries.archive_models import Cause, HouseholdMember, Relation

register = template.Library()


@register.filter
def cause_labels(codes) -> str:
    """Causes of hardship, kept by code, in the user's language: 因病、子女上学."""
    labels = (str(Cause(code).label) if code in Cause.values else str(code) for code in codes or ())
    return pgettext("between the items of a list", ", ").join(labels)


@register.filter
def head_of(members) -> HouseholdMember | None:
    """The head (户主) among a household's members, as prefetched."""
    return next((member for member in members if member.relation == Relation.HEAD), None)
