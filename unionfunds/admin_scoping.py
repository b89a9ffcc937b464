"""What every admin page shares: rows scoped to the user's subtrees, and
permissions from memberships rather than Django's per-model permission table.

Nothing is edited in place here. What may be added (federations, funds, people,
units) is added by its service, through a form whose only write is that call;
spreadsheets go through resources that call the same services.
"""

import functools

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import BadRequest, FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin

from unionfunds import exportlog, sheetreader
from unionfunds.forms_support import show_refusal
from unionfunds.models import Federation
from unionfunds.permissions import grants, has_role_anywhere, role_q, sees_everything
from unionfunds.resources import FORMATS

NOT_FOUND = _("Not found.")
BAD_SELECTION = _("The rows ticked are not rows of this list. Go back to the list and tick them again.")
IMPORT_REFUSED = _("Nothing was imported: some rows were refused. Correct them and upload the file again.")


class ServiceAddForm(forms.ModelForm):
    """An add form whose only write is the service call.

    The admin's add view runs in one transaction; the service is called when the
    form is validated, so that its refusal comes back next to the field it
    names, and the row it made is what the admin then logs and shows.
    """

    create = None  # set per request by ScopedAdmin.get_form

    def _post_clean(self):
        # The model's own validation is the service's to run; here it would
        # report the same rule twice, or take the new row for a duplicate.
        if self.errors:
            return
        try:
            with transaction.atomic():
                self.instance = self.create(self.cleaned_data)
        except ValidationError as error:
            show_refusal(self, error)
        except PermissionDenied as error:
            self.add_error(None, str(error))


class IdAutocompleteSelect(AutocompleteSelect):
    """The admin's search box, redrawn after a refusal: it looks up the value
    sent as an id, and one that is no id (?federation=abc, 10**30) is left out
    rather than failing the page."""

    def optgroups(self, name, value, attr=None):
        ids = [single for single in map(str, value) if single.isascii() and single.isdigit() and int(single) < 2**63]
        return super().optgroups(name, ids, attr)


class BoundedChangeList(ChangeList):
    """Django turns a date drill-down it cannot build (?date__year=abc) into the
    list's "wrong filter" redirect, but a year past what a date holds raises
    OverflowError, and on a time column a year before 1 a ValueError from the
    time zone: the same redirect for those."""

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as error:
            raise IncorrectLookupParameters(error) from error

    def get_results(self, request):
        try:
            return super().get_results(request)
        except (OverflowError, ValueError) as error:  # the bounds of a time column's year, made aware
            raise IncorrectLookupParameters(error) from error


class SelectionChecked:
    """An action's ticked rows are ids: anything else in `_selected_action`
    (a word, 10**30, a full-width digit) is a 400, not the database's error."""

    def response_action(self, request, queryset):
        selected = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        if any(not (value.isascii() and value.isdigit() and len(value) <= 18) for value in selected):
            raise BadRequest(BAD_SELECTION)
        return super().response_action(request, queryset)


class ScopedAdmin(SelectionChecked, admin.ModelAdmin):
    """Lists only what `visible_to(user)` returns; writes go through services.

    `add_role` is the role a user needs at some federation to add rows here;
    they then choose among the federations where they hold it. `path_lookup`
    reaches the materialised path of a row's federation.
    """

    list_per_page = 50
    show_full_result_count = False
    add_role: str | None = None
    add_fields: tuple[str, ...] = ()
    add_form = ServiceAddForm
    path_lookup = "federation__path"

    def get_changelist(self, request, **kwargs):
        return BoundedChangeList

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_changeform_initial_data(self, request):
        """The add page's prefill from the query string (?federation=12), less
        what no such field could hold: Django renders a related field's initial
        value by querying for it, and ?federation=abc would fail there."""
        usable = {}
        for name, value in super().get_changeform_initial_data(request).items():
            try:
                field = self.model._meta.get_field(name)
                column = field.target_field if field.is_relation else field
                for single in value if isinstance(value, list) else [value]:
                    prepared = column.get_prep_value(column.to_python(single))
                    if isinstance(prepared, int) and not -(2**63) <= prepared < 2**63:
                        raise ValueError(single)
            except (FieldDoesNotExist, ValueError, TypeError, ValidationError, OverflowError):
                continue
            usable[name] = value
        return usable

    def get_object(self, request, object_id, from_field=None):
        # A 404, the same as for a row that does not exist, rather than the
        # admin's redirect: a row outside the subtree is not shown to exist.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(NOT_FOUND)
        return obj

    def has_module_permission(self, request) -> bool:
        return sees_everything(request.user) or bool(grants(request.user))

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return self.add_role is not None and has_role_anywhere(request.user, self.add_role)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # Adding through the service ---------------------------------------------

    def get_fields(self, request, obj=None):
        if obj is None and self.add_fields:
            return list(self.add_fields)
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None and self.add_fields:
            return ()
        return super().get_readonly_fields(request, obj)

    def get_exclude(self, request, obj=None):
        if obj is None and self.add_fields:
            return None
        return super().get_exclude(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        adding = obj is None and bool(self.add_fields)
        if adding:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, change=change, **kwargs)
        if adding:
            form = type(form.__name__, (form,), {"create": staticmethod(functools.partial(self.create, request))})
        return form

    def create(self, request, data: dict):
        """Call the service that adds one row from the add form's cleaned data."""
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        """The service saved it while the form was validated."""

    def save_related(self, request, form, formsets, change):
        """Related rows (categories) were given to the service with the rest."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = IdAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        if db_field.related_model is Federation and self.add_role is not None:
            # Only where the user may add: a choice elsewhere would be refused.
            kwargs["queryset"] = Federation.objects.filter(role_q(request.user, self.add_role, "path"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Autocomplete ----------------------------------------------------------

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        role = self._autocomplete_role(request)
        if role is not None:
            queryset = queryset.filter(role_q(request.user, role, self.path_lookup))
        return queryset, may_have_duplicates

    def _autocomplete_role(self, request) -> str | None:
        """The role the asking form's page needs, when this search fills an
        autocomplete box: its choices are then only where the user may add."""
        match = getattr(request, "resolver_match", None)
        if match is None or match.url_name != "autocomplete":
            return None
        try:
            source = apps.get_model(request.GET["app_label"], request.GET["model_name"])
            return getattr(self.admin_site.get_model_admin(source), "add_role", None)
        except (KeyError, LookupError, NotRegistered):
            return None

    def run_service(self, request, call, success_message: str | None) -> bool:
        """Call a service for one object; report its refusal instead of a 500
        (and, if given, the message of its success)."""
        try:
            call()
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), messages.ERROR)
            return False
        except PermissionDenied as error:
            self.message_user(request, str(error), messages.ERROR)
            return False
        if success_message is not None:
            self.message_user(request, success_message, messages.SUCCESS)
        return True


class ScopedImportExportAdmin(ImportExportMixin, ScopedAdmin):
    """Import and export buttons on a scoped list. Whoever may add rows may
    import them (row by row, the resource checks the role at each row's
    federation); whoever sees the list may export what it shows."""

    import_formats = FORMATS
    export_formats = FORMATS

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request)

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def get_resource_kwargs(self, request, *args, **kwargs):
        return {"user": request.user}

    def export_action(self, request):
        # The export reads the list's filters from the query string, as the list
        # does, but without the list's redirect for a filter it cannot apply.
        try:
            return super().export_action(request)
        except IncorrectLookupParameters:
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + "?e=1")

    def add_data_read_fail_error_to_form(self, form, e):
        # The reader says what is wrong with the file, in the user's language;
        # the library's own message would only name the exception's class.
        if isinstance(e, sheetreader.SheetError):
            form.add_error("import_file", str(e))
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def get_export_data(self, file_format, request, queryset, **kwargs):
        # The same export log as the pages and the API: who, what, how many rows.
        chosen = self.choose_export_resource_class(kwargs.get("export_form"), request)
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        exportlog.record(
            user=request.user,
            what=f"admin.{self.model._meta.model_name}",
            format=file_format.get_extension(),
            query=request.GET,
            rows=queryset.count(),
            full_ids=getattr(chosen, "shows_full_id_numbers", False),
        )
        return data

    def process_result(self, result, request):
        # The confirmed import found refused rows (the data changed since the
        # preview) and rolled everything back: show them, not "Import finished".
        if result.has_errors() or result.has_validation_errors():
            self.message_user(request, IMPORT_REFUSED, messages.ERROR)
            form = self.get_import_form_class(request)(
                self.get_import_formats(), self.get_import_resource_classes(request)
            )
            context = {
                **self.admin_site.each_context(request),
                "title": _("Import"),
                "opts": self.model._meta,
                "form": form,
                "result": result,
                "media": self.media + form.media,
                "import_error_display": self.import_error_display,
            }
            return TemplateResponse(request, [self.import_template_name], context, status=400)
        return super().process_result(result, request)
