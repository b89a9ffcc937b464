"""Auditors' spreadsheets of the lists: the same filters as the page, every row.

One definition per list (its columns and how a record becomes a row) serves
the list pages' export buttons, the API's `?format=csv|xlsx` and the
background export of big lists. Each app registers the definitions of its own
lists (`register`, from its `exports` module, imported when the app is ready);
this module holds the federations' and the machinery. Rows are read with a
server-side cursor and written as they come, so memory stays flat however many
there are.
"""

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace

from django.db.models import Model, QuerySet
from django.utils import timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.filterset import filterset_factory

from unionfunds import downloads, permissions, spreadsheets
from unionfunds.models import Federation
from unionfunds.spreadsheets import IDENTIFIER, INTEGER, MONEY, TEXT, Column, Sheet

CHUNK = 2000
APPROVED_TOTAL = gettext_lazy("Total of approved entries (reversals subtracted)")
# Said in the file (and on the job's page) when full numbers were asked for by
# someone whose roles never allow them: the file still comes, masked, rather
# than a refusal, so that an approver checking a list keeps the list.
FULL_IDS_REFUSED = gettext_lazy(
    "Masked: you asked for full ID numbers, but only clerks and auditors may have them (DOMAIN.md, rule 4), "
    "and you are neither. Ask a clerk or an auditor of the federation for an export with full numbers."
)


@dataclass(frozen=True)
class ListExport:
    what: str
    title: Callable[[], str]
    model: type
    filter_class: type
    related: tuple[str, ...]
    columns: Callable[[], list[Column]]
    row: Callable  # (record, show_full_ids: Callable[[person], bool]) -> list
    ordering: tuple[str, ...] = ("-date", "-pk")
    prefetch: tuple[str, ...] = ()
    # What a record adds to the approved total under the table (None: nothing);
    # a list without it has no such total.
    approved_amount: Callable[[Model], Decimal | None] | None = None
    # Whether `user` may see `person`'s ID number and phone in full, when asked.
    reveals: Callable[[object, Model], bool] | None = None
    # Whether `user` may see anyone's in full (holds a role that may, somewhere).
    reveals_to: Callable[[object], bool] | None = None
    # The 合计 under the page's table, over every filtered row: a dict with at
    # least `rows` (the count the pager shows).
    totals: Callable[[QuerySet], dict] | None = None

    def queryset(self, user) -> QuerySet:
        queryset = self.model.objects.visible_to(user).select_related(*self.related).order_by(*self.ordering)
        return queryset.prefetch_related(*self.prefetch) if self.prefetch else queryset

    def filtered(self, user, query) -> tuple[QuerySet, object]:
        """The rows the list page shows for this query string, and its filter form."""
        # The filters see who asks: a search by a whole ID number finds only the
        # people this user may see in full.
        found = self.filter_class(query or None, queryset=self.queryset(user), request=SimpleNamespace(user=user))
        return found.qs, found.form


EXPORTS: dict[str, ListExport] = {}


def register(*specs: ListExport) -> None:
    for spec in specs:
        EXPORTS[spec.what] = spec


def label(record, field_name: str) -> str:
    """What `get_<field>_display()` says, from a map made once per field and
    language: Django rebuilds and translates the choices on every call, half
    the time of a long export."""
    value = getattr(record, field_name)
    return _labels(type(record), field_name, translation.get_language()).get(value, value)


@functools.cache
def _labels(model: type, field_name: str, language: str) -> dict:
    choices = model._meta.get_field(field_name).flatchoices
    return {value: str(text) for value, text in choices}


def field_header(model: type, name: str) -> str:
    return str(capfirst(model._meta.get_field(name).verbose_name))


class Counter:
    """Counts and sums the rows as they stream past, for the totals row and the log."""

    def __init__(self):
        self.rows = 0
        self.approved = Decimal("0.00")

    def count(self, records: Iterable, amount: Callable | None) -> Iterator:
        for record in records:
            self.rows += 1
            if amount is not None and (counted := amount(record)) is not None:
                self.approved += counted
            yield record


def full_ids_refused(what: str, user, asked: bool) -> bool:
    """Whether full ID numbers were asked for by someone who may see none."""
    spec = EXPORTS[what]
    return asked and spec.reveals is not None and not (spec.reveals_to is None or spec.reveals_to(user))


def build_sheet(
    what: str,
    user,
    query,
    *,
    full_ids: bool = False,
    counter: Counter | None = None,
    queryset: QuerySet | None = None,
    form=None,
    federation: str | None = None,
    about: Iterable[tuple[str, str]] = (),
    skip: tuple[str, ...] = (),
) -> Sheet:
    """The sheet of list `what` for `user`, filtered by `query` like its page.

    With `full_ids`, ID numbers and phones are shown in full where the user's
    role allows it (and masked elsewhere, which the sheet says); without,
    always masked. `federation` (default: the tops of the user's subtrees)
    and `about` (lines under the list's name) say whose rows these are; `skip`
    names form fields that are no filters.
    """
    spec = EXPORTS[what]
    if queryset is None:
        queryset, form = spec.filtered(user, query)
    counter = counter or Counter()
    columns = spec.columns()
    reveals = spec.reveals
    allowed = (lambda person: reveals(user, person)) if full_ids and reveals else (lambda person: False)
    chunk = CHUNK if not spec.prefetch else CHUNK // 4
    records = counter.count(queryset.iterator(chunk_size=chunk), spec.approved_amount)
    rows = (spec.row(record, allowed) for record in records)

    def totals() -> list:
        cells: list = [""] * len(columns)
        cells[1 if columns[0].kind == INTEGER else 0] = f"{_('Rows')}: {counter.rows:,}"
        if spec.approved_amount is not None:
            amount_index = next(i for i, c in enumerate(columns) if c.kind == MONEY)
            cells[amount_index] = counter.approved
            cells[amount_index - 1] = str(APPROVED_TOTAL)
        return cells

    filters = spreadsheets.describe_filters(form, skip=skip) if form is not None else str(_("None"))
    if not full_ids:
        id_numbers = _("Masked")
    elif full_ids_refused(what, user, full_ids):
        id_numbers = FULL_IDS_REFUSED
    else:
        id_numbers = _("In full where your role allows")
    return Sheet(
        title=spec.title(),
        columns=columns,
        rows=rows,
        federation=federation or scope_name(user),
        filters=filters,
        preamble=[
            (_("List"), spec.title()),
            *about,
            (_("Filters"), filters),
            (_("ID numbers"), id_numbers),
            (_("Exported at"), f"{timezone.localtime():%Y-%m-%d %H:%M}"),
            (_("Exported by"), user.get_username()),
        ],
        totals=totals,
    )


def filenames(what: str, user, form, extension: str) -> tuple[str, str]:
    """What the file of list `what` is saved as (whose, which list, which
    period: 青海省总工会_资金发放_2022年度.csv), and an ASCII name for clients
    that cannot read that one."""
    name = downloads.export_filename(
        scope_name(user), EXPORTS[what].title(), downloads.period(downloads.cleaned(form)), extension=extension
    )
    return name, f"{what}-{timezone.localtime():%Y%m%d-%H%M}.{extension}"


def scope_name(user) -> str:
    """Whose rows a list holds, for its printed header: the federations at the
    tops of the user's subtrees."""
    if permissions.sees_everything(user):
        return str(_("All federations"))
    tops = permissions.scope_paths(user)
    names = Federation.objects.filter(path__in=tops).order_by("path").values_list("name", flat=True)
    return "、".join(names)


def _federation_columns() -> list[Column]:
    return [
        Column(_("No."), INTEGER, 9),
        Column(field_header(Federation, "code"), IDENTIFIER, 14),
        Column(field_header(Federation, "name"), TEXT, 28),
        Column(field_header(Federation, "level"), TEXT, 10),
        Column(field_header(Federation, "parent"), TEXT, 28),
    ]


def _federation_row(f: Federation, full_ids: Callable) -> list:
    return [f.pk, f.code, f.name, label(f, "level"), f.parent.name if f.parent_id else ""]


register(
    # Only the API lists federations; the page-style filters serve a caller
    # that passes no queryset of its own.
    ListExport(
        "federations",
        lambda: _("Federations"),
        Federation,
        filterset_factory(Federation, fields=["code", "level"]),
        ("parent",),
        _federation_columns,
        _federation_row,
        ordering=("path",),
    ),
)
