"""The approver's queue: pending entries of the subtree, decided one or many at once."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from allocations import services
from allocations.models import Allocation, Contribution, Disbursement, Status
from allocations.views.entries import KINDS
from unionfunds.models import Role
from unionfunds.money import money_sum
from unionfunds.permissions import has_role_anywhere, role_q

OWNER_PATH = {
    Contribution: "fund__federation__path",
    Allocation: "from_fund__federation__path",
    Disbursement: "fund__federation__path",
}
RELATED = {
    Contribution: ("fund__federation", "created_by", "reverses"),
    Allocation: ("from_fund__federation", "to_federation", "created_by", "reverses"),
    Disbursement: ("fund__federation", "beneficiary", "unit", "created_by", "reverses"),
}
QUEUE_LENGTH = 200


def pending_for(user, model):
    """Pending entries this user may decide on: in their approver subtrees, not their own."""
    return (
        model.objects.filter(status=Status.PENDING)
        .filter(role_q(user, Role.APPROVER, OWNER_PATH[model]))
        .exclude(created_by=user)
    )


@login_required
def approval_queue(request):
    if not has_role_anywhere(request.user, Role.APPROVER):
        raise PermissionDenied(_("Only an approver has an approval queue."))
    sections = []
    for kind, model in KINDS.items():
        queryset = pending_for(request.user, model)
        summary = queryset.aggregate(count=Count("pk"), total=money_sum("amount"))
        sections.append(
            {
                "kind": kind,
                "title": model._meta.verbose_name_plural,
                "entries": queryset.select_related(*RELATED[model]).order_by("created_at", "pk")[:QUEUE_LENGTH],
                **summary,
            }
        )
    lists = (
        pending_for(request.user, Disbursement)
        .exclude(batch="")
        .values("fund_id", "fund__name", "fund__federation__name", "batch", "created_by_id", "created_by__username")
        .annotate(count=Count("pk"), total=money_sum("amount"))
        .filter(count__gt=1)
        .order_by("fund__federation__name", "batch")
    )
    return render(request, "allocations/approvals.html", {"sections": sections, "limit": QUEUE_LENGTH, "lists": lists})


@login_required
@require_POST
def approval_decide_list(request):
    """Approve a whole disbursement list (one clerk's batch from one fund) at
    once: all of it or, if one entry is refused, none of it."""
    try:
        fund, created_by = int(request.POST.get("fund", "")), int(request.POST.get("created_by", ""))
    except ValueError:
        raise PermissionDenied from None
    entries = list(
        pending_for(request.user, Disbursement)
        .filter(fund_id=fund, created_by_id=created_by, batch=request.POST.get("batch", ""))
        .order_by("pk")
    )
    if not entries:
        messages.warning(request, _("Nothing of that list is waiting any more."))
        return redirect("approvals")
    try:
        count = services.movements_approve(movements=entries, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("%(count)s entries decided.") % {"count": count})
    return redirect("approvals")


@login_required
@require_POST
def approval_decide(request):
    """Approve or reject the ticked entries, each on its own: one refusal does not
    hold back the others, and each outcome is reported."""
    action, reason = request.POST.get("action"), request.POST.get("reason", "")
    done, refused = 0, []
    for kind, model in KINDS.items():
        ids = [int(value) for value in request.POST.getlist(kind) if value.isdigit()]
        for entry in pending_for(request.user, model).filter(pk__in=ids):
            try:
                if action == "approve":
                    services.movement_approve(movement=entry, by=request.user)
                elif action == "reject":
                    services.movement_reject(movement=entry, by=request.user, reason=reason)
                else:
                    raise PermissionDenied
                done += 1
            except ValidationError as error:
                refused.append(f"#{entry.pk}: {' '.join(error.messages)}")
                if action == "reject" and not reason.strip():
                    break
    if done:
        messages.success(request, _("%(count)s entries decided.") % {"count": done})
    for message in refused:
        messages.error(request, message)
    if not done and not refused:
        messages.warning(request, _("Tick the entries to decide on first."))
    return redirect("approvals")
