from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from allocations import policy, services
from allocations.models import Allocation, Contribution, Disbursement, Fund, PolicyRule, Status
from allocations.resources import FundResource
from beneficiaries import idnumber
from unionfunds.admin_scoping import ScopedAdmin, ScopedImportExportAdmin
from unionfunds.models import Role

NONE_PENDING = _("None of the selected entries is pending.")
NONE_REVERSIBLE = _("None of the selected entries is approved and reversible.")


@admin.register(Fund)
class FundAdmin(ScopedImportExportAdmin):
    list_display = ["name", "federation", "purpose", "fiscal_year", "balance", "available"]
    list_filter = ["purpose", "fiscal_year", "federation__level"]
    search_fields = ["name", "federation__name", "federation__code"]
    list_select_related = ["federation"]
    readonly_fields = ["federation", "name", "purpose", "fiscal_year", "balance", "available", "created_at"]
    autocomplete_fields = ["federation"]
    resource_classes = [FundResource]
    # Opening funds is administration; clerks open them from the pages.
    add_role = Role.ADMIN
    add_fields = ("federation", "name", "purpose", "fiscal_year")

    @admin.display(description=_("available"))
    def available(self, fund: Fund):
        return fund.available

    def create(self, request, data: dict) -> Fund:
        return services.fund_create(
            federation=data["federation"],
            name=data["name"],
            purpose=data["purpose"],
            fiscal_year=data["fiscal_year"],
            by=request.user,
        )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class MovementAdmin(ScopedAdmin):
    """Entries are read-only here; deciding on them calls the same services as
    every other door, so maker-checker and the fund checks hold."""

    list_filter = ["status", "date"]
    date_hierarchy = "date"
    actions = ["approve_selected", "reject_selected", "reverse_selected"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.action(description=_("Approve selected pending entries"))
    def approve_selected(self, request, queryset):
        movements = list(queryset.filter(status=Status.PENDING).order_by("pk"))
        if not movements:
            self.message_user(request, NONE_PENDING, messages.WARNING)
            return
        self.run_service(
            request,
            lambda: services.movements_approve(movements=movements, by=request.user),
            _("Approved %(count)s entries.") % {"count": len(movements)},
        )

    @admin.action(description=_("Reject selected pending entries, with a reason"))
    def reject_selected(self, request, queryset):
        return self._with_reason(
            request,
            queryset.filter(status=Status.PENDING),
            action="reject_selected",
            title=_("Reject entries"),
            question=_("Reject these pending entries? The reason is shown to the clerk who entered them."),
            service=services.movements_reject,
            done=_("Rejected %(count)s entries."),
            none_message=NONE_PENDING,
        )

    @admin.action(description=_("Request a reversal of selected approved entries"))
    def reverse_selected(self, request, queryset):
        return self._with_reason(
            request,
            queryset.filter(status=Status.APPROVED, reverses__isnull=True),
            action="reverse_selected",
            title=_("Request reversals"),
            question=_("Request a reversal of these approved entries? Each reversal is approved like any entry."),
            service=services.movements_reverse,
            done=_("Reversals requested for %(count)s entries."),
            none_message=NONE_REVERSIBLE,
        )

    def _with_reason(self, request, queryset, *, action, title, question, service, done, none_message):
        """Ask for the reason on a page of its own, then call the service for
        all the entries at once; the page posts back to the list with the same
        selection."""
        movements = list(queryset.order_by("pk"))
        if not movements:
            self.message_user(request, none_message, messages.WARNING)
            return None
        form = ReasonForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            # All or nothing, as a list is decided everywhere else.
            self.run_service(
                request,
                lambda: service(movements=movements, by=request.user, reason=reason),
                done % {"count": len(movements)},
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "question": question,
            "opts": self.model._meta,
            "form": form,
            "movements": movements,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/allocations/movement_reason.html", context)


@admin.register(Contribution)
class ContributionAdmin(MovementAdmin):
    list_display = ["id", "fund", "source", "amount", "date", "status", "created_by"]
    list_filter = ["status", "source", "date"]
    search_fields = ["fund__name", "reference"]
    list_select_related = ["fund__federation", "created_by"]
    autocomplete_fields = ["fund"]


@admin.register(Allocation)
class AllocationAdmin(MovementAdmin):
    list_display = ["id", "from_fund", "to_federation", "amount", "batch", "date", "status", "created_by"]
    search_fields = ["batch", "to_federation__name", "from_fund__name"]
    list_select_related = ["from_fund__federation", "to_federation", "created_by"]
    autocomplete_fields = ["from_fund", "to_federation", "to_fund"]


@admin.register(Disbursement)
class DisbursementAdmin(MovementAdmin):
    list_display = ["id", "fund", "person_as_paid", "unit", "assistance_type", "amount", "date", "status"]
    list_filter = ["status", "assistance_type", "date"]
    # By the name paid to: the register's name of a person registered elsewhere is not the payer's.
    search_fields = ["payee_name", "=beneficiary__id_number", "unit__name", "batch"]
    list_select_related = ["fund__federation", "beneficiary", "unit"]
    autocomplete_fields = ["fund", "beneficiary", "unit"]
    # The ID number as paid is the person's: shown masked, as the person is.
    # The person is shown as paid (`person_as_paid`).
    exclude = ["payee_id_number", "beneficiary"]

    def get_readonly_fields(self, request, obj=None):
        fields = [name for name in super().get_readonly_fields(request, obj) if name != "payee_id_number"]
        return [*("person_as_paid" if name == "beneficiary" else name for name in fields), "paid_to_id"]

    @admin.display(description=_("beneficiary"))
    def person_as_paid(self, obj):
        """The person as the payment names them (masked), never as the register
        does: a person registered elsewhere is the register's to name."""
        return obj.paid_to if obj.beneficiary_id else "—"

    @admin.display(description=_("ID number as paid"))
    def paid_to_id(self, obj):
        return idnumber.mask(obj.payee_id_number) if obj.payee_id_number else "—"


@admin.register(PolicyRule)
class PolicyRuleAdmin(ScopedAdmin):
    """Rules are set by a federation's administrator for the funds below it;
    one in force is taken out of force, never deleted (its running totals and
    the payments charged to it keep pointing at it)."""

    list_display = ["name", "federation", "purpose", "assistance_type", "scope", "cap", "once_per_year", "active"]
    list_filter = ["active", "purpose", "assistance_type", "scope", "once_per_year"]
    search_fields = ["name", "federation__name"]
    list_select_related = ["federation"]
    autocomplete_fields = ["federation"]
    actions = ["take_out_of_force"]
    add_role = Role.ADMIN
    add_fields = (
        "federation",
        "name",
        "purpose",
        "assistance_type",
        "source",
        "allowed",
        "scope",
        "cap_amount",
        "cap_dibao_months",
        "once_per_year",
        "overridable",
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [field.name for field in self.model._meta.fields]

    @admin.display(description=_("yearly cap"))
    def cap(self, rule: PolicyRule) -> str:
        if rule.cap_amount is not None:
            return f"¥{rule.cap_amount:,.2f}"
        if rule.cap_dibao_months is not None:
            return str(_("%(months)s months of the 低保 line") % {"months": rule.cap_dibao_months.normalize()})
        return "—"

    def create(self, request, data: dict) -> PolicyRule:
        return policy.rule_create(by=request.user, **data)

    @admin.action(description=_("Take selected rules out of force"))
    def take_out_of_force(self, request, queryset):
        rules = list(queryset.filter(active=True).order_by("pk"))
        for rule in rules:
            taken_out = _("Taken out of force.")
            if not self.run_service(
                request, lambda rule=rule: policy.rule_update(rule=rule, active=False, by=request.user), taken_out
            ):
                return
