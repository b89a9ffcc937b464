"""The home page: what the user's federations hold, what waits for a decision,
and the latest activity in their subtree."""

import datetime
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Min
from django.shortcuts import render

from allocations.models import Allocation, Contribution, Disbursement, Fund, PaymentList, Status
from allocations.waiting import KINDS, entered_waiting, rejected_recently, returned_to
from unionfunds.models import AuditEvent, Federation, Role
from unionfunds.permissions import has_role_anywhere, scope_paths, sees_everything

RECENT_ACTIVITY = 15
ACTIVITY_CHUNK = 200
# A list's own event and its rows' events are written in one transaction, moments apart.
SAME_MOMENT = datetime.timedelta(seconds=5)


@dataclass
class Activity:
    """A line of recent activity: one event, or the `count` events one call wrote
    at one instant (a list's rows), shown by the first of them."""

    event: AuditEvent
    count: int = 1

    @property
    def records(self) -> str:
        model = self.event.content_type.model_class()
        return str(model._meta.verbose_name_plural) if model else self.event.content_type.model

    @property
    def key(self) -> tuple:
        return (self.event.at, self.event.user_id, self.event.action, self.event.content_type_id)


def recent_activity(user, limit: int = RECENT_ACTIVITY) -> list[Activity]:
    """The latest events of the user's subtree, newest first, with the rows one
    list wrote at once as one line, and that line left out beside the list's own
    event (发放名单 #12 … ×1,000 says it all). A 100,000-row list costs one
    count, not a scan of its rows."""
    events = AuditEvent.objects.visible_to(user).select_related("user", "content_type")
    lines: list[Activity] = []
    older_than = None
    while len(lines) < limit + 1:
        chunk = list((events.filter(at__lt=older_than) if older_than else events)[:ACTIVITY_CHUNK])
        if not chunk:
            break
        for event in chunk:
            if lines and lines[-1].key == Activity(event).key:
                lines[-1].count += 1
            else:
                lines.append(Activity(event))
        if len(chunk) < ACTIVITY_CHUNK:
            break  # the last events there are
        # The chunk may stop inside the events of its last instant: count them all.
        older_than = chunk[-1].at
        lines = [line for line in lines if line.event.at != older_than] + _at_instant(events, older_than)
    return _without_rows_of_lists(lines)[:limit]


def _at_instant(events, at) -> list[Activity]:
    groups = (
        events.filter(at=at)
        .values("user_id", "action", "content_type_id")
        .annotate(count=Count("pk"), first=Min("pk"))
        .order_by("-first")
    )
    firsts = events.in_bulk([group["first"] for group in groups])
    return [Activity(firsts[group["first"]], group["count"]) for group in groups]


def _without_rows_of_lists(lines: list[Activity]) -> list[Activity]:
    def is_list_event_of(line: Activity, other: Activity) -> bool:
        return (
            other.event.content_type.model == "paymentlist"
            and other.event.user_id == line.event.user_id
            and other.event.action.rsplit(".", 1)[-1] == line.event.action.rsplit(".", 1)[-1]
            and abs(other.event.at - line.event.at) <= SAME_MOMENT
        )

    return [
        line
        for n, line in enumerate(lines)
        if not (
            line.count > 1
            and line.event.content_type.model == "disbursement"
            and any(is_list_event_of(line, other) for other in lines[max(n - 2, 0) : n + 3] if other is not line)
        )
    ]


@login_required
def home(request):
    user = request.user
    federations = Federation.objects.visible_to(user)
    tops = list(
        federations.filter(depth=1) if sees_everything(user) else federations.filter(path__in=scope_paths(user))
    )
    funds = Fund.objects.visible_to(user).select_related("federation").order_by("federation__path", "-fiscal_year")
    pending = [
        (
            model._meta.verbose_name_plural,
            f"{model._meta.model_name}s",
            model.objects.visible_to(user).filter(status=Status.PENDING).count(),
        )
        for model in (Contribution, Allocation, Disbursement)
    ]
    is_clerk = has_role_anywhere(user, Role.CLERK)
    activity = recent_activity(user)
    return render(
        request,
        "home.html",
        {
            "federations": tops,
            "funds": funds[:100],
            "fund_count": funds.count(),
            "pending": pending,
            "is_clerk": is_clerk,
            "mine_waiting": sum(entered_waiting(user).values()) if is_clerk else 0,
            "mine_rejected": sum(q.count() for q in rejected_recently(user).values()) if is_clerk else 0,
            "mine_returned": sum(q.count() for q in returned_to(user).values()) if is_clerk else 0,
            "activity": activity,
        },
    )


@login_required
def my_entries(request):
    """What a clerk entered that needs her: returned to her for correction and
    rejected in the last month, with the approvers' reasons, what still waits,
    and her recent lists."""
    user = request.user
    rejected = rejected_recently(user)
    returned = [
        {
            "kind": kind,
            "title": KINDS[kind]._meta.verbose_name_plural,
            "entries": queryset.select_related("returned_by")[:100],
            "count": queryset.count(),
        }
        for kind, queryset in returned_to(user).items()
    ]
    sections = [
        {
            "kind": kind,
            "title": KINDS[kind]._meta.verbose_name_plural,
            "entries": queryset.select_related("decided_by")[:100],
            "count": queryset.count(),
        }
        for kind, queryset in rejected.items()
    ]
    return render(
        request,
        "allocations/my_entries.html",
        {
            "sections": sections,
            "returned": [section for section in returned if section["count"]],
            "rejected_count": sum(section["count"] for section in sections),
            "waiting": [
                (KINDS[kind]._meta.verbose_name_plural, count) for kind, count in entered_waiting(user).items()
            ],
            "lists": PaymentList.objects.filter(created_by=user).select_related("fund__federation")[:20],
        },
    )
