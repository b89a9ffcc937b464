"""The forms and filters of the hardship archive's pages (困难职工档案): filing a
household with its members, the asks that follow (review, closing, reopening),
and the list's filters.

The forms check what a box may hold; the rules (one head, one open household
per person, the figures) are the services' (`beneficiaries.archive`), whose
refusals come back beside the box they name.
"""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allocations.filters import DATE, SortFilter, _federation_name
from beneficiaries import idnumber
from beneficiaries.archive import MEMBERS_MAX, Figures
from beneficiaries.archive_models import (
    ArchiveEntry,
    ArchiveStatus,
    Cause,
    CloseReason,
    HouseholdMember,
    Relation,
    Tier,
)
from beneficiaries.services import PersonLine, person_line
from unionfunds.forms_support import OnceForm
from unionfunds.models import Federation, Role
from unionfunds.permissions import role_q
from unionfunds.widgets import PickerInput

# Past this many federations to file under, the box becomes a search.
FEDERATIONS_LISTED = 200
# The member rows a new filing shows: most households have four people or fewer.
MEMBER_ROWS = 4
MEMBER_ROWS_MAX = MEMBERS_MAX


def _blank_first(choices) -> list:
    return [("", "—"), *choices]


class MemberForm(forms.Form):
    """One member of a household: the name as filed, the ID number, the relation
    to the head. A row left blank is left out."""

    name = forms.CharField(label=_("Name"), max_length=50, required=False)
    id_number = forms.CharField(
        label=_("Resident ID number"),
        max_length=25,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    relation = forms.ChoiceField(label=_("Relation"), choices=_blank_first(Relation.choices), required=False)

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", None) or {}
        return not (data.get("name") or "").strip() and not (data.get("id_number") or "").strip()

    def clean(self):
        data = super().clean()
        if self.is_blank():
            return data
        try:
            data["person"] = person_line(name=data.get("name", ""), id_number=data.get("id_number", ""))
        except ValidationError as error:
            for field, errors in error.error_dict.items():
                for one in errors:
                    self.add_error(field if field in self.fields else None, one)
        if not data.get("relation"):
            self.add_error("relation", forms.Field.default_error_messages["required"])
        return data


class BaseMemberFormSet(forms.BaseFormSet):
    def filled(self) -> list[MemberForm]:
        """The rows that name someone, in the order typed."""
        return [form for form in self.forms if not form.is_blank()]

    def people(self) -> list[tuple[MemberForm, PersonLine, str]]:
        return [(form, form.cleaned_data["person"], form.cleaned_data["relation"]) for form in self.filled()]


MemberFormSet = forms.formset_factory(
    MemberForm,
    formset=BaseMemberFormSet,
    extra=0,
    max_num=MEMBER_ROWS_MAX,
    absolute_max=MEMBER_ROWS_MAX,
    validate_max=True,
)


def member_formset(data=None, *, rows: int = MEMBER_ROWS, initial: list[dict] | None = None) -> BaseMemberFormSet:
    """The member rows: the first one the head's (户主) unless told otherwise."""
    if initial is None:
        initial = [{"relation": Relation.HEAD}] + [{} for _ in range(rows - 1)]
    return MemberFormSet(data, prefix="members", initial=initial)


def filing_federations(user):
    """Where this user may file a household: where she is a clerk, and below."""
    return Federation.objects.filter(role_q(user, Role.CLERK, "path")).order_by("path")


class FiguresForm(forms.Form):
    """What a filing, a review or a reopening found of the household."""

    tier = forms.ChoiceField(label=_("Tier"), choices=_blank_first(Tier.choices))
    income_per_head = forms.CharField(
        label=_("Monthly income per head (yuan)"),
        max_length=20,
        help_text=_("Measured against the local minimum living standard (低保) of the year."),
    )
    causes = forms.MultipleChoiceField(
        label=_("Causes of hardship"), choices=Cause.choices, widget=forms.CheckboxSelectMultiple
    )
    valid_to = forms.DateField(
        label=_("Valid to"), required=False, widget=DATE, help_text=_("Blank: until the entry is closed.")
    )
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        """The figures as the archive's services read them (`Figures.read`), so
        that a wrong income shows with the other boxes' problems at once."""
        data = super().clean()
        try:
            data["figures"] = Figures.read(
                tier=data.get("tier", ""), income_per_head=data.get("income_per_head", ""), causes=data.get("causes")
            )
        except ValidationError as error:
            for field, errors in error.error_dict.items():
                if field not in self.errors:  # a box left empty says so once
                    for one in errors:
                        self.add_error(field, one)
        return data


class FilingForm(OnceForm, FiguresForm):
    """A household and the ask to admit it to the archive, on one page."""

    federation = forms.ModelChoiceField(
        label=_("Filed by"),
        queryset=Federation.objects.none(),
        help_text=_("The federation in whose subtree the household lives; its archive keeps the file."),
    )
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    standard = forms.CharField(
        label=_("Standard filed under"),
        max_length=200,
        required=False,
        help_text=_("The rules the household was found in hardship by, e.g. the county's 困难职工认定办法."),
    )
    valid_from = forms.DateField(label=_("Valid from"), widget=DATE)
    field_order = [
        "federation",
        "address",
        "tier",
        "standard",
        "income_per_head",
        "causes",
        "valid_from",
        "valid_to",
        "note",
    ]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        federations = filing_federations(user)
        field = self.fields["federation"]
        field.queryset = federations
        if federations[: FEDERATIONS_LISTED + 1].count() > FEDERATIONS_LISTED:
            field.widget = PickerInput("federation_search", describe=_federation_name)
        else:
            field.label_from_instance = lambda federation: f"{federation.name} ({federation.code})"
        first = federations.first()
        if first is not None:
            self.initial.setdefault("federation", first.pk)
        self.initial.setdefault("valid_from", timezone.localdate())


class ReviewForm(FiguresForm):
    """A review (复查核查): the figures found now; the entry stays open."""

    reviewed_on = forms.DateField(label=_("Reviewed on"), widget=DATE)
    field_order = ["reviewed_on", "tier", "income_per_head", "causes", "valid_to", "note"]

    def __init__(self, *args, entry: ArchiveEntry, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "reviewed_on": timezone.localdate(),
                "tier": entry.tier,
                "income_per_head": entry.income_per_head,
                "causes": entry.causes,
                "valid_to": entry.valid_to,
            },
        )
        super().__init__(*args, prefix="review", **kwargs)


class ReopenForm(FiguresForm):
    """The household fell back into hardship (返困): its figures now."""

    reopened_on = forms.DateField(label=_("Reopened on"), widget=DATE)
    field_order = ["reopened_on", "tier", "income_per_head", "causes", "valid_to", "note"]

    def __init__(self, *args, entry: ArchiveEntry, **kwargs):
        kwargs.setdefault(
            "initial",
            {"reopened_on": timezone.localdate(), "tier": entry.tier, "causes": entry.causes},
        )
        super().__init__(*args, prefix="reopen", **kwargs)


class CloseForm(forms.Form):
    reason = forms.ChoiceField(label=_("Close reason"), choices=_blank_first(CloseReason.choices))
    closed_on = forms.DateField(label=_("Closed on"), widget=DATE)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, entry: ArchiveEntry | None = None, **kwargs):
        kwargs.setdefault("initial", {"closed_on": timezone.localdate()})
        super().__init__(*args, prefix="close", **kwargs)


class EvidenceForm(forms.Form):
    file = forms.FileField(label=_("Document"), help_text=_("An income statement, a diagnosis, a certificate."))


# The list ----------------------------------------------------------------------


class ArchiveFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="search", max_length=50)
    federation = django_filters.ModelChoiceFilter(
        label=_("Federation (and those below it)"),
        queryset=Federation.objects.all(),
        method="by_federation",
        widget=PickerInput("federation_search", describe=_federation_name),
    )
    status = django_filters.ChoiceFilter(label=_("Status"), choices=ArchiveStatus.choices)
    tier = django_filters.ChoiceFilter(label=_("Tier"), choices=Tier.choices)
    sort = SortFilter(
        label=_("Sort"),
        fields=(
            ("pk", "pk"),
            ("income_per_head", "income"),
            ("checked_on", "checked_on"),
            ("valid_to", "valid_to"),
            ("status", "status"),
        ),
        field_labels={
            "pk": _("Archive no."),
            "income": _("Income per head"),
            "checked_on": _("Figures checked on"),
            "valid_to": _("Valid to"),
            "status": _("Status"),
        },
    )

    class Meta:
        model = ArchiveEntry
        fields = ["q", "federation", "status", "tier", "sort"]

    def by_federation(self, queryset, name, value):
        return queryset.filter(federation__path__startswith=value.path)

    def search(self, queryset, name, value):
        """A member's name as filed, a whole ID number or its last four (what a
        masked number shows), or the archive's number (630103-000012)."""
        value = value.strip()
        members = HouseholdMember.objects.all()
        number = idnumber.normalize(value)
        if idnumber.is_last_four(value):
            members = members.filter(beneficiary__id_number__endswith=number)
        elif len(number) == 18:
            members = members.filter(beneficiary__id_number=number)
        else:
            members = members.filter(name__icontains=value)
        condition = Q(household__in=members.values("household"))
        code, dash, serial = value.rpartition("-")
        if dash and serial.isascii() and serial.isdigit() and len(serial) <= 9:
            condition |= Q(pk=int(serial), federation__code=code)
        return queryset.filter(condition)
