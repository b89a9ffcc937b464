"""Entering money movements, deciding on them and reversing them, in the browser.

Each view checks the form, then calls the same service as the API and the
admin; a refusal comes back next to its field, in the user's language, and
nothing is saved.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, Q, Value, When
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from allocations import services
from allocations.forms import (
    AllocationForm,
    ContributionForm,
    DecisionForm,
    DisbursementForm,
    EntryEditForm,
    funds_for,
)
from allocations.models import CLOSED, Fund, Status
from allocations.waiting import KINDS
from beneficiaries import idnumber
from beneficiaries import services as people
from beneficiaries.archive_models import ArchiveEntry
from beneficiaries.models import Beneficiary, Unit
from unionfunds import audit
from unionfunds.forms_support import show_refusal, submit_once
from unionfunds.models import Federation, Role
from unionfunds.money import format_yuan, in_capitals, valid_amount
from unionfunds.permissions import has_role, subtree_q


def entry_url(entry) -> str:
    return reverse("entry", args=[type(entry)._meta.model_name, entry.pk])


# Refusals that a box on the form answers, shown beside that box.
ANSWERED_BY = {"duplicate_payment": "confirm_duplicate"}


def _enter(request, form_class, title: str, create):
    if not funds_for(request.user).exists():
        raise PermissionDenied(_("Only a clerk can enter money movements."))
    form = form_class(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            location = submit_once(
                request, form.cleaned_data["submission"], lambda: entry_url(create(form.cleaned_data))
            )
        except ValidationError as error:
            show_refusal(form, error, fields_by_code=ANSWERED_BY)
        else:
            messages.success(request, _("Saved. It now waits for an approver."))
            return redirect(location or "home")
    return render(request, "allocations/entry_form.html", {"form": form, "title": title})


@login_required
def contribution_new(request):
    def create(data):
        return services.contribution_create(
            fund=data["fund"],
            source=data["source"],
            amount=data["amount"],
            date=data["date"],
            reference=data["reference"],
            note=data["note"],
            by=request.user,
        )

    return _enter(request, ContributionForm, _("New contribution"), create)


@login_required
def allocation_new(request):
    def create(data):
        return services.allocation_create(
            from_fund=data["from_fund"],
            to_federation=data["to_federation"],
            amount=data["amount"],
            date=data["date"],
            batch=data["batch"],
            note=data["note"],
            by=request.user,
        )

    return _enter(request, AllocationForm, _("New allocation"), create)


@login_required
def disbursement_new(request):
    def create(data):
        if data["recipient_kind"] == DisbursementForm.UNIT:
            recipient = {"unit": data["unit"] or _unit_named(data, by=request.user)}
        else:
            recipient = {
                "person": people.person_line(
                    name=data["name"],
                    id_number=data["id_number"],
                    phone=data["phone"],
                    employer=data["employer"],
                    categories=data["categories"],
                )
            }
        return services.disbursement_create(
            fund=data["fund"],
            **recipient,
            assistance_type=data["assistance_type"],
            amount=data["amount"],
            date=data["date"],
            batch=data["batch"],
            note=data["note"],
            confirm_duplicate=data["confirm_duplicate"],
            override_reason=data["override_reason"],
            by=request.user,
        )

    return _enter(request, DisbursementForm, _("New disbursement"), create)


def _unit_named(data, *, by) -> Unit:
    """The unit typed on the form: the fund's federation's own of that name if it
    has one, else registered now. `create` runs in the submission's transaction,
    so a refused payment registers no unit either."""
    federation = data["fund"].federation
    name = data["new_unit_name"].strip()
    return Unit.objects.filter(federation=federation, name=name).first() or people.unit_create(
        name=name, kind=data["new_unit_kind"], federation=federation, by=by
    )


@login_required
def id_number_check(request):
    """What the disbursement form shows while the ID number is typed."""
    try:
        resident = idnumber.parse(request.GET.get("id_number", ""))
    except ValidationError as error:
        return JsonResponse({"valid": False, "message": error.messages[0]})
    known = Beneficiary.objects.visible_to(request.user).filter(id_number=resident.number).first()
    return JsonResponse(
        {
            "valid": True,
            "gender": str(dict(Beneficiary._meta.get_field("gender").choices)[resident.gender]),
            "birth_date": resident.birth_date.isoformat(),
            "registered_name": known.name if known else None,
        }
    )


@login_required
def amount_capitals(request):
    """What the entry forms echo beside the amount as it is typed: the amount in
    Chinese capitals (大写), or why it is not an amount, in the words the form uses."""
    try:
        amount = valid_amount(request.GET.get("amount", ""))
    except ValidationError as error:
        return JsonResponse({"valid": False, "message": error.messages[0]})
    return JsonResponse({"valid": True, "capitals": in_capitals(amount), "yuan": format_yuan(amount)})


@login_required
def federation_search(request):
    """Federations whose name contains the query or whose code starts with it, to
    pick an allocation's recipient: any federation in the country (names and codes
    are public), those of the user's own subtree first, each with its parent's name
    to tell apart the many 城中区总工会."""
    query = request.GET.get("q", "").strip()[:100]
    if not query:
        return JsonResponse({"results": []})
    mine = subtree_q(request.user, "path") or Q(pk__isnull=False)  # Q() when the user sees everything
    found = (
        Federation.objects.filter(Q(name__icontains=query) | Q(code__startswith=query))
        .annotate(mine=Case(When(mine, then=Value(0)), default=Value(1)))
        .select_related("parent")
        .order_by("mine", "depth", "path")[:20]
    )
    return JsonResponse(
        {
            "results": [
                {"id": f.pk, "name": f.name, "code": f.code, "parent": f.parent.name if f.parent else ""} for f in found
            ]
        }
    )


@login_required
def fund_search(request):
    """The user's funds whose name or federation's name contains the query, this
    year's first, for the lists' fund filter."""
    query = request.GET.get("q", "").strip()[:100]
    if not query:
        return JsonResponse({"results": []})
    found = (
        Fund.objects.visible_to(request.user)
        .filter(Q(name__icontains=query) | Q(federation__name__icontains=query))
        .select_related("federation")
        .order_by("-fiscal_year", "federation__path", "name")[:20]
    )
    results = []
    for fund in found:
        name = f"{fund.name} ({fund.fiscal_year})"
        results.append({"id": fund.pk, "name": name, "label": f"{name} · {fund.federation.name}"})
    return JsonResponse({"results": results})


# One entry ---------------------------------------------------------------------


def visible_entry(user, kind: str, pk: int):
    model = KINDS.get(kind)
    if model is None:
        raise Http404
    return get_object_or_404(model.objects.visible_to(user), pk=pk)


@login_required
def entry_detail(request, kind: str, pk: int):
    entry = visible_entry(request.user, kind, pk)
    owner = entry.owner()
    return render(
        request,
        "allocations/entry_detail.html",
        {
            "entry": entry,
            "kind": kind,
            "history": audit.history(entry).select_related("user"),
            # Whether the person's page opens for this user: through the home record or a card.
            "person_visible": getattr(entry, "beneficiary_id", None) is not None
            and Beneficiary.objects.visible_to(request.user).filter(pk=entry.beneficiary_id).exists(),
            "can_decide": entry.status == Status.PENDING
            and entry.returned_at is None
            and entry.created_by_id != request.user.pk
            and has_role(request.user, Role.APPROVER, owner),
            "can_edit": _editable_by(request.user, entry),
            "can_withdraw": entry.status == Status.PENDING
            and entry.created_by_id == request.user.pk
            and has_role(request.user, Role.CLERK, owner),
            "can_reverse": entry.is_reversible()
            and not entry.reversals.exclude(status__in=CLOSED).exists()
            and has_role(request.user, Role.CLERK, owner),
            "decision_form": DecisionForm(),
            **_household_helped(request.user, entry),
        },
    )


def _household_helped(user, entry) -> dict:
    """The archive entry of the household a payment helped, if this user sees it:
    a county's fund may pay a person whose household another county filed, and
    that household's file is not the payer's to read."""
    household_id = getattr(entry, "household_id", None)
    if household_id is None:
        return {}
    helped = ArchiveEntry.objects.visible_to(user).filter(household_id=household_id).order_by("-pk").first()
    return {"helped_entry": helped, "helped_elsewhere": helped is None}


@login_required
def entry_edit(request, kind: str, pk: int):
    """Correct a pending entry (not a reversal, which mirrors its entry): a clerk
    of its federation, until it is decided; each change is in its history."""
    entry = visible_entry(request.user, kind, pk)
    if not _editable_by(request.user, entry):
        raise PermissionDenied(_("Only a clerk of its federation can correct a pending entry."))
    form = EntryEditForm(request.POST or None, entry=entry, editable=services.EDITABLE_FIELDS[type(entry)])
    if request.method == "POST" and form.is_valid():
        changes = form.changes(entry)
        if not changes:
            messages.info(request, _("Nothing was changed."))
            return redirect(entry_url(entry))
        try:
            services.movement_update(
                movement=entry,
                by=request.user,
                confirm_duplicate=form.cleaned_data.get("confirm_duplicate", False),
                **changes,
            )
        except ValidationError as error:
            show_refusal(form, error, fields_by_code=ANSWERED_BY)
        else:
            messages.success(request, _("Saved. The change is in its history."))
            return redirect(entry_url(entry))
    title = _("Correct %(entry)s #%(pk)s") % {"entry": entry._meta.verbose_name, "pk": entry.pk}
    return render(request, "allocations/entry_form.html", {"form": form, "title": title, "cancel": entry_url(entry)})


def _editable_by(user, entry) -> bool:
    return entry.status == Status.PENDING and not entry.is_reversal and has_role(user, Role.CLERK, entry.owner())


@login_required
@require_POST
def entry_decide(request, kind: str, pk: int):
    entry = visible_entry(request.user, kind, pk)
    form = DecisionForm(request.POST)
    form.is_valid()
    reason = form.cleaned_data.get("reason", "")
    action = request.POST.get("action")
    try:
        if action == "approve":
            services.movement_approve(movement=entry, by=request.user)
            messages.success(request, _("Approved."))
        elif action == "reject":
            services.movement_reject(movement=entry, by=request.user, reason=reason)
            messages.success(request, _("Rejected."))
        elif action == "return":
            services.movements_return(movements=[entry], by=request.user, reason=reason)
            messages.success(request, _("Returned to its clerk for correction."))
        elif action == "withdraw":
            services.movements_withdraw(movements=[entry], by=request.user, reason=reason)
            messages.success(request, _("Withdrawn: it reserves nothing any more."))
        elif action == "resubmit":
            services.movements_resubmit(movements=[entry], by=request.user)
            messages.success(request, _("Resubmitted: it waits for an approver again."))
        elif action == "reverse":
            reversal = services.movement_reverse(movement=entry, by=request.user, reason=reason)
            messages.success(request, _("Reversal entered; it now waits for an approver."))
            return redirect(entry_url(reversal))
        else:
            raise Http404
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except PermissionDenied as error:
        raise PermissionDenied(str(error)) from None
    return redirect(entry_url(entry))
