from django.contrib import admin

from beneficiaries.models import Beneficiary, Unit
from unionfunds.admin_scoping import ScopedAdmin


@admin.register(Beneficiary)
class BeneficiaryAdmin(ScopedAdmin):
    list_display = ["name", "masked_id_number", "gender", "birth_date", "employer", "federation"]
    list_filter = ["gender", "categories"]
    search_fields = ["name", "=id_number", "employer"]
    list_select_related = ["federation"]
    readonly_fields = ["name", "masked_id_number", "gender", "birth_date", "phone", "employer", "federation"]
    exclude = ["id_number", "categories"]


@admin.register(Unit)
class UnitAdmin(ScopedAdmin):
    list_display = ["name", "kind", "federation"]
    list_filter = ["kind"]
    search_fields = ["name"]
    list_select_related = ["federation"]
    readonly_fields = ["name", "kind", "federation", "created_at"]
