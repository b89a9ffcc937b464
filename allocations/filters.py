"""Filters of the list pages, read from the query string.

The same filters (and the same sort) make the page, its 合计 and its export,
so a file always holds the rows the page showed, in the order it showed them.
"""

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.db.models.functions import Concat
from django.utils.translation import gettext_lazy as _

from allocations.models import Allocation, AssistanceType, Contribution, Disbursement, Fund, Purpose, Status
from beneficiaries import idnumber
from unionfunds.models import Federation, Membership, Role
from unionfunds.permissions import subtree_q
from unionfunds.widgets import PickerInput, SuggestingInput

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# How many clerks the 录入人 box suggests; past that, the name is typed.
CLERKS_SUGGESTED = 200


def _federation_name(pk) -> str:
    # Federations' names are public (any clerk may send money to any of them).
    try:
        return Federation.objects.filter(pk=int(pk)).values_list("name", flat=True).first() or ""
    except (TypeError, ValueError):
        return ""


def _fund_namer(user):
    """What a picked fund is called, if this user may see it: a fund id typed
    into the address must not tell a neighbour's fund's name."""

    def name(pk) -> str:
        try:
            found = Fund.objects.visible_to(user).filter(pk=int(pk)).values_list("name", "fiscal_year").first()
        except (TypeError, ValueError):
            return ""
        return f"{found[0]} ({found[1]})" if found else ""

    return name


def _visible_funds(request):
    return Fund.objects.visible_to(request.user) if request is not None else Fund.objects.none()


class SortFilter(django_filters.OrderingFilter):
    """The order a column header asked for; ties keep the newest first, so that a
    page does not reshuffle from one visit to the next."""

    def filter(self, qs, value):
        ordered = super().filter(qs, value)
        return ordered.order_by(*ordered.query.order_by, "-pk") if value else ordered


class EntryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="search")
    status = django_filters.ChoiceFilter(label=_("Status"), choices=Status.choices)
    date_from = django_filters.DateFilter(label=_("From"), field_name="date", lookup_expr="gte", widget=DATE)
    date_to = django_filters.DateFilter(label=_("To"), field_name="date", lookup_expr="lte", widget=DATE)
    fiscal_year = django_filters.NumberFilter(label=_("Fiscal year"), method="by_fund_year")
    purpose = django_filters.ChoiceFilter(label=_("Purpose"), choices=Purpose.choices, method="by_fund_purpose")

    federation = django_filters.ModelChoiceFilter(
        label=_("Federation (and those below it)"),
        queryset=Federation.objects.all(),
        method="by_federation",
        widget=PickerInput("federation_search", describe=_federation_name),
    )
    fund = django_filters.ModelChoiceFilter(
        label=_("Fund"),
        queryset=_visible_funds,
        method="by_fund",
        widget=PickerInput("fund_search", describe=lambda pk: ""),
    )
    entered_by = django_filters.CharFilter(
        label=_("Entered by"), method="by_clerk", widget=SuggestingInput(), max_length=150
    )
    sort = SortFilter(
        label=_("Sort"),
        fields=(("pk", "pk"), ("date", "date"), ("amount", "amount"), ("status", "status")),
        field_labels={"pk": "#", "date": _("Date"), "amount": _("Amount"), "status": _("Status")},
    )

    fund_field = "fund"
    # Where the federation of a row is: the federation filter takes the rows of
    # any federation at or below the one picked.
    federation_paths: tuple[str, ...] = ("fund__federation__path",)
    fund_fields: tuple[str, ...] = ("fund",)
    search_fields: tuple[str, ...] = ()

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        if request is not None:
            self.form.fields["entered_by"].widget.suggestions = _clerk_names(request.user)
            self.form.fields["fund"].widget.describe = _fund_namer(request.user)

    def by_federation(self, queryset, name, value):
        condition = Q()
        for path in self.federation_paths:
            condition |= Q(**{f"{path}__startswith": value.path})
        return queryset.filter(condition)

    def by_fund(self, queryset, name, value):
        condition = Q()
        for field in self.fund_fields:
            condition |= Q(**{field: value})
        return queryset.filter(condition)

    def by_clerk(self, queryset, name, value):
        value = value.strip()
        return queryset.alias(clerk_name=Concat("created_by__last_name", "created_by__first_name")).filter(
            Q(created_by__username__iexact=value) | Q(clerk_name__icontains=value)
        )

    def search(self, queryset, name, value):
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{field: value.strip()})
        return queryset.filter(condition)

    def by_fund_year(self, queryset, name, value):
        return queryset.filter(**{f"{self.fund_field}__fiscal_year": value})

    def by_fund_purpose(self, queryset, name, value):
        return queryset.filter(**{f"{self.fund_field}__purpose": value})


FILTERS_BEFORE = ["q", "federation", "fund", "status", "date_from", "date_to", "fiscal_year", "purpose"]
FILTERS_AFTER = ["entered_by", "sort"]


def _clerk_names(user) -> list[str]:
    """The clerks of the user's subtree, to pick from in the 录入人 box."""
    clerks = Membership.objects.filter(subtree_q(user, "federation__path"), role=Role.CLERK)
    return list(
        get_user_model()
        .objects.filter(pk__in=clerks.values("user"))
        .order_by("username")
        .values_list("username", flat=True)[:CLERKS_SUGGESTED]
    )


class ContributionFilter(EntryFilter):
    search_fields = ("reference__icontains", "fund__name__icontains", "fund__federation__name__icontains")

    class Meta:
        model = Contribution
        fields = [*FILTERS_BEFORE, "source", *FILTERS_AFTER]


class AllocationFilter(EntryFilter):
    fund_field = "from_fund"
    # An allocation is the sender's and the recipient's.
    federation_paths = ("from_fund__federation__path", "to_federation__path")
    fund_fields = ("from_fund", "to_fund")
    search_fields = ("batch__icontains", "to_federation__name__icontains", "from_fund__federation__name__icontains")

    class Meta:
        model = Allocation
        fields = [*FILTERS_BEFORE, "batch", *FILTERS_AFTER]


class DisbursementFilter(EntryFilter):
    assistance_type = django_filters.ChoiceFilter(label=_("Assistance type"), choices=AssistanceType.choices)
    # A full ID number finds the person without listing anyone else's. A name
    # finds payments by the name they were paid to: the register's name of a
    # person registered elsewhere is not the payer's to search by.
    search_fields = ("payee_name", "beneficiary__id_number", "unit__name__icontains", "batch__icontains")

    def search(self, queryset, name, value):
        if idnumber.is_last_four(value):  # what a masked number shows: 6301**********295X
            return queryset.filter(beneficiary__id_number__endswith=idnumber.normalize(value))
        return super().search(queryset, name, value)

    class Meta:
        model = Disbursement
        fields = [*FILTERS_BEFORE, "assistance_type", "batch", *FILTERS_AFTER]


class FundFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="search")
    purpose = django_filters.ChoiceFilter(label=_("Purpose"), choices=Purpose.choices)
    fiscal_year = django_filters.NumberFilter(label=_("Fiscal year"))
    federation = django_filters.ModelChoiceFilter(
        label=_("Federation (and those below it)"),
        queryset=Federation.objects.all(),
        method="by_federation",
        widget=PickerInput("federation_search", describe=_federation_name),
    )
    sort = SortFilter(
        label=_("Sort"),
        fields=(("federation__path", "federation"), ("fiscal_year", "fiscal_year"), ("balance", "balance")),
        field_labels={"federation": _("Federation"), "fiscal_year": _("Fiscal year"), "balance": _("Balance")},
    )

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(federation__name__icontains=value))

    def by_federation(self, queryset, name, value):
        return queryset.filter(federation__path__startswith=value.path)

    class Meta:
        model = Fund
        fields = ["q", "federation", "purpose", "fiscal_year", "sort"]
