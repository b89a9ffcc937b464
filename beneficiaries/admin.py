from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from beneficiaries import services
from beneficiaries.models import Beneficiary, CategoryCode, Unit, mask_phone
from beneficiaries.resources import BeneficiaryResource, BeneficiaryWithIdNumbersResource, UnitResource
from unionfunds.admin_scoping import ScopedImportExportAdmin, ServiceAddForm
from unionfunds.models import Federation, Level, Role
from unionfunds.permissions import has_role_anywhere, sees_everything, subtree_q


class BeneficiaryAddForm(ServiceAddForm):
    class Meta:
        widgets = {"categories": forms.CheckboxSelectMultiple}


class SeenCategoryFilter(admin.SimpleListFilter):
    """By category as the user sees the person: a card's for a person seen through one."""

    title = _("categories")
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return CategoryCode.choices

    def queryset(self, request, queryset):
        return queryset.with_category(self.value()) if self.value() in CategoryCode.values else queryset


class SeenLevelFilter(admin.SimpleListFilter):
    """By the level of the federation the user sees the person at: a card's for
    a person seen through one, never the register's home federation."""

    title = _("level")
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return Level.choices

    def queryset(self, request, queryset):
        if self.value() not in Level.values:
            return queryset
        return queryset.filter(seen_path__in=Federation.objects.filter(level=self.value()).values("path"))


@admin.register(Beneficiary)
class BeneficiaryAdmin(ScopedImportExportAdmin):
    """People as the user sees them (`Beneficiary.objects.visible_to`): a person
    registered outside the user's subtree is shown, filtered and searched as
    the card of the user's subtree has them. Nothing is edited here (the admin
    is read-only); an import changes the card, never the register, of such a person."""

    list_display = ["name", "masked_id_number", "gender", "birth_year", "employer", "federation"]
    list_filter = ["gender", SeenCategoryFilter, SeenLevelFilter]
    # No search by ID number: it would confirm a guessed number, and the admin
    # never shows (nor logs) full numbers.
    search_fields = ["seen_name", "seen_employer"]
    path_lookup = "seen_path"  # where the user may add, for an autocomplete box: the federation they see
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

    def history_view(self, request, object_id, extra_context=None):
        # What was done to the person by the user's own subtree: another
        # federation's additions name the person as the register or their card does.
        response = super().history_view(request, object_id, extra_context)
        if isinstance(response, TemplateResponse) and not sees_everything(request.user):
            page = response.context_data["action_list"]
            ours = get_user_model().objects.filter(subtree_q(request.user, "memberships__federation__path"))
            paginator = self.get_paginator(request, page.paginator.object_list.filter(user__in=ours), 100)
            page = paginator.get_page(page.number)
            response.context_data.update(
                action_list=page,
                page_range=paginator.get_elided_page_range(page.number),
                pagination_required=paginator.count > 100,
            )
        return response

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
