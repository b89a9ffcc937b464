"""Funds in admin spreadsheets: opened by `fund_create`, by administrators,
within their subtrees. A fund's money is exported but never imported: it
enters and leaves only through entries that are approved."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from import_export import fields, widgets

from allocations import services as money
from allocations.models import Fund
from unionfunds.models import Role
from unionfunds.resources import FederationCodeWidget, ScopedResource

MONEY_NOT_IMPORTED = _(
    "Money enters a fund only through approved entries: leave this column empty or 0 for a new fund."
)
NO_SUCH_FUND = _("No fund with this id among yours; leave the id empty to open a new fund.")


class MoneyWidget(widgets.Widget):
    """Yuan with two decimals, as the spreadsheets of this site show them."""

    def render(self, value, obj=None, **kwargs) -> str:
        return "" if value is None else f"{value:.2f}"


class FundResource(ScopedResource):
    id = fields.Field(attribute="id", column_name="id", widget=widgets.IntegerWidget(), readonly=True)
    federation = fields.Field(attribute="federation", column_name="federation", widget=FederationCodeWidget())
    name = fields.Field(attribute="name", column_name="name", widget=widgets.CharWidget())
    purpose = fields.Field(attribute="purpose", column_name="purpose", widget=widgets.CharWidget())
    fiscal_year = fields.Field(attribute="fiscal_year", column_name="fiscal_year", widget=widgets.IntegerWidget())
    balance = fields.Field(attribute="balance", column_name="balance", widget=MoneyWidget(), readonly=True)
    reserved = fields.Field(attribute="reserved", column_name="reserved", widget=MoneyWidget(), readonly=True)

    role = Role.ADMIN

    class Meta:
        model = Fund
        fields = ("id", "federation", "name", "purpose", "fiscal_year", "balance", "reserved")
        import_id_fields = ["id"]  # the default, so that a file of new funds may leave it out
        name = _("Funds")

    def filter_export(self, queryset, **kwargs):
        return super().filter_export(queryset, **kwargs).select_related("federation")

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if instance.pk is None:
            if str(row.get("id") or "").strip():
                errors["id"] = [ValidationError(NO_SUCH_FUND, code="not_found")]
            for column in ("balance", "reserved"):
                if not _is_zero(row.get(column)):
                    errors[column] = [ValidationError(MONEY_NOT_IMPORTED, code="not_importable")]
        if errors:
            raise ValidationError(errors)

    def create(self, instance, row):
        self.require_role(instance.federation, "federation")
        return money.fund_create(
            federation=instance.federation,
            name=instance.name,
            purpose=instance.purpose,
            fiscal_year=instance.fiscal_year,
            by=self.user,
        )


def _is_zero(value) -> bool:
    text = "" if value is None else str(value).strip().replace(",", "")
    if not text:
        return True
    try:
        return Decimal(text) == 0
    except ArithmeticError:
        return False
