from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

ACTIONS = {
    "created": _("entered"),
    "registered": _("registered"),
    "edited": _("edited"),
    "approved": _("approved"),
    "rejected": _("rejected"),
    "reversal_requested": _("reversal requested"),
    "moved": _("moved"),
    "granted": _("role granted"),
    "id_number_shown": _("full ID number shown"),
}


@register.filter
def verbose_name(instance) -> str:
    return str(instance._meta.verbose_name)


@register.filter
def action_label(action: str) -> str:
    """ "allocation.approved" → "approved", in the user's language."""
    verb = action.rsplit(".", 1)[-1]
    return str(ACTIONS.get(verb, action))


@register.filter
def model_name(instance) -> str:
    return instance._meta.model_name
