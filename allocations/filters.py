"""Filters of the list pages, read from the query string."""

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from allocations.models import Allocation, AssistanceType, Contribution, Disbursement, Fund, Purpose, Status
from beneficiaries import idnumber

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class EntryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="search")
    status = django_filters.ChoiceFilter(label=_("Status"), choices=Status.choices)
    date_from = django_filters.DateFilter(label=_("From"), field_name="date", lookup_expr="gte", widget=DATE)
    date_to = django_filters.DateFilter(label=_("To"), field_name="date", lookup_expr="lte", widget=DATE)
    fiscal_year = django_filters.NumberFilter(label=_("Fiscal year"), method="by_fund_year")
    purpose = django_filters.ChoiceFilter(label=_("Purpose"), choices=Purpose.choices, method="by_fund_purpose")

    fund_field = "fund"
    search_fields: tuple[str, ...] = ()

    def search(self, queryset, name, value):
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{field: value.strip()})
        return queryset.filter(condition)

    def by_fund_year(self, queryset, name, value):
        return queryset.filter(**{f"{self.fund_field}__fiscal_year": value})

    def by_fund_purpose(self, queryset, name, value):
        return queryset.filter(**{f"{self.fund_field}__purpose": value})


class ContributionFilter(EntryFilter):
    search_fields = ("reference__icontains", "fund__name__icontains", "fund__federation__name__icontains")

    class Meta:
        model = Contribution
        fields = ["q", "status", "date_from", "date_to", "fiscal_year", "purpose", "source"]


class AllocationFilter(EntryFilter):
    fund_field = "from_fund"
    search_fields = ("batch__icontains", "to_federation__name__icontains", "from_fund__federation__name__icontains")

    class Meta:
        model = Allocation
        fields = ["q", "status", "date_from", "date_to", "fiscal_year", "purpose", "batch"]


class DisbursementFilter(EntryFilter):
    assistance_type = django_filters.ChoiceFilter(label=_("Assistance type"), choices=AssistanceType.choices)
    # A full ID number finds the person without listing anyone else's.
    search_fields = ("beneficiary__name", "beneficiary__id_number", "unit__name__icontains", "batch__icontains")

    def search(self, queryset, name, value):
        if idnumber.is_last_four(value):  # what a masked number shows: 6301**********295X
            return queryset.filter(beneficiary__id_number__endswith=idnumber.normalize(value))
        return super().search(queryset, name, value)

    class Meta:
        model = Disbursement
        fields = ["q", "status", "date_from", "date_to", "fiscal_year", "purpose", "assistance_type", "batch"]


class FundFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="search")
    purpose = django_filters.ChoiceFilter(label=_("Purpose"), choices=Purpose.choices)
    fiscal_year = django_filters.NumberFilter(label=_("Fiscal year"))

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(federation__name__icontains=value))

    class Meta:
        model = Fund
        fields = ["q", "purpose", "fiscal_year"]
