"""The hardship archive as a spreadsheet (`unionfunds.listexports`): one row per
member of each entry's household, with the entry's figures.

ID numbers are masked unless full ones are asked for, and then shown in full
only to the clerks and auditors of the federation that filed the household
and those above it (docs/DOMAIN.md, rule 4): they typed or check those numbers.
Everyone else gets them masked, and every export is in the export log, which
says whether full numbers were asked for.
"""

from collections.abc import Callable
from dataclasses import dataclass

import django_filters
from django.db.models import F, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from beneficiaries import idnumber
from beneficiaries.archive_models import ArchiveEntry, ArchiveStatus, Cause, Relation, Tier
from beneficiaries.services import may_see_id_numbers_somewhere
from unionfunds.listexports import ListExport, label, register
from unionfunds.models import Federation, Role
from unionfunds.permissions import has_role
from unionfunds.spreadsheets import DATE, IDENTIFIER, MONEY, TEXT, Column


class ArchiveFilter(django_filters.FilterSet):
    federation = django_filters.ModelChoiceFilter(
        label=gettext_lazy("Federation (and those below it)"),
        queryset=Federation.objects.all(),
        method="by_federation",
    )
    status = django_filters.ChoiceFilter(label=gettext_lazy("Status"), choices=ArchiveStatus.choices)
    tier = django_filters.ChoiceFilter(label=gettext_lazy("Tier"), choices=Tier.choices)
    cause = django_filters.ChoiceFilter(label=gettext_lazy("Cause"), choices=Cause.choices, method="by_cause")

    class Meta:
        model = ArchiveEntry
        fields = ["federation", "status", "tier", "cause"]

    def by_federation(self, queryset, name, value):
        return queryset.filter(federation__path__startswith=value.path)

    def by_cause(self, queryset, name, value):
        # The codes are a JSON list: as text, each one stands in its quotes, on both databases.
        return queryset.filter(causes__icontains=f'"{value}"')


def may_see_members_numbers(user, entry: ArchiveEntry) -> bool:
    """Full numbers for the clerks and auditors at the household's federation or above."""
    return has_role(user, Role.CLERK, entry.federation) or has_role(user, Role.AUDITOR, entry.federation)


@dataclass(frozen=True)
class MemberRows(ListExport):
    """The entries the filters choose, each once per member of its household."""

    def queryset(self, user) -> QuerySet:
        return (
            ArchiveEntry.objects.visible_to(user)
            .select_related("federation", "household")
            .annotate(
                member_id=F("household__members__id"),
                member_name=F("household__members__name"),
                member_relation=F("household__members__relation"),
                member_number=F("household__members__beneficiary__id_number"),
            )
            .order_by("federation__path", "pk", "member_id")
        )


def _columns() -> list[Column]:
    return [
        Column(_("Archive no."), IDENTIFIER, 16),
        Column(_("Federation"), TEXT, 20),
        Column(_("Status"), TEXT, 10),
        Column(_("Name"), TEXT, 10),
        Column(_("ID number"), IDENTIFIER, 21),
        Column(_("Relation"), TEXT, 9),
        Column(_("Address"), TEXT, 26),
        Column(_("Tier"), TEXT, 10),
        Column(_("Monthly income per head (yuan)"), MONEY, 12),
        Column(_("Minimum living standard (yuan)"), MONEY, 12),
        Column(_("Causes of hardship"), TEXT, 16),
        Column(_("Standard filed under"), TEXT, 20),
        Column(_("Valid from"), DATE, 12),
        Column(_("Valid to"), DATE, 12),
        Column(_("Admitted on"), DATE, 12),
        Column(_("Figures checked on"), DATE, 12),
        Column(_("Closed on"), DATE, 12),
        Column(_("Close reason"), TEXT, 10),
    ]


RELATIONS = dict(Relation.choices)
CAUSES = dict(Cause.choices)


def _row(entry: ArchiveEntry, full_ids: Callable) -> list:
    number = entry.member_number or ""
    return [
        entry.number,
        entry.federation.name,
        label(entry, "status"),
        entry.member_name or "",
        (number if full_ids(entry) else idnumber.mask(number)) if number else "",
        str(RELATIONS.get(entry.member_relation, entry.member_relation or "")),
        entry.household.address,
        label(entry, "tier"),
        entry.income_per_head,
        entry.dibao_monthly,
        "、".join(str(CAUSES.get(code, code)) for code in entry.causes),
        entry.standard,
        entry.valid_from,
        entry.valid_to,
        entry.opened_on,
        entry.checked_on,
        entry.closed_on,
        label(entry, "close_reason") if entry.close_reason else "",
    ]


register(
    MemberRows(
        "archive",
        lambda: _("Hardship archive"),
        ArchiveEntry,
        ArchiveFilter,
        ("federation", "household"),
        _columns,
        _row,
        ordering=("federation__path", "pk"),
        reveals=may_see_members_numbers,
        reveals_to=may_see_id_numbers_somewhere,
    ),
)
