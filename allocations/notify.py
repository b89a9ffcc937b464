"""Telling whoever must act next: the approvers when something waits for them, the
clerk when what she entered was decided or returned.

Every notice is written in the app (a `Notification`, the 通知 page and the count
beside it in the menu) and, where the deployment has mail
(settings.UNIONFUNDS_NOTIFY_EMAIL, docs/DEPLOY.md), e-mailed to those with an
address. The services call `waiting` and `decided` inside their transaction: the
notifications are rows of that transaction, and the mail is queued (a task, sent
by the worker) only once it has committed, so a refused or rolled-back write tells
nobody anything. Each call is one notice per recipient, however many rows a list
has. The count on the 审批 menu and the home page's cards (allocations.waiting) say
what waits whatever the notices.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tasks import task

from allocations.models import NoticeKind, NoticeVerb, Notification, notice_sentence
from unionfunds.models import Federation, Membership, Role

SUBJECTS = {
    NoticeVerb.WAITING: gettext_lazy("Waiting for your approval: %(what)s"),
    NoticeVerb.APPROVED: gettext_lazy("Approved: %(what)s"),
    NoticeVerb.REJECTED: gettext_lazy("Rejected: %(what)s"),
    NoticeVerb.RETURNED: gettext_lazy("Returned to you for correction: %(what)s"),
}

DECISIONS = {NoticeVerb.APPROVED, NoticeVerb.REJECTED, NoticeVerb.RETURNED}


@dataclass(frozen=True)
class About:
    """What a notice is about (Notification.describe): one entry by its label, a
    list (kind "paymentlist") by its label and its rows, or `rows` entries of a
    kind (no label)."""

    kind: str
    label: str = ""
    rows: int = 1


def waiting(*, federation: Federation, maker, about: About, path: str) -> None:
    """Tell the approvers who will decide on what `maker` just entered at `federation`."""
    approvers = _nearest_approvers(federation, besides=maker.pk)
    _send(
        NoticeVerb.WAITING,
        about,
        path,
        approvers,
        who=maker.get_username(),
        place=federation.name,
    )


def decided(*, verb: str, maker_ids: Iterable[int], by, about: About, path: str, reason: str = "") -> None:
    """Tell the clerks who entered them that their entries were approved, rejected
    or returned for correction (`verb`); not who decided, if that is them."""
    if verb not in DECISIONS:
        raise ValueError(f"not a decision: {verb!r}")
    makers = list(
        get_user_model()
        .objects.filter(pk__in=set(maker_ids) - {by.pk}, is_active=True)
        .order_by("pk")
        .values_list("pk", "email")
    )
    _send(verb, about, path, makers, who=by.get_username(), reason=reason)
    # What was decided waits for nobody now: the approvers' notices of it are no news.
    Notification.objects.filter(verb=NoticeVerb.WAITING, path=path, read_at__isnull=True).update(read_at=timezone.now())


def _send(
    verb: str,
    about: About,
    path: str,
    recipients: list[tuple[int, str]],
    *,
    who: str,
    place: str = "",
    reason: str = "",
) -> None:
    """One notification per recipient, in the caller's transaction; and the mail,
    on commit, to those with an address."""
    if not is_local(path):
        raise ValueError(f"a notice links to a path on this site, not {path!r}")
    if about.kind not in NoticeKind.values:
        raise ValueError(f"not a kind of entry: {about.kind!r}")
    parts = {"verb": verb, "kind": about.kind, "rows": about.rows, "label": about.label, "who": who, "place": place}
    Notification.objects.bulk_create(
        Notification(recipient_id=pk, reason=reason, path=path, **parts) for pk, _email in recipients
    )
    addresses = sorted(email for _pk, email in recipients if email)
    if settings.UNIONFUNDS_NOTIFY_EMAIL and addresses:
        with translation.override(settings.LANGUAGE_CODE):
            what = Notification.describe(about.kind, about.label, about.rows)
            body = notice_sentence(verb, who=who, what=what, place=place)
            if reason:
                body += "\n" + _("Reason: %(reason)s") % {"reason": reason}
            subject = f"[{settings.UNIONFUNDS_SITE_TITLE}] " + str(SUBJECTS[NoticeVerb(verb)]) % {"what": what}
        text = f"{body}\n\n{settings.UNIONFUNDS_SITE_URL.rstrip('/')}{path}\n"
        transaction.on_commit(lambda: send_notice.enqueue(subject, text, addresses))


def _nearest_approvers(federation: Federation, *, besides: int) -> list[tuple[int, str]]:
    """The active approvers nearest the entry (user id, address or ""): those of its
    federation, or, if it has none, of the closest federation above it that has some."""
    step = Federation.steplen  # the materialised path: each ancestor's path is a prefix of it
    ancestry = [federation.path[:end] for end in range(step, len(federation.path) + 1, step)]
    approvers = (
        Membership.objects.filter(role=Role.APPROVER, federation__path__in=ancestry, user__is_active=True)
        .exclude(user_id=besides)
        .values_list("federation__depth", "user_id", "user__email")
    )
    by_depth: dict[int, set[tuple[int, str]]] = {}
    for depth, pk, email in approvers:
        by_depth.setdefault(depth, set()).add((pk, email))
    return sorted(by_depth[max(by_depth)]) if by_depth else []


def is_local(path: str) -> bool:
    """A path on this site (`/entries/…`), not an address elsewhere (`//evil.example`)."""
    return path.startswith("/") and url_has_allowed_host_and_scheme(path, allowed_hosts=None)


def entry_path(kind: str, pk: int) -> str:
    return reverse("entry", args=[kind, pk])


def list_path(pk: int) -> str:
    return reverse("payment_list", args=[pk])


@task()
def send_notice(subject: str, text: str, addresses: list[str]) -> None:
    """One message per recipient, so that nobody sees the others' addresses."""
    send_mass_mail([(subject, text, None, [address]) for address in addresses], fail_silently=False)


def unread_count(user) -> int:
    """The count beside 通知 in the menu, on every page: one COUNT on its index."""
    return Notification.objects.addressed_to(user).unread().count()


def mark_read(*, user, pk: int | None = None) -> int:
    """Mark one of the user's notices read (`pk`), or all of them; only ever hers."""
    notices = Notification.objects.addressed_to(user).unread()
    return (notices.filter(pk=pk) if pk is not None else notices).update(read_at=timezone.now())
