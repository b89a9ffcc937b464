from collections.abc import Iterable
from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allocations.models import AssistanceType, Fund, Purpose, Source
from allocations.rollups import Filters
from beneficiaries.models import CategoryCode, Unit, UnitKind
from unionfunds.forms_support import OnceForm
from unionfunds.models import Federation, Role
from unionfunds.money import format_yuan
from unionfunds.permissions import role_q


class RollupFilterForm(forms.Form):
    """The filters above a roll-up and the lists behind it, read from the query string."""

    fiscal_year = forms.IntegerField(label=_("Fiscal year"), required=False, min_value=2000, max_value=2100)
    purpose = forms.ChoiceField(label=_("Purpose"), required=False, choices=[("", _("All")), *Purpose.choices])
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    assistance_type = forms.ChoiceField(
        label=_("Assistance type"), required=False, choices=[("", _("All")), *AssistanceType.choices]
    )
    unit = forms.ChoiceField(
        label=_("Amounts in"), required=False, choices=[("yuan", _("yuan")), ("wan", _("10,000 yuan"))]
    )

    def filters(self) -> Filters:
        data = self.cleaned_data if self.is_valid() else {}
        return Filters(
            fiscal_year=self.fiscal_year_of(data),
            purpose=data.get("purpose") or None,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            assistance_type=data.get("assistance_type") or None,
        )

    def fiscal_year_of(self, data: dict) -> int | None:
        return data.get("fiscal_year")

    def in_wan(self) -> bool:
        return self.is_valid() and self.cleaned_data.get("unit") == "wan"

    def query_string(self) -> str:
        """The filters again, for links to the rows behind a figure."""
        if not self.is_valid():
            return ""
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in self.data.items() if k in self.fields and v})


ALL_YEARS_CHOICE = "all"


class RollupPageFilterForm(RollupFilterForm):
    """The filters of the roll-up pages: the fiscal year is picked from the years
    that have funds, or "all years" on purpose. With `default_year`, a page that
    was given no year shows that one, and says so in every link it makes, so
    that drilling down or opening the rows behind a figure stays in that year."""

    fiscal_year = forms.ChoiceField(label=_("Fiscal year"), required=False)

    def __init__(self, data=None, *, years: Iterable[int], default_year: int | None = None):
        if default_year is not None and not (data or {}).get("fiscal_year"):
            data = data.copy() if data is not None else {}
            data["fiscal_year"] = str(default_year)
        super().__init__(data)
        # This year is always offered: a clerk may look before its funds are opened.
        shown = {*years, timezone.localdate().year, *([default_year] if default_year else [])}
        asked = (data or {}).get("fiscal_year", "")
        if asked.isascii() and asked.isdigit() and 2000 <= int(asked) <= 2100:
            shown.add(int(asked))  # a year typed into the address, with no funds yet
        self.fields["fiscal_year"].choices = [
            (ALL_YEARS_CHOICE, _("All years")),
            *((str(year), str(year)) for year in sorted(shown, reverse=True)),
        ]

    def fiscal_year_of(self, data: dict) -> int | None:
        year = data.get("fiscal_year")
        return int(year) if year and year != ALL_YEARS_CHOICE else None


# Entering money movements ------------------------------------------------------


def funds_for(user, role: str = Role.CLERK):
    return (
        Fund.objects.visible_to(user)
        .filter(role_q(user, role, "federation__path"))
        .select_related("federation")
        .order_by("federation__path", "-fiscal_year", "name")
    )


class FundChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, fund: Fund) -> str:
        return _("%(federation)s · %(fund)s (%(year)s) — available %(available)s yuan") % {
            "federation": fund.federation.name,
            "fund": fund.name,
            "year": fund.fiscal_year,
            "available": format_yuan(fund.available),
        }


class EntryForm(OnceForm):
    amount = forms.DecimalField(label=_("Amount (yuan)"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.initial.setdefault("date", timezone.localdate())


class ContributionForm(EntryForm):
    fund = FundChoiceField(label=_("Fund"), queryset=Fund.objects.none())
    source = forms.ChoiceField(label=_("Source"), choices=Source.choices)
    reference = forms.CharField(label=_("Reference"), required=False, max_length=100)
    field_order = ["fund", "source", "amount", "date", "reference", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fund"].queryset = funds_for(self.user)


class AllocationForm(EntryForm):
    from_fund = FundChoiceField(label=_("From fund"), queryset=Fund.objects.none())
    to_federation = forms.ModelChoiceField(
        label=_("To federation"),
        queryset=Federation.objects.none(),
        error_messages={"required": _("Pick the recipient from the list that opens as you type its name or code.")},
        widget=forms.TextInput(attrs={"data-federation-search": "1", "autocomplete": "off"}),
        help_text=_("Type part of a name or a code, then pick the federation."),
    )
    batch = forms.CharField(label=_("Batch"), required=False, max_length=50)
    field_order = ["from_fund", "to_federation", "amount", "batch", "date", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_fund"].queryset = funds_for(self.user)
        # Any federation: money goes down the tree, but also up and sideways (浙江 to 湖北).
        self.fields["to_federation"].queryset = Federation.objects.all()


class DisbursementForm(EntryForm):
    """One payment: to a worker by ID number (registered if new, with what the
    import takes: phone, employer, categories), or to a unit such as a hospital,
    picked or registered under the fund's federation."""

    PERSON, UNIT = "person", "unit"

    fund = FundChoiceField(label=_("Fund"), queryset=Fund.objects.none())
    recipient_kind = forms.ChoiceField(
        label=_("Paid to"),
        choices=[(PERSON, _("A worker")), (UNIT, _("A unit (hospital, enterprise, agency)"))],
        initial=PERSON,
        required=False,  # a form sent without the choice pays a worker, as it always did
        widget=forms.RadioSelect,
    )
    id_number = forms.CharField(
        label=_("Resident ID number"),
        max_length=25,
        required=False,
        widget=forms.TextInput(attrs={"data-id-check": "1", "autocomplete": "off"}),
    )
    name = forms.CharField(label=_("Name"), max_length=50, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    employer = forms.CharField(label=_("Employer"), max_length=100, required=False)
    categories = forms.MultipleChoiceField(
        label=_("Categories"),
        choices=CategoryCode.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Phone, employer and categories are recorded when the worker is new."),
    )
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=Unit.objects.none(), required=False)
    new_unit_name = forms.CharField(
        label=_("…or a unit not yet registered"),
        max_length=100,
        required=False,
        help_text=_("Registered under the fund's federation when the payment is saved."),
    )
    new_unit_kind = forms.ChoiceField(label=_("Kind of unit"), choices=UnitKind.choices, required=False)
    assistance_type = forms.ChoiceField(label=_("Assistance type"), choices=AssistanceType.choices)
    batch = forms.CharField(label=_("Batch"), required=False, max_length=50)
    confirm_duplicate = forms.BooleanField(label=_("Pay again although already paid this month"), required=False)
    override_reason = forms.CharField(
        label=_("Reason for going past the rule (特批理由)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "Only a rule that allows an approver's override gives way to it; the approver sees the reason "
            "before deciding."
        ),
    )
    field_order = [
        "fund",
        "recipient_kind",
        "id_number",
        "name",
        "phone",
        "employer",
        "categories",
        "unit",
        "new_unit_name",
        "new_unit_kind",
        "assistance_type",
        "amount",
        "date",
        "batch",
        "note",
        "confirm_duplicate",
        "override_reason",
    ]
    # Refusals of a rule that an override with a reason may pass (allocations.policy).
    OVERRIDABLE = frozenset({"cap_exceeded", "once_per_year", "no_dibao_line"})
    OFFERED_ONLY = ("confirm_duplicate", "override_reason")
    RECIPIENT_FIELDS = {
        PERSON: ("id_number", "name", "phone", "employer", "categories"),
        UNIT: ("unit", "new_unit_name", "new_unit_kind"),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fund"].queryset = funds_for(self.user)
        self.fields["unit"].queryset = Unit.objects.visible_to(self.user).select_related("federation")
        self.fields["unit"].label_from_instance = lambda unit: f"{unit.name} · {unit.federation.name}"
        for kind, names in self.RECIPIENT_FIELDS.items():
            for name in names:
                self.fields[name].recipient = kind  # the template shows one kind's fields at a time

    def clean(self):
        data = super().clean()
        required = forms.Field.default_error_messages["required"]
        data["recipient_kind"] = data.get("recipient_kind") or self.PERSON
        if data["recipient_kind"] == self.UNIT:
            picked, typed = data.get("unit"), (data.get("new_unit_name") or "").strip()
            if picked and typed:
                self.add_error("new_unit_name", _("Pick a registered unit or type a new one, not both."))
            elif not picked and not typed:
                self.add_error("unit", _("Pick the unit paid, or type the name of a new one."))
            elif typed and not data.get("new_unit_kind"):
                self.add_error("new_unit_kind", required)
        else:
            for name in ("id_number", "name"):
                if not (data.get(name) or "").strip():
                    self.add_error(name, required)
        return data

    @property
    def shows_duplicate_box(self) -> bool:
        """The box to pay a second time this month is offered only once a
        duplicate was found (or it was ticked): otherwise it invites a tick."""
        return bool(self["confirm_duplicate"].errors or self["confirm_duplicate"].value())

    @property
    def offered(self) -> set[str]:
        """The boxes shown only once they answer something: the second payment
        this month once a duplicate was found, the override's reason once a rule
        that may be overridden refused the payment (offered before, a reason
        would wave through refusals the clerk never saw)."""
        shown = {"confirm_duplicate"} if self.shows_duplicate_box else set()
        refused = {error.code for error in self.errors.as_data().get("amount", [])} if self.is_bound else set()
        if refused & self.OVERRIDABLE or self["override_reason"].value():
            shown.add("override_reason")
        return shown


class EntryEditForm(forms.Form):
    """The fields a pending entry's clerk may still correct (services.EDITABLE_FIELDS),
    filled with what it says now."""

    amount = forms.DecimalField(label=_("Amount (yuan)"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    reference = forms.CharField(label=_("Reference"), required=False, max_length=100)
    batch = forms.CharField(label=_("Batch"), required=False, max_length=50)
    assistance_type = forms.ChoiceField(label=_("Assistance type"), choices=AssistanceType.choices)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    confirm_duplicate = forms.BooleanField(label=_("Pay again although already paid this month"), required=False)

    def __init__(self, *args, entry, editable: tuple[str, ...], **kwargs):
        kwargs.setdefault("initial", {name: getattr(entry, name) for name in editable})
        super().__init__(*args, **kwargs)
        kept = set(editable) | ({"confirm_duplicate"} if "assistance_type" in editable else set())
        for name in list(self.fields):
            if name not in kept:
                del self.fields[name]

    def changes(self, entry) -> dict:
        """What differs from the entry as it stands."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name != "confirm_duplicate" and value != getattr(entry, name)
        }


class DecisionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


def _chosen_name(form: forms.Form, field: str) -> str:
    value = form[field].value()
    if not str(value or "").isdigit():
        return ""
    chosen = form.fields[field].queryset.filter(pk=value).first()
    return chosen.name if chosen else ""


def _recipient_typed(form: forms.Form) -> str:
    """The recipient as the clerk sees it in the search box: the federation picked,
    or, when none was, what she typed, kept so that she can pick from it."""
    return _chosen_name(form, "to_federation") or str(form.data.get("to_federation_search", ""))[:100]


AllocationForm.to_federation_name = property(_recipient_typed)


# Disbursement lists from spreadsheets ---------------------------------------------


class SheetUploadForm(OnceForm):
    """A sheet to import, as a file or as rows pasted from Excel: one of the two,
    within the upload limit."""

    def clean(self):
        data = super().clean()
        sheet, pasted = data.get("sheet"), (data.get("pasted") or "").strip()
        if not sheet and not pasted:
            raise forms.ValidationError(_("Choose a spreadsheet file or paste rows."), code="required")
        if sheet and pasted:
            raise forms.ValidationError(_("Choose a file or paste rows, not both."), code="ambiguous")
        limit = settings.UNIONFUNDS_UPLOAD_MAX_BYTES
        if (sheet.size if sheet else len(pasted.encode())) > limit:
            raise forms.ValidationError(
                _("The file is larger than %(limit)s MB.") % {"limit": limit // (1024 * 1024)}, code="too_big"
            )
        return data


class ListImportForm(SheetUploadForm):
    """A real-name list: a sheet to upload or rows pasted from Excel, and what
    the rows leave blank (assistance type, date) filled in for all of them."""

    fund = FundChoiceField(label=_("Fund"), queryset=Fund.objects.none())
    assistance_type = forms.ChoiceField(
        label=_("Assistance type"),
        choices=AssistanceType.choices,
        help_text=_("For rows whose 救助类别 column is empty."),
    )
    date = forms.DateField(
        label=_("Date"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("For rows whose 发放日期 column is empty."),
    )
    batch = forms.CharField(label=_("Batch"), required=False, max_length=50)
    sheet = forms.FileField(
        label=_("Spreadsheet (.xlsx, .xls, .ods or .csv)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.xls,.ods,.csv,.txt"}),
    )
    pasted = forms.CharField(
        label=_("…or paste the rows from Excel, with the header row"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fund"].queryset = funds_for(user)
        self.initial.setdefault("date", timezone.localdate())


class ListRowFixForm(forms.Form):
    """One problem row of an imported list, corrected in the browser."""

    name = forms.CharField(label=_("Name"), required=False, max_length=50)
    id_number = forms.CharField(label=_("ID number"), required=False, max_length=25)
    amount = forms.CharField(label=_("Amount (yuan)"), required=False, max_length=20)
    assistance_type = forms.ChoiceField(
        label=_("Assistance type"), required=False, choices=[("", "—"), *AssistanceType.choices]
    )
    date = forms.CharField(label=_("Date"), required=False, max_length=20)
    confirm_duplicate = forms.BooleanField(label=_("Pay again"), required=False)
    remove = forms.BooleanField(label=_("Remove the row"), required=False)
