from django import template
from django.utils.translation import gettext_lazy as _

from allocations.models import AssistanceType, Source

register = template.Library()


@register.filter
def source_label(code: str) -> str:
    """Where raised money came from, in the user's language; money allocated from
    outside the subtree is a source of its own in a roll-up."""
    if code == "allocation":
        return str(_("Allocation from outside"))
    return str(Source(code).label) if code in Source.values else code


@register.filter
def assistance_label(code: str) -> str:
    """An assistance type (救助类别) in the user's language."""
    return str(AssistanceType(code).label) if code in AssistanceType.values else code
