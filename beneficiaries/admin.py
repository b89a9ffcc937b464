from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from beneficiaries import services
from beneficiaries.models import Beneficiary, Unit, mask_phone
from beneficiaries.resources import BeneficiaryResource, BeneficiaryWithIdNumbersResource, UnitResource
from unionfunds.admin_scoping import ScopedImportExportAdmin, ServiceAddForm
from unionfunds.models import Role
from unionfunds.permissions import has_role_anywhere


class BeneficiaryAddForm(ServiceAddForm):
    class Meta:
        widgets = {"categories": forms.CheckboxSelectMultiple}


@admin.register(Beneficiary)
class BeneficiaryAdmin(ScopedImportExportAdmin):
    list_display = ["name", "masked_id_number", "gender", "birth_year", "employer", "federation"]
    list_filter = ["gender", "categories", "federation__level"]
    # No search by ID number: it would confirm a guessed number, and the admin
    # never shows (nor logs) full numbers.
    search_fields = ["name", "employer"]
    list_select_related = ["federation"]
    readonly_fields = [
        "name",
        "masked_id_number",
        "gender",
        "birth_year",
        "masked_phone",
        "employer",
        "federation",
        "category_list",
    ]
    # The full numbers are never on the page; they are shown masked above. The
    # person's page shows them to those who may see them, and logs that it did.
    exclude = ["id_number", "phone", "categories"]
    autocomplete_fields = ["federation"]
    resource_classes = [BeneficiaryResource]
    add_role = Role.CLERK
    add_fields = ("federation", "name", "id_number", "phone", "employer", "categories")
    add_form = BeneficiaryAddForm

    # The birth date is digits 7-14 of the number: beside the masked number it
    # would rebuild it. The year alone does not.
    @admin.display(description=_("birth year"))
    def birth_year(self, person: Beneficiary) -> int:
        return person.birth_date.year

    @admin.display(description=_("resident ID number"))
    def masked_id_number(self, person: Beneficiary) -> str:
        return person.masked_id_number

    @admin.display(description=_("phone"))
    def masked_phone(self, person: Beneficiary) -> str:
        return mask_phone(person.phone)

    @admin.display(description=_("categories"))
    def category_list(self, person: Beneficiary) -> str:
        return "、".join(str(category) for category in person.categories.all())

    def get_import_resource_classes(self, request):
        return [BeneficiaryResource]

    def get_export_resource_classes(self, request):
        # Masked is the default; full numbers only for those whose work needs
        # them somewhere, and even then only for the people they may see.
        user = request.user
        if has_role_anywhere(user, Role.CLERK) or has_role_anywhere(user, Role.AUDITOR):
            return [BeneficiaryResource, BeneficiaryWithIdNumbersResource]
        return [BeneficiaryResource]

    def create(self, request, data: dict) -> Beneficiary:
        return services.beneficiary_register(
            name=data["name"],
            id_number=data["id_number"],
            federation=data["federation"],
            phone=data.get("phone", ""),
            employer=data.get("employer", ""),
            categories=[category.code for category in data.get("categories", [])],
            by=request.user,
        )


@admin.register(Unit)
class UnitAdmin(ScopedImportExportAdmin):
    list_display = ["name", "kind", "federation"]
    list_filter = ["kind", "federation__level"]
    search_fields = ["name", "federation__name", "federation__code"]
    list_select_related = ["federation"]
    readonly_fields = ["name", "kind", "federation", "created_at"]
    autocomplete_fields = ["federation"]
    resource_classes = [UnitResource]
    add_role = Role.CLERK
    add_fields = ("federation", "name", "kind")

    def create(self, request, data: dict) -> Unit:
        return services.unit_create(
            name=data["name"], kind=data["kind"], federation=data["federation"], by=request.user
        )


from beneficiaries import admin_archive  # noqa: E402, F401 (registers the archive's pages)
