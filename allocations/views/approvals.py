"""The approver's queue: pending entries of the subtree, decided one or many at once."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from allocations import services
from allocations.models import Allocation, Contribution, Disbursement, PaymentList, Status
from allocations.waiting import KINDS, archive_changes_for, pending_for
from beneficiaries.archive_models import HouseholdMember
from unionfunds import audit
from unionfunds.models import Role
from unionfunds.money import money_sum, valid_amount
from unionfunds.permissions import has_role, has_role_anywhere

RELATED = {
    Contribution: ("fund__federation", "created_by", "reverses"),
    Allocation: ("from_fund__federation", "to_federation", "created_by", "reverses"),
    Disbursement: ("fund__federation", "beneficiary", "unit", "created_by", "reverses"),
}
QUEUE_LENGTH = 200
ROWS_PER_PAGE = 50


def lists_waiting_for(user) -> list[PaymentList]:
    """The lists with rows this user may decide on, each with what of it waits
    (`waiting`, `waiting_total`) and its assistance types, oldest first."""
    waiting = {
        row["payment_list"]: row
        for row in pending_for(user, Disbursement)
        .filter(payment_list__isnull=False)
        .values("payment_list")
        .annotate(count=Count("pk"), total=money_sum("amount"))
        .order_by()
    }
    found = list(
        PaymentList.objects.filter(pk__in=waiting)
        .select_related("fund__federation", "created_by")
        .order_by("created_at", "pk")
    )
    types = _assistance_types([payment_list.pk for payment_list in found])
    for payment_list in found:
        payment_list.waiting = waiting[payment_list.pk]["count"]
        payment_list.waiting_total = waiting[payment_list.pk]["total"]
        payment_list.assistance_types = types.get(payment_list.pk, [])
    return found


def _assistance_types(pks: list[int]) -> dict[int, list[str]]:
    labels = dict(Disbursement._meta.get_field("assistance_type").choices)
    found: dict[int, list[str]] = {}
    rows = (
        Disbursement.objects.filter(payment_list__in=pks)
        .values_list("payment_list", "assistance_type")
        .distinct()
        .order_by("payment_list", "assistance_type")
    )
    for pk, code in rows:
        found.setdefault(pk, []).append(str(labels.get(code, code)))
    return found


@login_required
def approval_queue(request):
    if not has_role_anywhere(request.user, Role.APPROVER):
        raise PermissionDenied(_("Only an approver has an approval queue."))
    sections = []
    for kind, model in KINDS.items():
        queryset = pending_for(request.user, model)
        if model is Disbursement:  # a list's rows are decided with their list, above
            queryset = queryset.filter(payment_list__isnull=True)
        summary = queryset.aggregate(count=Count("pk"), total=money_sum("amount"))
        sections.append(
            {
                "kind": kind,
                "title": model._meta.verbose_name_plural,
                "entries": queryset.select_related(*RELATED[model]).order_by("created_at", "pk")[:QUEUE_LENGTH],
                **summary,
            }
        )
    archive_changes = archive_changes_for(request.user)
    return render(
        request,
        "allocations/approvals.html",
        {
            "sections": sections,
            "limit": QUEUE_LENGTH,
            "lists": lists_waiting_for(request.user),
            "archive_changes": archive_changes.select_related("entry__federation", "created_by")
            .prefetch_related(
                Prefetch("entry__household__members", queryset=HouseholdMember.objects.select_related("beneficiary"))
            )
            .order_by("created_at", "pk")[:QUEUE_LENGTH],
            "archive_change_count": archive_changes.count(),
        },
    )


@login_required
def payment_list_detail(request, pk: int):
    """A disbursement list as a whole: what it is, where each of its rows stands,
    the rows a page at a time, and for its approver the decision on all of it."""
    payment_list = get_object_or_404(
        PaymentList.objects.visible_to(request.user).select_related("fund__federation", "created_by"), pk=pk
    )
    rows = payment_list.disbursements.all()
    summary = rows.values("status").annotate(count=Count("pk"), total=money_sum("amount")).order_by()
    by_status = {row["status"]: row for row in summary}
    returned = rows.filter(status=Status.PENDING, returned_at__isnull=False).aggregate(
        count=Count("pk"), total=money_sum("amount")
    )
    pending = by_status.get(Status.PENDING, {"count": 0, "total": 0})
    waiting = {"count": pending["count"] - returned["count"], "total": pending["total"] - returned["total"]}
    page = Paginator(rows.select_related("beneficiary", "unit", "decided_by").order_by("pk"), ROWS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    owner = payment_list.fund.federation
    is_maker = payment_list.created_by_id == request.user.pk and has_role(request.user, Role.CLERK, owner)
    return render(
        request,
        "allocations/payment_list.html",
        {
            "payment_list": payment_list,
            "assistance_types": _assistance_types([payment_list.pk]).get(payment_list.pk, []),
            "by_status": [
                (label, by_status[value]["count"], by_status[value]["total"])
                for value, label in Status.choices
                if value in by_status
            ],
            "waiting": waiting["count"],
            "waiting_total": waiting["total"],
            "returned": returned["count"],
            "return_reason": rows.filter(returned_at__isnull=False).values_list("return_reason", flat=True).first(),
            "page": page,
            "can_decide": waiting["count"] > 0
            and payment_list.created_by_id != request.user.pk
            and has_role(request.user, Role.APPROVER, owner),
            "can_withdraw": is_maker and pending["count"] > 0,
            "can_resubmit": is_maker and returned["count"] > 0,
            "history": audit.history(payment_list).select_related("user"),
        },
    )


@login_required
@require_POST
def payment_list_decide(request, pk: int):
    """Decide all of a list that waits, as it was shown (its count and total come
    back with the decision): approve, reject or return it for correction, all of
    it, or, if anything stands in the way, none of it. Its clerk withdraws or
    resubmits it here too."""
    payment_list = get_object_or_404(PaymentList.objects.visible_to(request.user).select_related("fund"), pk=pk)
    action, reason = request.POST.get("action"), request.POST.get("reason", "")
    try:
        if action == "withdraw":
            count = services.payment_list_withdraw(payment_list=payment_list, by=request.user, reason=reason)
        elif action == "resubmit":
            count = services.payment_list_resubmit(payment_list=payment_list, by=request.user)
        elif action in LIST_DECISIONS:
            try:
                expected = {
                    "expect_rows": int(request.POST.get("rows", "")),
                    "expect_total": valid_amount(request.POST.get("total", "")),
                }
            except (ValueError, ValidationError):
                messages.error(request, _("Open the list again and decide from its page."))
                return redirect("payment_list", pk)
            reasoned = {} if action == "approve" else {"reason": reason}
            count = LIST_DECISIONS[action](payment_list=payment_list, by=request.user, **reasoned, **expected)
        else:
            raise PermissionDenied
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("payment_list", pk)
    messages.success(request, _("%(count)s entries decided.") % {"count": f"{count:,}"})
    if request.POST.get("next") == "approvals":
        return redirect("approvals")
    return redirect("payment_list", pk)


LIST_DECISIONS = {
    "approve": services.payment_list_approve,
    "reject": services.payment_list_reject,
    "return": services.payment_list_return,
}


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
