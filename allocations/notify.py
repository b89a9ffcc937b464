"""E-mail to whoever must act next, where the deployment has mail
(settings.UNIONFUNDS_NOTIFY_EMAIL, docs/DEPLOY.md): the approvers when something
waits for them, the clerk when what she entered was decided or returned.

The services call `waiting` and `decided` inside their transaction; the mail is
queued (a task, sent by the worker) only once that transaction has committed, so
a refused or rolled-back write tells nobody anything. Each call is one notice,
however many rows a list has. In the app the same news is the count on the 审批
menu and the cards of the home page (allocations.waiting).
"""

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tasks import task

from unionfunds.models import Federation, Membership, Role

SUBJECTS = {
    "waiting": gettext_lazy("Waiting for your approval: %(what)s"),
    "approved": gettext_lazy("Approved: %(what)s"),
    "rejected": gettext_lazy("Rejected: %(what)s"),
    "returned": gettext_lazy("Returned to you for correction: %(what)s"),
}
VERBS = {
    "approved": gettext_lazy("approved"),
    "rejected": gettext_lazy("rejected"),
    "returned": gettext_lazy("returned for correction"),
}


def waiting(*, federation: Federation, maker, what: str, path: str) -> None:
    """Tell the approvers who will decide on what `maker` just entered at `federation`."""
    if not settings.UNIONFUNDS_NOTIFY_EMAIL:
        return
    addresses = _approver_addresses(federation, besides=maker.pk)
    if addresses:
        with translation.override(settings.LANGUAGE_CODE):
            body = _("%(maker)s entered %(what)s at %(federation)s; it waits for your approval.") % {
                "maker": maker.get_username(),
                "what": what,
                "federation": federation.name,
            }
            _queue("waiting", what, body, path, addresses)


def decided(*, verb: str, maker_ids: Iterable[int], by, what: str, path: str, reason: str = "") -> None:
    """Tell the clerks who entered them that their entries were approved, rejected
    or returned for correction (`verb`); not who decided, if that is them."""
    if not settings.UNIONFUNDS_NOTIFY_EMAIL or verb not in VERBS:
        return
    addresses = sorted(
        get_user_model()
        .objects.filter(pk__in=set(maker_ids) - {by.pk}, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if addresses:
        with translation.override(settings.LANGUAGE_CODE):
            body = _("%(who)s: %(verb)s, %(what)s.") % {"who": by.get_username(), "verb": VERBS[verb], "what": what}
            if reason:
                body += "\n" + _("Reason: %(reason)s") % {"reason": reason}
            _queue(verb, what, body, path, addresses)


def _queue(verb: str, what: str, body: str, path: str, addresses: list[str]) -> None:
    subject = f"[{settings.UNIONFUNDS_SITE_TITLE}] " + str(SUBJECTS[verb]) % {"what": what}
    text = f"{body}\n\n{settings.UNIONFUNDS_SITE_URL.rstrip('/')}{path}\n"
    transaction.on_commit(lambda: send_notice.enqueue(subject, text, addresses))


def _approver_addresses(federation: Federation, *, besides: int) -> list[str]:
    """The approvers nearest the entry: those of its federation, or, if it has
    none, of the closest federation above it that has some."""
    step = Federation.steplen  # the materialised path: each ancestor's path is a prefix of it
    ancestry = [federation.path[:end] for end in range(step, len(federation.path) + 1, step)]
    approvers = (
        Membership.objects.filter(role=Role.APPROVER, federation__path__in=ancestry, user__is_active=True)
        .exclude(user_id=besides)
        .values_list("federation__depth", "user__email")
    )
    by_depth: dict[int, set[str]] = {}
    for depth, email in approvers:
        by_depth.setdefault(depth, set()).add(email)
    for depth in sorted(by_depth, reverse=True):
        found = sorted(email for email in by_depth[depth] if email)
        if by_depth[depth]:
            return found
    return []


def entry_path(kind: str, pk: int) -> str:
    return reverse("entry", args=[kind, pk])


def list_path(pk: int) -> str:
    return reverse("payment_list", args=[pk])


@task()
def send_notice(subject: str, text: str, addresses: list[str]) -> None:
    """One message per recipient, so that nobody sees the others' addresses."""
    send_mass_mail([(subject, text, None, [address]) for address in addresses], fail_silently=False)
