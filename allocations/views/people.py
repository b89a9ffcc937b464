"""A beneficiary's page: who the person is, what they were paid, and who did
what to the record. ID numbers and phones are masked; a clerk or auditor who
needs the full number asks for it with a POST, and that view is recorded. A
person registered outside the user's subtree is shown as the card of the
user's subtree has them (`Beneficiary.objects.visible_to`), page for page as a
person registered there."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
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
from unionfunds.models import AuditEvent
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
            "history": masked_history(person, request.user),
        },
    )


# The register's own events, shown to those who see the person's home record wherever they were filed.
REGISTER_EVENTS = ("beneficiary.registered", "beneficiary.edited")


def masked_history(person: Beneficiary, user) -> list:
    """The record's audit events with ID numbers and phones masked. The trail
    stores them masked already (beneficiaries/migrations/0003 masked the events
    written before it did); masking again costs nothing and keeps the page safe
    from any writer that forgot, as the history is shown to everyone who may
    open the page.

    Only what the user's subtree did (events filed there: its card, its views
    of the full number), and, for one who sees the home record, the register's
    registration and edits: another federation's card of the person, and who
    looked at the number there, are that federation's (docs/DOMAIN.md, rule 3)."""
    events = audit.history(person).filter(pk__in=AuditEvent.objects.visible_to(user).values("pk"))
    if person.seen_card is None:
        events = audit.history(person).filter(Q(pk__in=events.values("pk")) | Q(action__in=REGISTER_EVENTS))
    events = list(events.select_related("user"))
    for event in events:
        for name, mask in MASKED_IN_HISTORY.items():
            change = event.changes.get(name)
            if change:
                event.changes[name] = {key: mask(value) if value else value for key, value in change.items()}
    return events
