"""The home page: what the user's federations hold, what waits for a decision,
and the latest activity in their subtree."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from allocations.models import Allocation, Contribution, Disbursement, Fund, Status
from unionfunds.models import AuditEvent, Federation
from unionfunds.permissions import scope_paths, sees_everything

RECENT_ACTIVITY = 15


@login_required
def home(request):
    user = request.user
    federations = Federation.objects.visible_to(user)
    tops = list(
        federations.filter(depth=1) if sees_everything(user) else federations.filter(path__in=scope_paths(user))
    )
    funds = Fund.objects.visible_to(user).select_related("federation").order_by("federation__path", "-fiscal_year")
    pending = {
        model._meta.verbose_name_plural: model.objects.visible_to(user).filter(status=Status.PENDING).count()
        for model in (Contribution, Allocation, Disbursement)
    }
    # content_type too: each line links to its record's page by the model's name.
    activity = AuditEvent.objects.visible_to(user).select_related("user", "content_type")[:RECENT_ACTIVITY]
    return render(
        request,
        "home.html",
        {
            "federations": tops,
            "funds": funds[:100],
            "fund_count": funds.count(),
            "pending": pending,
            "activity": activity,
        },
    )
