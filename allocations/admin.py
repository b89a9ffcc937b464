from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from allocations import services
from allocations.models import Allocation, Contribution, Disbursement, Fund, Status
from unionfunds.admin_scoping import ScopedAdmin


@admin.register(Fund)
class FundAdmin(ScopedAdmin):
    list_display = ["name", "federation", "purpose", "fiscal_year", "balance", "available"]
    list_filter = ["purpose", "fiscal_year"]
    search_fields = ["name", "federation__name"]
    list_select_related = ["federation"]
    readonly_fields = ["federation", "name", "purpose", "fiscal_year", "balance", "available", "created_at"]

    @admin.display(description=_("available"))
    def available(self, fund: Fund):
        return fund.available


class MovementAdmin(ScopedAdmin):
    """Entries are read-only here; deciding on them calls the same services as
    every other door, so maker-checker and the fund checks hold."""

    list_filter = ["status", "date"]
    date_hierarchy = "date"
    actions = ["approve_selected"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.action(description=_("Approve selected pending entries"))
    def approve_selected(self, request, queryset):
        for movement in queryset.filter(status=Status.PENDING):
            self.run_service(
                request,
                lambda movement=movement: services.movement_approve(movement=movement, by=request.user),
                _("Approved: %(entry)s") % {"entry": movement},
            )


@admin.register(Contribution)
class ContributionAdmin(MovementAdmin):
    list_display = ["id", "fund", "source", "amount", "date", "status", "created_by"]
    list_filter = ["status", "source", "date"]
    search_fields = ["fund__name", "reference"]
    list_select_related = ["fund__federation", "created_by"]


@admin.register(Allocation)
class AllocationAdmin(MovementAdmin):
    list_display = ["id", "from_fund", "to_federation", "amount", "batch", "date", "status", "created_by"]
    search_fields = ["batch", "to_federation__name", "from_fund__name"]
    list_select_related = ["from_fund__federation", "to_federation", "created_by"]


@admin.register(Disbursement)
class DisbursementAdmin(MovementAdmin):
    list_display = ["id", "fund", "beneficiary", "unit", "assistance_type", "amount", "date", "status"]
    list_filter = ["status", "assistance_type", "date"]
    search_fields = ["beneficiary__name", "=beneficiary__id_number", "unit__name", "batch"]
    list_select_related = ["fund__federation", "beneficiary", "unit"]
    raw_id_fields = ["beneficiary", "unit", "fund"]
