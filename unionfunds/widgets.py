"""Form boxes that find what is picked by typing, for lists too long to scroll:
the country's federations, a province's funds, a subtree's clerks."""

from collections.abc import Callable

from django import forms
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _


class PickerInput(forms.HiddenInput):
    """The id of a record, picked from what a search answers as the user types
    (static/unionfunds.js); the box beside it shows the picked record's name.

    `search_url` names a view answering `?q=` with `{"results": [{"id", "name",
    "code"?, "parent"?, "label"?}]}`; `describe` says what the picked id is called."""

    def __init__(self, search_url: str, describe: Callable[[str], str], attrs=None):
        super().__init__(attrs)
        self.search_url = search_url
        self.describe = describe

    def render(self, name, value, attrs=None, renderer=None):
        hidden = super().render(name, value, attrs, renderer)
        field_id = (attrs or {}).get("id") or f"id_{name}"
        shown = self.describe(value) if value not in (None, "") else ""
        return format_html(
            '{}<input type="search" id="{}_search" data-federation-search="{}" data-search-url="{}" value="{}" '
            'placeholder="{}" autocomplete="off"><ul id="{}_suggestions" class="suggestions" role="listbox"></ul>',
            hidden,
            field_id,
            field_id,
            reverse(self.search_url),
            shown,
            _("Search by name or code"),
            field_id,
        )


class SuggestingInput(forms.TextInput):
    """A text box that offers the values it is given (`suggestions`) as the user
    types, and takes anything typed."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.suggestions: list[str] = []

    def render(self, name, value, attrs=None, renderer=None):
        field_id = (attrs or {}).get("id") or f"id_{name}"
        attrs = {**(attrs or {}), "list": f"{field_id}_options", "autocomplete": "off"}
        box = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">', ((s,) for s in self.suggestions))
        return format_html('{}<datalist id="{}_options">{}</datalist>', box, field_id, options)
