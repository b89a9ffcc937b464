"""Spreadsheet imports and exports in the admin (django-import-export), held to
the same rules as every other door.

Every new row is made by its service, and every change by a service, in the
dry run that gives the preview as well as in the real run; the dry run's
transaction is rolled back. The real run is one transaction, rolled back whole
if any row is refused, so an import is all or nothing. Rows are looked up and
exported only within what the user sees, and imported only where the user holds
the role the resource asks for.
"""

import io
import re

import openpyxl
import tablib
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.formats import base_formats
from openpyxl.utils import get_column_letter

from unionfunds import sheetreader
from unionfunds.errors import refuse
from unionfunds.models import Federation, Role
from unionfunds.permissions import has_role
from unionfunds.services import federation_create, federation_rename
from unionfunds.spreadsheets import safe_text

UNKNOWN_FEDERATION = _("No federation with the code %(code)s among yours.")
OUTSIDE_ROLE = _("You may not import rows for %(federation)s: that needs the role %(role)s there.")
NOT_UPDATABLE = _("An import cannot change this column of an existing row; it is %(current)s now.")

# An admin import is a few thousand rows at most; 50 MB of XML is far more.
MAX_XLSX_UNPACKED = 50 * 1024 * 1024
MAX_ROWS = 100_000  # as a list may hold (allocations.lists.MAX_ROWS)
FORMULA_CELL = _(
    "Row %(line)s, column %(column)s holds a formula. Paste the values instead (in Excel: Paste Special → Values)."
)


# The preview's diff marks, as diff-match-patch writes them: <ins style="...">.
DIFF_MARK_STYLE = re.compile(r'<(ins|del) style="[^"]*">')


class Diff(resources.Diff):
    """The import preview's changes without inline style attributes, which the
    Content-Security-Policy refuses; import-export's import.css colours <ins> and <del>."""

    def as_html(self) -> list[str]:
        # diff-match-patch escapes "<" in the values, so only its own tags match.
        return [mark_safe(DIFF_MARK_STYLE.sub(r"<\1>", html)) for html in super().as_html()]


# File formats ----------------------------------------------------------------


class CSV(base_formats.CSV):
    """CSV as Chinese Excel and WPS save it (GBK) or as UTF-8, with or without a
    byte-order mark; written as UTF-8 with one, so that Excel reads it right."""

    def is_binary(self) -> bool:
        # Read as bytes, so that the encoding is decided here and not by the
        # admin's single `from_encoding`.
        return True

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            in_stream = sheetreader.decode(in_stream)  # its SheetError is a ValueError the admin shows
        return super().create_dataset(in_stream, **kwargs)

    def export_data(self, dataset, **kwargs) -> bytes:
        return ("\ufeff" + super().export_data(_neutralised(dataset), **kwargs)).encode("utf-8")


class XLSX(base_formats.XLSX):
    """XLSX whose text cells never run as formulas, and whose uploads are
    measured before they are unpacked."""

    def create_dataset(self, in_stream):
        # The guarded reader of the list imports, not the library's own: it
        # measures the file, refuses a cell far outside any sheet before a
        # reader lays out the range up to it, and never pads a row to what the
        # file's <dimension> claims.
        reading = sheetreader.read(in_stream, max_rows=MAX_ROWS + 1, max_unpacked=MAX_XLSX_UNPACKED)
        dataset = tablib.Dataset()
        for line in reading.lines:
            values = []
            for index, cell in enumerate(line.cells):
                if cell.formula:
                    raise sheetreader.SheetError(
                        str(FORMULA_CELL % {"line": line.number, "column": sheetreader.column_letter(index)})
                    )
                values.append(cell.value)
            if dataset.headers is None:
                dataset.headers = values
                continue
            values = values[: len(dataset.headers)] + [None] * (len(dataset.headers) - len(values))
            dataset.append(values)
        return dataset

    def export_data(self, dataset, **kwargs):
        return _frozen_and_filtered(super().export_data(_neutralised(dataset), **kwargs))


FORMATS = [CSV, XLSX]


def _frozen_and_filtered(content: bytes) -> bytes:
    """The header row frozen and filterable, as in every XLSX the site writes."""
    book = openpyxl.load_workbook(io.BytesIO(content))
    for sheet in book.worksheets:
        sheet.freeze_panes = "A2"
        if sheet.max_column and sheet.max_row:
            sheet.auto_filter.ref = f"A1:{get_column_letter(sheet.max_column)}{sheet.max_row}"
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def _neutralised(dataset):
    """A copy of the dataset whose text cannot be read as a formula (OWASP ASVS
    1.2.10: a leading =, +, -, @, tab or NUL), not only a leading = as the
    library's own escaping does."""
    copy = dataset.__class__(headers=dataset.headers)
    for row in dataset:
        copy.append([safe_text(cell) if isinstance(cell, str) else cell for cell in row])
    return copy


# Widgets and the shared resource ------------------------------------------------


class FederationCodeWidget(widgets.ForeignKeyWidget):
    """A federation named by its code, found only among those the user sees."""

    def __init__(self, **kwargs):
        super().__init__(Federation, field="code", **kwargs)
        self.user = None

    def get_queryset(self, value, row, *args, **kwargs):
        return Federation.objects.visible_to(self.user)

    def clean(self, value, row=None, **kwargs):
        code = "" if value is None else str(value).strip()
        try:
            return super().clean(code, row, **kwargs)
        except Federation.DoesNotExist:
            raise ValueError(str(UNKNOWN_FEDERATION % {"code": code})) from None


class ScopedResource(resources.ModelResource):
    """What every admin resource shares: the user's scope, service writes, and
    existing rows that change only in `updatable` columns.

    Subclasses name the `role` a row needs at its federation, the `service_fields`
    that the service fills in (left out of the model's validation), and write
    through `create()` and `update()`.
    """

    role: str = Role.ADMIN
    federation_column = "federation"
    service_fields: tuple[str, ...] = ()
    updatable: tuple[str, ...] = ()

    class Meta:
        clean_model_instances = True
        use_transactions = True
        skip_unchanged = True

    def __init__(self, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        for field in self.fields.values():
            if isinstance(field.widget, FederationCodeWidget):
                field.widget.user = user

    # Scope ------------------------------------------------------------------

    @classmethod
    def get_diff_class(cls):
        return Diff

    def get_queryset(self):
        return self._meta.model.objects.visible_to(self.user)

    def filter_export(self, queryset, **kwargs):
        return queryset.visible_to(self.user)

    def get_instance(self, instance_loader, row):
        # A key naming nothing the user sees makes the row a new one; its own
        # columns then say what is wrong with it.
        try:
            return super().get_instance(instance_loader, row)
        except ValueError:
            return None

    def require_role(self, federation: Federation | None, column: str) -> None:
        if federation is not None and not has_role(self.user, self.role, federation):
            raise refuse(
                OUTSIDE_ROLE,
                "role_required",
                field=column,
                federation=federation.name,
                role=Role(self.role).label,
            )

    # Import -----------------------------------------------------------------

    def import_data(self, dataset, **kwargs):
        # All or nothing also at the confirmation, when the data may have
        # changed since the preview: a refused row undoes the others.
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(dataset, **kwargs)

    def get_user_visible_fields(self):
        return [field for field in super().get_user_visible_fields() if not field.readonly]

    def import_instance(self, instance, row, **kwargs):
        if instance.pk is None:
            return super().import_instance(instance, row, **kwargs)
        errors = {}
        for name, field in self.fields.items():
            if field.readonly or not field.attribute or field.column_name not in row:
                continue
            if isinstance(field.widget, widgets.ManyToManyWidget):
                continue
            if name in self.updatable:
                try:
                    self.import_field(field, instance, row, **kwargs)
                except ValueError as error:
                    errors[field.attribute] = ValidationError(str(error), code="invalid")
                continue
            # Compared as text, as exported, not looked up: a file exported
            # earlier names the parent of the user's top federation, which the
            # user does not see, and must still import unchanged.
            current = _text(field.export(instance))
            if _text(row[field.column_name]) != current:
                errors[name] = ValidationError(NOT_UPDATABLE, code="not_updatable", params={"current": current or "—"})
        if errors:
            raise ValidationError(errors)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        if self._meta.clean_model_instances:
            try:
                # The service fills these in; the model would call them missing.
                instance.full_clean(exclude=[*errors, *self.service_fields], validate_unique=validate_unique)
            except ValidationError as error:
                errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        try:
            saved = self.create(instance, row) if is_create else self.update(instance, row)
        except PermissionDenied as error:
            raise ValidationError(
                {self.federation_column: [ValidationError(str(error), code="permission_denied")]}
            ) from None
        except ValidationError as error:
            raise ValidationError(_by_column(error)) from None
        # The service made its own object; the row's result (and the admin's
        # log) report the one in the database.
        if saved is not None:
            instance.pk = saved.pk
            self.read_again(instance)

    def read_again(self, instance) -> None:
        """Fill `instance` with its row as saved, as the user may see it."""
        instance.refresh_from_db()

    def save_m2m(self, instance, row, **kwargs):
        """Many-to-many values are given to the service with the rest."""

    def after_import(self, dataset, result, **kwargs):
        # Ids come from the database, never from the file. The library's default
        # here resets the id sequences to the highest id committed, which would
        # hand out again an id that a concurrent, uncommitted insert holds.
        pass

    def create(self, instance, row):
        raise NotImplementedError

    def update(self, instance, row):
        """Nothing that may change here has changed (`updatable` is empty)."""
        return None


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _by_column(error: ValidationError) -> dict:
    if hasattr(error, "error_dict"):
        return error.error_dict
    return {NON_FIELD_ERRORS: error.error_list}


# Federations -----------------------------------------------------------------


class FederationResource(ScopedResource):
    """Federations by code; a row's parent is named by its code and may come
    earlier in the same file. An existing federation changes only its name: a
    move takes its subtree along and is done on its own."""

    code = fields.Field(attribute="code", column_name="code", widget=widgets.CharWidget())
    name = fields.Field(attribute="name", column_name="name", widget=widgets.CharWidget())
    level = fields.Field(attribute="level", column_name="level", widget=widgets.CharWidget())
    parent = fields.Field(attribute="parent", column_name="parent", widget=FederationCodeWidget())

    role = Role.ADMIN
    federation_column = "parent"
    service_fields = ("path", "depth", "numchild")
    updatable = ("name",)

    class Meta:
        model = Federation
        fields = ("code", "name", "level", "parent")
        import_id_fields = ("code",)
        name = _("Federations")

    def filter_export(self, queryset, **kwargs):
        return super().filter_export(queryset, **kwargs).select_related("parent")

    def create(self, instance, row):
        self.require_role(instance.parent, "parent")
        return federation_create(
            code=instance.code, name=instance.name, level=instance.level, parent=instance.parent, by=self.user
        )

    def update(self, instance, row):
        current = Federation.objects.get(pk=instance.pk)
        self.require_role(current, "name")
        return federation_rename(federation=current, name=instance.name, by=self.user)
