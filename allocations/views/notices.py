"""The notices page (通知): what was sent to this user, newest first; each opens the
entry or list it is about and is then read."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from allocations import notify
from allocations.models import Notification

NOTICES_PER_PAGE = 50


@login_required
@require_GET
def notification_list(request):
    notices = Notification.objects.addressed_to(request.user)
    page = Paginator(notices, NOTICES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "allocations/notifications.html", {"page": page, "unread": notices.unread().exists()})


@login_required
@require_GET
def notification_open(request, pk: int):
    """Mark the notice read and go where it points. Another's notice is a 404, as if
    it did not exist; a link that is not a path on this site (it never is: the
    notice refuses one when written) leads to the notices page."""
    notice = get_object_or_404(Notification.objects.addressed_to(request.user), pk=pk)
    notify.mark_read(user=request.user, pk=notice.pk)
    return redirect(notice.path if notify.is_local(notice.path) else "notifications")


@login_required
@require_POST
def notifications_read(request):
    notify.mark_read(user=request.user)
    return redirect("notifications")
