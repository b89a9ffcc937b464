"""A beneficiary's page: who the person is, what they were paid, and who did
what to the record. ID numbers and phones are masked; a clerk or auditor who
needs the full number asks for it with a POST, and that view is recorded."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from allocations import rollups
from allocations.models import Disbursement, Status
from beneficiaries import idnumber
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, mask_phone
from unionfunds import audit
from unionfunds.permissions import ROLE_REQUIRED

# Values in the history that are as personal as the number on the page above them.
MASKED_IN_HISTORY = {"id_number": idnumber.mask, "phone": mask_phone}


@login_required
@never_cache  # the page may hold a full ID number: no copy in any cache
@require_http_methods(["GET", "HEAD", "POST"])
def beneficiary_detail(request: HttpRequest, pk: int) -> HttpResponse:
    beneficiaries = Beneficiary.objects.visible_to(request.user).select_related("federation")
    person = get_object_or_404(beneficiaries.prefetch_related("categories"), pk=pk)
    may_see = people.may_see_id_number(request.user, person)
    show_full = request.method == "POST"
    if show_full:
        if not may_see:
            raise PermissionDenied(ROLE_REQUIRED)
        people.id_numbers_shown(beneficiaries=[person], by=request.user)
    disbursements = (
        Disbursement.objects.visible_to(request.user)
        .filter(beneficiary=person)
        .select_related("fund__federation", "beneficiary", "unit")
        .order_by("-date", "-pk")
    )
    return render(
        request,
        "beneficiaries/detail.html",
        {
            "person": person,
            "id_number": person.id_number if show_full else person.masked_id_number,
            "phone": person.phone if show_full else mask_phone(person.phone),
            "show_full": show_full,
            "may_see": may_see,
            "disbursements": disbursements,
            "approved_total": rollups.net_total(disbursements.filter(status=Status.APPROVED)),
            "history": masked_history(person),
        },
    )


def masked_history(person: Beneficiary) -> list:
    """The record's audit events with ID numbers and phones masked. The trail
    stores them masked already (beneficiaries/migrations/0003 masked the events
    written before it did); masking again costs nothing and keeps the page safe
    from any writer that forgot, as the history is shown to everyone who may
    open the page."""
    events = list(audit.history(person).select_related("user"))
    for event in events:
        for name, mask in MASKED_IN_HISTORY.items():
            change = event.changes.get(name)
            if change:
                event.changes[name] = {key: mask(value) if value else value for key, value in change.items()}
    return events
