"""Beneficiaries and units in admin spreadsheets: registered, changed and
created by the services in `beneficiaries.services`, by clerks, within their
subtrees. Exports show ID numbers masked; the export with full numbers is a
separate choice, and records every number it shows."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from import_export import fields, widgets

from beneficiaries import idnumber
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, Category, Unit
from unionfunds.models import Role
from unionfunds.resources import FederationCodeWidget, ScopedResource


class CategoryCodesWidget(widgets.ManyToManyWidget):
    """Categories as their codes, separated by commas; the service checks them."""

    def __init__(self, **kwargs):
        super().__init__(Category, separator=",", field="code", **kwargs)

    def clean(self, value, row=None, **kwargs) -> list[str]:
        text = "" if value is None else str(value).replace("，", ",")
        return [code.strip() for code in text.split(",") if code.strip()]

    def render(self, value, obj=None, **kwargs) -> str:
        if value is None:
            return ""
        return ",".join(category.code for category in value.all())


class BeneficiaryResource(ScopedResource):
    """People by ID number. A new number is registered, a known one (among the
    people the user sees) has its name, contact details, home federation and
    categories changed; the number itself is the person and never changes.

    People are read, compared and reported as the user sees them
    (`Beneficiary.objects.visible_to`): a number registered outside the user's
    subtree is registered as the row's federation's card, and reported as a new
    row, as any new number is; a row of a person the user sees only through a
    card changes the card of the row's federation, never the register."""

    name = fields.Field(attribute="name", column_name="name", widget=widgets.CharWidget())
    id_number = fields.Field(attribute="id_number", column_name="id_number", widget=widgets.CharWidget())
    gender = fields.Field(attribute="gender", column_name="gender", readonly=True)
    birth_date = fields.Field(
        attribute="birth_date", column_name="birth_date", widget=widgets.DateWidget(), readonly=True
    )
    phone = fields.Field(attribute="phone", column_name="phone", widget=widgets.CharWidget(allow_blank=True))
    employer = fields.Field(attribute="employer", column_name="employer", widget=widgets.CharWidget(allow_blank=True))
    federation = fields.Field(attribute="federation", column_name="federation", widget=FederationCodeWidget())
    categories = fields.Field(attribute="categories", column_name="categories", widget=CategoryCodesWidget())

    role = Role.CLERK
    service_fields = ("gender", "birth_date")
    updatable = ("name", "phone", "employer", "federation", "categories")
    compared = ("name", "phone", "employer", "federation_id")

    class Meta:
        model = Beneficiary
        fields = ("name", "id_number", "gender", "birth_date", "phone", "employer", "federation", "categories")
        import_id_fields = ("id_number",)
        name = _("Beneficiaries (ID numbers masked)")

    def filter_export(self, queryset, **kwargs):
        return super().filter_export(queryset, **kwargs).select_related("federation").prefetch_related("categories")

    def dehydrate_id_number(self, person: Beneficiary) -> str:
        return idnumber.mask(person.id_number or "")

    def before_import_row(self, row, **kwargs):
        if row.get("id_number") is not None:
            row["id_number"] = idnumber.normalize(row["id_number"])

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if instance.pk is None and "id_number" not in errors:
            # The number's own checks, next to its column rather than about the row.
            try:
                idnumber.parse(instance.id_number or "")
            except ValidationError as error:
                errors["id_number"] = error.error_list
        categories = self.fields["categories"]
        instance._imported_categories = categories.clean(row) if categories.column_name in row else None
        if errors:
            raise ValidationError(errors)

    def get_instance(self, instance_loader, row):
        person = super().get_instance(instance_loader, row)
        if person is not None:
            # Read now, as the user sees them: the library's copy of the row's
            # original drops what was prefetched (a card's categories).
            person.category_codes = sorted(category.code for category in person.categories.all())
        return person

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        # Whether a number is registered is the service's to answer, as the user
        # may be told it: the model's uniqueness check would say so of any
        # number in the country.
        super().validate_instance(instance, import_validation_errors, validate_unique=False)

    def skip_row(self, instance, original, row, import_validation_errors=None) -> bool:
        if import_validation_errors or instance.pk is None:
            return False
        wanted = instance._imported_categories
        if wanted is not None and sorted(set(wanted)) != original.category_codes:
            return False
        return all(getattr(instance, name) == getattr(original, name) for name in self.compared)

    def create(self, instance, row):
        self.require_role(instance.federation, "federation")
        return people.beneficiary_register(
            name=instance.name,
            id_number=instance.id_number,
            federation=instance.federation,
            phone=instance.phone or "",
            employer=instance.employer or "",
            categories=instance._imported_categories or [],
            by=self.user,
        )

    def update(self, instance, row):
        if getattr(instance, "seen_card", None) is not None:
            self.require_role(instance.federation, "federation")
            return people.card_update(
                beneficiary=instance,
                federation=instance.federation,
                by=self.user,
                categories=instance._imported_categories,
                **{name: getattr(instance, name) or "" for name in ("name", "phone", "employer")},
            )
        current = Beneficiary.objects.select_related("federation").get(pk=instance.pk)
        self.require_role(current.federation, "federation")
        changes = {name: getattr(instance, name) for name in ("name", "phone", "employer")}
        if instance.federation_id != current.federation_id:
            self.require_role(instance.federation, "federation")
            changes["federation"] = instance.federation
        return people.beneficiary_update(
            beneficiary=current, by=self.user, categories=instance._imported_categories, **changes
        )

    def read_again(self, instance) -> None:
        # Not `refresh_from_db`, which reads the register: a person seen through
        # a card is reported as the card has them.
        seen = self.get_queryset().select_related("federation").prefetch_related("categories").get(pk=instance.pk)
        for field in Beneficiary._meta.concrete_fields:
            setattr(instance, field.attname, getattr(seen, field.attname))
        instance.federation = seen.federation
        instance.seen_card = seen.seen_card
        instance._prefetched_objects_cache = seen._prefetched_objects_cache


class BeneficiaryWithIdNumbersResource(BeneficiaryResource):
    """The same rows with full ID numbers, for those who may see them (docs/DOMAIN.md,
    rule 4); each number shown is recorded in the audit trail."""

    shows_full_id_numbers = True

    class Meta:
        name = _("Beneficiaries with full ID numbers (each export is recorded)")

    def __init__(self, user=None, **kwargs):
        super().__init__(user=user, **kwargs)
        self.shown: list[Beneficiary] = []

    def dehydrate_id_number(self, person: Beneficiary) -> str:
        if person.federation_id is not None and people.may_see_id_number(self.user, person):
            self.shown.append(person)
            return person.id_number
        return super().dehydrate_id_number(person)

    def after_export(self, queryset, dataset, **kwargs):
        people.id_numbers_shown(beneficiaries=self.shown, by=self.user)


class UnitResource(ScopedResource):
    """Units that are paid (hospitals, enterprises), by federation and name."""

    federation = fields.Field(attribute="federation", column_name="federation", widget=FederationCodeWidget())
    name = fields.Field(attribute="name", column_name="name", widget=widgets.CharWidget())
    kind = fields.Field(attribute="kind", column_name="kind", widget=widgets.CharWidget())

    role = Role.CLERK

    class Meta:
        model = Unit
        fields = ("federation", "name", "kind")
        import_id_fields = ("federation", "name")
        name = _("Units")

    def filter_export(self, queryset, **kwargs):
        return super().filter_export(queryset, **kwargs).select_related("federation")

    def create(self, instance, row):
        self.require_role(instance.federation, "federation")
        return people.unit_create(name=instance.name, kind=instance.kind, federation=instance.federation, by=self.user)
