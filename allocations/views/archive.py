"""The hardship archive's pages (困难职工档案): the list and the three views a
finance office works from, filing a household, and an entry's page with its
members, figures, history, documents and payments, where its clerk asks for a
review, a closing or a reopening and an approver decides.

Every write is a service of `beneficiaries.archive`; a refusal comes back beside
the box it names or as a message, in the user's language. An entry outside the
user's subtree is a 404 through every door here, as one that does not exist.
"""

from collections.abc import Callable
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from allocations import rollups
from allocations.archive_forms import (
    MEMBER_ROWS_MAX,
    ArchiveFilter,
    CloseForm,
    EvidenceForm,
    FilingForm,
    ReopenForm,
    ReviewForm,
    filing_federations,
    member_formset,
)
from allocations.forms import DecisionForm
from allocations.models import Disbursement, Status
from beneficiaries import archive
from beneficiaries.archive_models import (
    ArchiveChange,
    ArchiveEntry,
    ArchiveEvidence,
    ArchiveStatus,
    ChangeStatus,
    HouseholdMember,
)
from unionfunds import downloads
from unionfunds.errors import ListRefused
from unionfunds.forms_support import show_refusal, submit_once
from unionfunds.models import Role
from unionfunds.permissions import has_role, subtree_q

ROWS_PER_PAGE = 50
PAYMENTS_SHOWN = 200

# The views of the list a finance office works from, by the `view` of the query string.
VIEWS: dict[str, tuple[str, Callable[[QuerySet], QuerySet]]] = {
    "": (gettext_lazy("All"), lambda entries: entries),
    "due": (gettext_lazy("Due for review"), lambda entries: archive.due_for_review(entries)),
    "never_helped": (gettext_lazy("Filed, never helped"), archive.never_helped),
    "follow_up": (gettext_lazy("Out of hardship, followed up"), lambda entries: archive.to_follow_up(entries)),
}


def _members() -> Prefetch:
    return Prefetch("household__members", queryset=HouseholdMember.objects.select_related("beneficiary"))


@login_required
def archive_list(request: HttpRequest) -> HttpResponse:
    view = request.GET.get("view", "")
    if view not in VIEWS:
        view = ""
    entries = VIEWS[view][1](ArchiveEntry.objects.visible_to(request.user))
    found = ArchiveFilter(request.GET or None, queryset=entries, request=request)
    queryset = found.qs
    totals = _totals(queryset)
    waiting = ArchiveChange.objects.filter(entry=OuterRef("pk"), status=ChangeStatus.PENDING).values("kind")[:1]
    rows = queryset.select_related("federation").prefetch_related(_members()).annotate(waiting=Subquery(waiting))
    paginator = Paginator(rows, ROWS_PER_PAGE)
    paginator.__dict__["count"] = totals["rows"]  # counted with the 合计 already
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    others = request.GET.copy()
    for key in ("page", "view"):
        others.pop(key, None)
    return render(
        request,
        "archive/list.html",
        {
            "filter": {"form": found.form},
            "page": page,
            "totals": totals,
            "query": query.urlencode(),
            "views": [(key, label, others.urlencode()) for key, (label, _select) in VIEWS.items()],
            "view": view,
            "view_title": VIEWS[view][0],
            "sortable": True,
            "can_file": filing_federations(request.user).exists(),
        },
    )


def _totals(queryset: QuerySet) -> dict:
    """The 合计 under the list: entries by status, the households and the people in them."""
    counted = dict(queryset.order_by().values_list("status").annotate(count=Count("pk")))
    households = queryset.order_by().values("household")
    return {
        "rows": sum(counted.values()),
        "by_status": [(label, counted[value]) for value, label in ArchiveStatus.choices if counted.get(value)],
        "households": households.distinct().count(),
        "people": HouseholdMember.objects.filter(household__in=households).count(),
    }


# Filing ----------------------------------------------------------------------------


@login_required
def archive_new(request: HttpRequest) -> HttpResponse:
    """A household and the ask to admit it, on one page: both written, or neither."""
    if not filing_federations(request.user).exists():
        raise PermissionDenied(_("Only a clerk can file a household."))
    if request.method == "POST" and "add_row" in request.POST:
        form, members = _with_another_row(request)
        return render(request, "archive/new.html", {"form": form, "members": members, "row_limit": MEMBER_ROWS_MAX})
    data = request.POST if request.method == "POST" else None
    form, members = FilingForm(data, user=request.user), member_formset(data)
    problems: list[str] = []
    if data is not None and all([form.is_valid(), members.is_valid()]):
        try:
            location = submit_once(
                request, form.cleaned_data["submission"], lambda: _file(request.user, form.cleaned_data, members)
            )
        except ValidationError as error:
            problems = _show_filing_refusal(form, members, error)
        else:
            messages.success(request, _("Filed. The entry now waits for an approver."))
            return redirect(location or "archive_list")
    return render(
        request,
        "archive/new.html",
        {"form": form, "members": members, "member_problems": problems, "row_limit": MEMBER_ROWS_MAX},
    )


@transaction.atomic
def _file(user, data: dict, members) -> str:
    household = archive.household_file(
        federation=data["federation"],
        members=[archive.MemberLine(person, relation) for _form, person, relation in members.people()],
        address=data["address"],
        by=user,
    )
    change = archive.archive_open(
        household=household,
        figures=data["figures"],
        valid_from=data["valid_from"],
        valid_to=data["valid_to"],
        standard=data["standard"],
        note=data["note"],
        by=user,
    )
    return reverse("archive_entry", args=[change.entry_id])


def _show_filing_refusal(form, members, error: ValidationError) -> list[str]:
    """Each problem beside its box: a member's in its row, the household's above
    the members; what is left (the household is filed already), above the form."""
    if isinstance(error, ListRefused):
        filled, above = members.filled(), []
        for problem in error.problems:
            row = filled[problem.row - 1] if problem.row and problem.row <= len(filled) else None
            if row is not None:
                row.add_error(problem.field if problem.field in row.fields else None, problem.message)
            else:
                above.append(problem.message)
        return above
    if hasattr(error, "error_dict") and "members" in error.error_dict:
        return [message for one in error.error_dict["members"] for message in one]
    show_refusal(form, error)
    return []


def _with_another_row(request: HttpRequest):
    """What was typed, again, with one more member row: the button a browser
    without scripts presses to add a row. Nothing is checked or saved yet."""
    data = request.POST
    initial = {name: data.getlist(name) if name == "causes" else data.get(name, "") for name in FilingForm.base_fields}
    form = FilingForm(initial=initial, user=request.user)
    try:
        typed = int(data.get("members-TOTAL_FORMS", "0"))
    except ValueError:
        typed = 0
    rows = [
        {field: data.get(f"members-{n}-{field}", "") for field in ("name", "id_number", "relation")}
        for n in range(min(max(typed, 0), MEMBER_ROWS_MAX))
    ]
    if len(rows) < MEMBER_ROWS_MAX:
        rows.append({})
    return form, member_formset(initial=rows)


# One entry ---------------------------------------------------------------------------


def _visible_entry(user, pk: int) -> ArchiveEntry:
    entries = ArchiveEntry.objects.visible_to(user).select_related("federation", "household", "created_by")
    return get_object_or_404(entries, pk=pk)


@login_required
def archive_entry(request: HttpRequest, pk: int) -> HttpResponse:
    return _entry_page(request, _visible_entry(request.user, pk))


def _entry_page(request: HttpRequest, entry: ArchiveEntry, **bound) -> HttpResponse:
    user = request.user
    changes = list(entry.changes.select_related("created_by", "decided_by").order_by("-pk"))
    pending = next((change for change in changes if change.status == ChangeStatus.PENDING), None)
    is_clerk = has_role(user, Role.CLERK, entry.federation)
    payments = (
        Disbursement.objects.visible_to(user)
        .filter(household_id=entry.household_id)
        .select_related("fund__federation", "beneficiary", "unit")
        .order_by("-date", "-pk")
    )
    return render(
        request,
        "archive/entry.html",
        {
            "entry": entry,
            "members": entry.household.members.select_related("beneficiary"),
            "share_of_dibao": _share(entry.income_per_head, entry.dibao_monthly),
            "changes": changes,
            "pending": pending,
            "evidence": entry.evidence.select_related("uploaded_by"),
            "payments": payments[:PAYMENTS_SHOWN],
            "payment_count": payments.count(),
            "payments_shown": PAYMENTS_SHOWN,
            "approved_total": rollups.net_total(payments.filter(status=Status.APPROVED)),
            "can_review": is_clerk and pending is None and entry.status == ArchiveStatus.OPEN,
            "can_reopen": is_clerk and pending is None and entry.status == ArchiveStatus.CLOSED,
            "can_withdraw": pending is not None and pending.created_by_id == user.pk and is_clerk,
            "can_decide": pending is not None
            and pending.created_by_id != user.pk
            and has_role(user, Role.APPROVER, entry.federation),
            "can_add_evidence": is_clerk,
            "review_form": bound.get("review") or ReviewForm(entry=entry),
            "close_form": bound.get("close") or CloseForm(entry=entry),
            "reopen_form": bound.get("reopen") or ReopenForm(entry=entry),
            "decision_form": DecisionForm(),
            "evidence_form": EvidenceForm(),
        },
    )


def _share(income: Decimal, line: Decimal | None) -> int | None:
    """Income per head as a percentage of the 低保 line, whole."""
    if not line:
        return None
    return int((income * 100 / line).quantize(Decimal("1")))


def _ask_review(entry: ArchiveEntry, data: dict, by) -> ArchiveChange:
    return archive.archive_review(
        entry=entry,
        figures=data["figures"],
        reviewed_on=data["reviewed_on"],
        valid_to=data["valid_to"],
        note=data["note"],
        by=by,
    )


def _ask_close(entry: ArchiveEntry, data: dict, by) -> ArchiveChange:
    return archive.archive_close(
        entry=entry, reason=data["reason"], closed_on=data["closed_on"], note=data["note"], by=by
    )


def _ask_reopen(entry: ArchiveEntry, data: dict, by) -> ArchiveChange:
    return archive.archive_reopen(
        entry=entry,
        figures=data["figures"],
        reopened_on=data["reopened_on"],
        valid_to=data["valid_to"],
        note=data["note"],
        by=by,
    )


ASKS = {
    "review": (ReviewForm, _ask_review, gettext_lazy("Review asked for. It now waits for an approver.")),
    "close": (CloseForm, _ask_close, gettext_lazy("Closing asked for. It now waits for an approver.")),
    "reopen": (ReopenForm, _ask_reopen, gettext_lazy("Reopening asked for. It now waits for an approver.")),
}
# Where the services name a field otherwise than the forms do.
FIELD_NAMES = {"close_reason": "reason"}


@login_required
@require_POST
def archive_ask(request: HttpRequest, pk: int) -> HttpResponse:
    """The clerk asks for a review, a closing or a reopening of the entry."""
    entry = _visible_entry(request.user, pk)
    action = request.POST.get("action", "")
    if action not in ASKS:
        raise Http404
    form_class, ask, done = ASKS[action]
    form = form_class(request.POST, entry=entry)
    if form.is_valid():
        try:
            ask(entry, form.cleaned_data, request.user)
        except ValidationError as error:
            if not _beside_fields(form, error):
                messages.error(request, " ".join(error.messages))
                return redirect("archive_entry", pk)
        else:
            messages.success(request, str(done))
            return redirect("archive_entry", pk)
    return _entry_page(request, entry, **{action: form})


def _beside_fields(form, error: ValidationError) -> bool:
    """Put a refusal beside the boxes it names, if the form has them all."""
    if not hasattr(error, "error_dict"):
        return False
    named = {FIELD_NAMES.get(field, field): errors for field, errors in error.error_dict.items()}
    if not all(field in form.fields for field in named):
        return False
    show_refusal(form, ValidationError(named))
    return True


@login_required
@require_POST
def archive_change_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """An approver (not its clerk) approves or rejects a change waiting; its
    clerk may take it back instead."""
    change = get_object_or_404(ArchiveChange.objects.visible_to(request.user), pk=pk)
    action = request.POST.get("action", "")
    try:
        if action == "approve":
            archive.archive_change_approve(change=change, by=request.user)
            messages.success(request, _("Approved."))
        elif action == "reject":
            archive.archive_change_reject(change=change, reason=request.POST.get("reason", ""), by=request.user)
            messages.success(request, _("Rejected."))
        elif action == "withdraw":
            archive.archive_change_withdraw(change=change, by=request.user)
            messages.success(request, _("Withdrawn."))
        else:
            raise Http404
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    if request.POST.get("next") == "approvals":
        return redirect("approvals")
    return redirect("archive_entry", change.entry_id)


# Documents -----------------------------------------------------------------------------


@login_required
@require_POST
def archive_evidence_add(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _visible_entry(request.user, pk)
    form = EvidenceForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(message for errors in form.errors.values() for message in errors))
        return redirect("archive_entry", pk)
    try:
        archive.evidence_add(entry=entry, upload=form.cleaned_data["file"], by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The document is kept with the entry."))
    return redirect("archive_entry", pk)


@login_required
@never_cache  # a diagnosis or an income statement: no copy in any cache
def archive_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    """A document of an entry the user sees, as a download (never shown in the
    page, whatever its type claims), from storage no static URL reaches."""
    documents = ArchiveEvidence.objects.filter(subtree_q(request.user, "entry__federation__path"))
    evidence = get_object_or_404(documents, pk=pk)
    try:
        stored = evidence.file.open("rb")
    except OSError:
        raise Http404(_("The document's file is missing from storage.")) from None
    suffix = evidence.name.rpartition(".")[2] if "." in evidence.name else ""
    fallback = f"evidence-{evidence.pk}" + (f".{suffix}" if suffix.isascii() and suffix.isalnum() else "")
    return downloads.file_response(stored, evidence.name, fallback, "application/octet-stream")
