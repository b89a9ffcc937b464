"""What waits for whom: an approver's decisions to take, a clerk's entries that
were rejected. Read on every page (the count on the 审批 menu), so each figure
is one indexed COUNT."""

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from allocations.models import Allocation, Contribution, Disbursement, Movement, PaymentList, Status
from beneficiaries.archive_models import ArchiveChange, ChangeStatus
from unionfunds.models import Role
from unionfunds.permissions import has_role_anywhere, role_q

OWNER_PATH = {
    Contribution: "fund__federation__path",
    Allocation: "from_fund__federation__path",
    Disbursement: "fund__federation__path",
}
KINDS: dict[str, type[Movement]] = {
    "contribution": Contribution,
    "allocation": Allocation,
    "disbursement": Disbursement,
}
# How far back a clerk is shown what was rejected: a month of work.
REJECTED_SHOWN_FOR = datetime.timedelta(days=30)


def pending_for(user, model: type[Movement]) -> QuerySet:
    """Pending entries this user may decide on: in their approver subtrees, not their
    own, and not returned to their clerk for correction."""
    return (
        model._default_manager.filter(status=Status.PENDING, returned_at__isnull=True)
        .filter(role_q(user, Role.APPROVER, OWNER_PATH[model]))
        .exclude(created_by=user)
    )


def decisions_waiting(user) -> int:
    """What waits for this approver, as she decides it: each list once, each
    entry that is in no list, and each archive change."""
    if not has_role_anywhere(user, Role.APPROVER):
        return 0
    singles = sum(
        pending_for(user, model).filter(**({"payment_list__isnull": True} if model is Disbursement else {})).count()
        for model in KINDS.values()
    )
    lists = (
        PaymentList.objects.filter(
            pk__in=pending_for(user, Disbursement).filter(payment_list__isnull=False).values("payment_list")
        )
        .distinct()
        .count()
    )
    return singles + lists + archive_changes_for(user).count()


def archive_changes_for(user) -> QuerySet:
    """Changes of archive entries (filing, review, closing, reopening) this user
    may decide on: in her approver subtrees, and not asked for by herself."""
    return (
        ArchiveChange.objects.filter(status=ChangeStatus.PENDING)
        .filter(role_q(user, Role.APPROVER, "entry__federation__path"))
        .exclude(created_by=user)
    )


def rejected_recently(user) -> dict[str, QuerySet]:
    """This user's own entries rejected in the last month, newest first, by kind."""
    since = timezone.now() - REJECTED_SHOWN_FOR
    return {
        kind: model._default_manager.filter(created_by=user, status=Status.REJECTED, decided_at__gte=since).order_by(
            "-decided_at", "-pk"
        )
        for kind, model in KINDS.items()
    }


def returned_to(user) -> dict[str, QuerySet]:
    """This user's own entries returned to them for correction, newest first, by kind."""
    return {
        kind: model._default_manager.filter(created_by=user, status=Status.PENDING, returned_at__isnull=False).order_by(
            "-returned_at", "-pk"
        )
        for kind, model in KINDS.items()
    }


def entered_waiting(user) -> dict[str, int]:
    """This user's own entries still waiting for a decision, by kind."""
    return {
        kind: model._default_manager.filter(created_by=user, status=Status.PENDING, returned_at__isnull=True).count()
        for kind, model in KINDS.items()
    }
