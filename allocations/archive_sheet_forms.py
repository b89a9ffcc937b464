"""The forms of the household sheet import: the upload, and one problem line
corrected in the preview."""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allocations.filters import _federation_name
from allocations.forms import SheetUploadForm
from beneficiaries.archive_models import Relation, Tier
from unionfunds.models import Federation, Role
from unionfunds.permissions import role_q
from unionfunds.widgets import PickerInput

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def federations_for(user):
    """Where `user` may file households: the federations where she is a clerk, and below."""
    return Federation.objects.filter(role_q(user, Role.CLERK, "path")).order_by("path")


class HouseholdImportForm(SheetUploadForm):
    federation = forms.ModelChoiceField(
        label=_("Filed by"),
        queryset=Federation.objects.none(),
        widget=PickerInput("federation_search", describe=_federation_name),
        help_text=_("The federation in whose subtree the households live: yours or one below it."),
        error_messages={"invalid_choice": _("Choose a federation where you are a clerk, or one below it.")},
    )
    valid_from = forms.DateField(
        label=_("Valid from"), widget=DATE, help_text=_("For households whose 有效期自 is empty.")
    )
    standard = forms.CharField(
        label=_("Standard filed under"),
        required=False,
        max_length=200,
        help_text=_("For households whose 认定标准 is empty, e.g. 青海省困难职工认定办法."),
    )
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
        mine = federations_for(user)
        self.fields["federation"].queryset = mine
        self.initial.setdefault("valid_from", timezone.localdate())
        if (top := mine.order_by("depth", "path").first()) is not None:
            self.initial.setdefault("federation", top.pk)


class HouseholdRowFixForm(forms.Form):
    """One problem line of a household sheet, corrected in the browser. The
    household's fields count on its head's line only."""

    name = forms.CharField(label=_("Name"), required=False, max_length=50)
    id_number = forms.CharField(label=_("ID number"), required=False, max_length=25)
    relation = forms.ChoiceField(label=_("Relation"), required=False, choices=[("", "—"), *Relation.choices])
    address = forms.CharField(label=_("Address"), required=False, max_length=200)
    tier = forms.ChoiceField(label=_("Tier"), required=False, choices=[("", "—"), *Tier.choices])
    income_per_head = forms.CharField(label=_("Monthly income per head"), required=False, max_length=20)
    causes = forms.CharField(label=_("Causes"), required=False, max_length=100)
    valid_from = forms.CharField(label=_("Valid from"), required=False, max_length=20)
    valid_to = forms.CharField(label=_("Valid to"), required=False, max_length=20)
    remove = forms.BooleanField(label=_("Remove the row"), required=False)
