from django import forms
from django.utils.translation import gettext_lazy as _

from allocations.models import AssistanceType, Purpose
from allocations.rollups import Filters


class RollupFilterForm(forms.Form):
    """The filters above a roll-up and the lists behind it, read from the query string."""

    fiscal_year = forms.IntegerField(label=_("Fiscal year"), required=False, min_value=2000, max_value=2100)
    purpose = forms.ChoiceField(label=_("Purpose"), required=False, choices=[("", _("All")), *Purpose.choices])
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    assistance_type = forms.ChoiceField(
        label=_("Assistance type"), required=False, choices=[("", _("All")), *AssistanceType.choices]
    )
    unit = forms.ChoiceField(
        label=_("Amounts in"), required=False, choices=[("yuan", _("yuan")), ("wan", _("10,000 yuan"))]
    )

    def filters(self) -> Filters:
        data = self.cleaned_data if self.is_valid() else {}
        return Filters(
            fiscal_year=data.get("fiscal_year"),
            purpose=data.get("purpose") or None,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            assistance_type=data.get("assistance_type") or None,
        )

    def in_wan(self) -> bool:
        return self.is_valid() and self.cleaned_data.get("unit") == "wan"

    def query_string(self) -> str:
        """The filters again, for links to the rows behind a figure."""
        if not self.is_valid():
            return ""
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in self.data.items() if k in self.fields and v})
