"""The spreadsheets of the beneficiaries' and units' lists (`unionfunds.listexports`)."""

from collections.abc import Callable

from django.utils.translation import gettext as _
from django_filters.filterset import filterset_factory

from beneficiaries.filters import BeneficiaryFilter
from beneficiaries.models import Beneficiary, Unit, mask_phone
from beneficiaries.services import may_see_id_number, may_see_id_numbers_somewhere
from unionfunds.listexports import ListExport, field_header, label, register
from unionfunds.spreadsheets import DATE, IDENTIFIER, INTEGER, TEXT, Column


def _beneficiary_columns() -> list[Column]:
    return [
        Column(_("No."), INTEGER, 9),
        Column(_("Name"), TEXT, 12),
        Column(_("ID number"), IDENTIFIER, 21),
        Column(_("Gender"), TEXT, 6),
        Column(_("Birth date"), DATE, 12),
        Column(_("Categories"), TEXT, 24),
        Column(_("Phone"), IDENTIFIER, 14),
        Column(_("Employer"), TEXT, 24),
        Column(_("Home federation"), TEXT, 24),
    ]


def _beneficiary_row(b: Beneficiary, full_ids: Callable) -> list:
    full = full_ids(b)
    return [
        b.pk,
        b.name,
        b.id_number if full else b.masked_id_number,
        label(b, "gender"),
        # Digits 7-14 of the number: beside the masked one it would rebuild it.
        b.birth_date if full else str(b.birth_date.year),
        "、".join(str(category) for category in b.categories.all()),
        b.phone if full else mask_phone(b.phone),
        b.employer,
        b.federation.name,
    ]


def _unit_columns() -> list[Column]:
    return [
        Column(_("No."), INTEGER, 9),
        Column(field_header(Unit, "name"), TEXT, 28),
        Column(field_header(Unit, "kind"), TEXT, 10),
        Column(_("Federation"), TEXT, 24),
    ]


def _unit_row(u: Unit, full_ids: Callable) -> list:
    return [u.pk, u.name, label(u, "kind"), u.federation.name]


register(
    ListExport(
        "beneficiaries",
        lambda: _("Beneficiaries"),
        Beneficiary,
        BeneficiaryFilter,
        ("federation",),
        _beneficiary_columns,
        _beneficiary_row,
        ordering=("pk",),
        prefetch=("categories",),
        reveals=may_see_id_number,
        reveals_to=may_see_id_numbers_somewhere,
    ),
    # Only the API lists units; the page-style filters serve a caller that
    # passes no queryset of its own.
    ListExport(
        "units",
        lambda: _("Units"),
        Unit,
        filterset_factory(Unit, fields=["kind"]),
        ("federation",),
        _unit_columns,
        _unit_row,
        ordering=("federation__path", "pk"),
    ),
)
