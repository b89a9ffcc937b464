"""The archive in the admin: read every entry, household and change of one's
subtree; file a household with its head; ask to close entries; decide on the
changes waiting; set the local 低保 lines. Every write is a call of
`beneficiaries.archive`, as from the pages and the API, so maker-checker and
the one-open-household rule hold here too. Members are shown as filed (name
and masked number), never by the register's name."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from beneficiaries import archive
from beneficiaries.archive_models import (
    ArchiveChange,
    ArchiveEntry,
    ArchiveStatus,
    Cause,
    ChangeStatus,
    CloseReason,
    DibaoLine,
    Household,
    HouseholdMember,
)
from beneficiaries.services import person_line
from unionfunds.admin_scoping import ScopedAdmin, ServiceAddForm
from unionfunds.models import Federation, Role
from unionfunds.permissions import role_q

NONE_WAITING = _("None of the selected changes is waiting for a decision.")
NONE_OPEN = _("None of the selected archive entries is open.")


class MemberInline(admin.TabularInline):
    model = HouseholdMember
    fields = ["label", "relation", "in_open_archive"]
    readonly_fields = ["label", "relation", "in_open_archive"]
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description=_("person"))
    def label(self, member: HouseholdMember) -> str:
        return member.label

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("beneficiary")


class ChangeInline(admin.TabularInline):
    model = ArchiveChange
    fields = ["kind", "status", "tier", "income_per_head", "close_reason", "effective_on", "created_by", "decided_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["pk"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Household)
class HouseholdAdmin(ScopedAdmin):
    list_display = ["id", "head", "federation", "address", "created_at"]
    list_filter = ["federation__level"]
    search_fields = ["address", "members__name"]
    list_select_related = ["federation"]
    readonly_fields = ["federation", "address", "created_by", "created_at"]
    inlines = [MemberInline]

    @admin.display(description=_("Head of household"))
    def head(self, household: Household) -> str:
        return next((m.label for m in household.members.all() if m.relation == "head"), "—")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("members__beneficiary")


class FilingForm(ServiceAddForm):
    """A household with its head, and the ask to admit it: other members are
    added on the archive's pages or in a sheet."""

    head_name = forms.CharField(label=_("Head of household"), max_length=50)
    head_id_number = forms.CharField(label=_("resident ID number"), max_length=32)
    address = forms.CharField(label=_("address"), max_length=200, required=False)
    causes = forms.MultipleChoiceField(
        label=_("causes of hardship"), choices=Cause.choices, widget=forms.CheckboxSelectMultiple
    )


@admin.register(ArchiveEntry)
class ArchiveEntryAdmin(ScopedAdmin):
    list_display = ["number", "household", "federation", "tier", "status", "valid_from", "checked_on", "closed_on"]
    list_filter = ["status", "tier", "close_reason", "federation__level"]
    search_fields = ["household__members__name", "household__address"]
    list_select_related = ["federation"]
    readonly_fields = [
        "number",
        "household",
        "federation",
        "tier",
        "standard",
        "income_per_head",
        "dibao_monthly",
        "cause_list",
        "valid_from",
        "valid_to",
        "status",
        "opened_on",
        "checked_on",
        "closed_on",
        "close_reason",
        "reopened_on",
        "created_by",
        "created_at",
    ]
    exclude = ["causes"]
    inlines = [ChangeInline]
    actions = ["close_selected"]
    add_role = Role.CLERK
    add_form = FilingForm
    add_fields = (
        "federation",
        "head_name",
        "head_id_number",
        "address",
        "tier",
        "income_per_head",
        "causes",
        "valid_from",
        "valid_to",
        "standard",
    )

    @admin.display(description=_("causes of hardship"))
    def cause_list(self, entry: ArchiveEntry) -> str:
        labels = dict(Cause.choices)
        return "、".join(str(labels.get(code, code)) for code in entry.causes)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("household__members")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Federation:
            kwargs["queryset"] = Federation.objects.filter(role_q(request.user, Role.CLERK, "path"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def create(self, request, data: dict) -> ArchiveEntry:
        head = person_line(name=data["head_name"], id_number=data["head_id_number"])
        household = archive.household_file(
            federation=data["federation"],
            members=[archive.MemberLine(head, "head")],
            address=data.get("address", ""),
            by=request.user,
        )
        figures = archive.Figures.read(
            tier=data["tier"], income_per_head=data["income_per_head"], causes=data["causes"]
        )
        change = archive.archive_open(
            household=household,
            figures=figures,
            valid_from=data["valid_from"],
            valid_to=data.get("valid_to"),
            standard=data.get("standard", ""),
            by=request.user,
        )
        return change.entry

    @admin.action(description=_("Ask to close selected open entries, with a reason"))
    def close_selected(self, request, queryset):
        entries = list(queryset.filter(status=ArchiveStatus.OPEN).order_by("pk"))
        if not entries:
            self.message_user(request, NONE_OPEN, messages.WARNING)
            return None
        form = CloseForm(request.POST if "close_reason" in request.POST else None)
        if form.is_valid():
            asked = 0
            for entry in entries:
                asked += _try(
                    self,
                    request,
                    lambda entry=entry: archive.archive_close(
                        entry=entry,
                        reason=form.cleaned_data["close_reason"],
                        closed_on=form.cleaned_data["closed_on"],
                        note=form.cleaned_data["note"],
                        by=request.user,
                    ),
                )
            if asked:
                self.message_user(request, _("Closing asked for %(count)s entries.") % {"count": asked})
            return None
        return _ask_page(self, request, form, entries, "close_selected", _("Ask to close entries"))


def _try(model_admin, request, call) -> bool:
    """One service call of an action over several rows: its refusal is shown and
    the other rows go on (each is its own decision, as on the pages)."""
    return model_admin.run_service(request, call, None)


class CloseForm(forms.Form):
    close_reason = forms.ChoiceField(label=_("close reason"), choices=CloseReason.choices)
    closed_on = forms.DateField(label=_("closed on"))
    note = forms.CharField(label=_("note"), widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=False)


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


def _ask_page(model_admin, request, form, rows, action, title):
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "question": title,
        "opts": model_admin.model._meta,
        "form": form,
        "movements": rows,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": model_admin.media,
    }
    return TemplateResponse(request, "admin/allocations/movement_reason.html", context)


@admin.register(ArchiveChange)
class ArchiveChangeAdmin(ScopedAdmin):
    list_display = ["id", "entry", "kind", "status", "tier", "effective_on", "created_by", "decided_by"]
    list_filter = ["status", "kind"]
    search_fields = ["entry__household__members__name"]
    list_select_related = ["entry__federation", "created_by", "decided_by"]
    path_lookup = "entry__federation__path"
    actions = ["approve_selected", "reject_selected"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def _waiting(self, queryset) -> list[ArchiveChange]:
        return list(queryset.filter(status=ChangeStatus.PENDING).order_by("pk"))

    @admin.action(description=_("Approve selected changes"))
    def approve_selected(self, request, queryset):
        changes = self._waiting(queryset)
        if not changes:
            self.message_user(request, NONE_WAITING, messages.WARNING)
            return
        decided = sum(
            _try(self, request, lambda c=c: archive.archive_change_approve(change=c, by=request.user)) for c in changes
        )
        if decided:
            self.message_user(request, _("Approved %(count)s changes.") % {"count": decided})

    @admin.action(description=_("Reject selected changes, with a reason"))
    def reject_selected(self, request, queryset):
        changes = self._waiting(queryset)
        if not changes:
            self.message_user(request, NONE_WAITING, messages.WARNING)
            return None
        form = RejectForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            decided = sum(
                _try(self, request, lambda c=c: archive.archive_change_reject(change=c, reason=reason, by=request.user))
                for c in changes
            )
            if decided:
                self.message_user(request, _("Rejected %(count)s changes.") % {"count": decided})
            return None
        return _ask_page(self, request, form, changes, "reject_selected", _("Reject changes"))


@admin.register(DibaoLine)
class DibaoLineAdmin(ScopedAdmin):
    list_display = ["federation", "year", "monthly"]
    list_filter = ["year", "federation__level"]
    search_fields = ["federation__name", "federation__code"]
    list_select_related = ["federation"]
    readonly_fields = ["federation", "year", "monthly", "created_at"]
    autocomplete_fields = ["federation"]
    add_role = Role.CLERK
    add_fields = ("federation", "year", "monthly")

    def create(self, request, data: dict) -> DibaoLine:
        return archive.dibao_line_set(
            federation=data["federation"], year=data["year"], monthly=data["monthly"], by=request.user
        )
