"""Filters of the beneficiary list, read from the query string."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from beneficiaries import idnumber
from beneficiaries.models import Beneficiary, CategoryCode, Gender
from beneficiaries.services import may_see_id_number


class BeneficiaryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="search")
    category = django_filters.ChoiceFilter(label=_("Category"), choices=CategoryCode.choices, method="by_category")
    gender = django_filters.ChoiceFilter(label=_("Gender"), choices=Gender.choices)

    class Meta:
        model = Beneficiary
        fields = ["q", "category", "gender"]

    def search(self, queryset, name, value):
        value = value.strip()
        # A whole ID number finds its holder; part of one finds no one, so that
        # the search box cannot be used to guess other people's numbers; but the
        # last four, which every masked number shows, find whom they show them of.
        # A match confirms a guessed number, a full view: only the people this
        # user may see in full can be found by it.
        if idnumber.is_last_four(value):
            return queryset.filter(id_number__endswith=idnumber.normalize(value))
        if len(idnumber.normalize(value)) == 18:
            matches = queryset.filter(id_number=idnumber.normalize(value))
            user = getattr(self.request, "user", None)
            return matches.filter(pk__in=[p.pk for p in matches if user and may_see_id_number(user, p)])
        # By the name and employer the user sees: a card's for a person seen
        # through one (`visible_to`), so that a search says nothing of the register's.
        return queryset.filter(Q(seen_name__icontains=value) | Q(seen_employer__icontains=value))

    def by_category(self, queryset, name, value):
        return queryset.with_category(value)
