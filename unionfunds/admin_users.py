"""The admin's user pages, for a federation's administrators as well as superusers.

An administrator (a `Role.ADMIN` membership, made staff with it) lists the
people they look after (`accounts.users_in_reach`), opens an account for a new
member with a role in their subtree, and hands a member who forgot their
password a new temporary one. Everything else Django's user admin offers
(editing, deleting, permissions, groups) stays with superusers.
"""

import functools

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UsernameField
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters

from unionfunds import accounts, services
from unionfunds.admin_scoping import NOT_FOUND, IdAutocompleteSelect, SelectionChecked, ServiceAddForm
from unionfunds.models import Federation, Membership, Role
from unionfunds.permissions import has_role_anywhere, role_q, sees_everything

User = get_user_model()

TEMPORARY_HELP = _(
    "Leave it empty and the system makes one, shown once when the account is opened. Either way the "
    "person must choose their own password at the first sign-in."
)


class OnboardForm(ServiceAddForm):
    """A new member: who, where, in which role, and the temporary password."""

    federation = forms.ModelChoiceField(
        label=_("federation"),
        queryset=Federation.objects.none(),
        # The membership's own search box: it offers only where the administrator is one.
        widget=IdAutocompleteSelect(Membership._meta.get_field("federation"), admin.site),
    )
    role = forms.ChoiceField(label=_("role"), choices=Role.choices)
    password = forms.CharField(
        label=_("temporary password"),
        required=False,
        strip=False,
        max_length=services.PASSWORD_LIMIT,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=TEMPORARY_HELP,
    )

    by = None  # the administrator, set per request by MemberAdmin.get_form

    class Meta:
        model = User
        fields = ("username", "first_name", "email")
        field_classes = {"username": UsernameField}
        labels = {"first_name": _("full name")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["first_name"].required = True
        self.fields["federation"].queryset = Federation.objects.filter(role_q(self.by, Role.ADMIN, "path"))


class MemberAdmin(SelectionChecked, UserAdmin):
    add_form = OnboardForm
    add_form_template = None  # the plain add page; Django's speaks of a password typed twice
    add_fieldsets = ((None, {"fields": ("username", "first_name", "email", "federation", "role", "password")}),)
    list_display = ["username", "first_name", "email", "roles_shown", "is_active", "last_login"]
    readonly_fields = ["roles_shown", "password_state"]
    actions = ["set_temporary_password"]
    passwords_template = "admin/auth/user/temporary_passwords.html"

    # Who may do what ------------------------------------------------------------

    def has_module_permission(self, request) -> bool:
        return super().has_module_permission(request) or has_role_anywhere(request.user, Role.ADMIN)

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) or has_role_anywhere(request.user, Role.ADMIN)

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) or has_role_anywhere(request.user, Role.ADMIN)

    def has_set_password_permission(self, request) -> bool:
        return sees_everything(request.user) or has_role_anywhere(request.user, Role.ADMIN)

    def get_queryset(self, request):
        users = super().get_queryset(request).select_related("account")
        if not sees_everything(request.user):
            users = users.filter(pk__in=accounts.users_in_reach(request.user).values("pk"))
        shown = Membership.objects.filter(federation__in=Federation.objects.visible_to(request.user))
        return users.prefetch_related(
            Prefetch("memberships", queryset=shown.select_related("federation"), to_attr="shown_memberships")
        )

    def get_object(self, request, object_id, from_field=None):
        # Someone who may not see the list at all is refused before any lookup,
        # whoever the id names; for an administrator, as on the scoped admins,
        # someone outside the subtree is not shown to exist.
        if not self.has_view_permission(request):
            raise PermissionDenied
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(NOT_FOUND)
        return obj

    def get_list_filter(self, request):
        return super().get_list_filter(request) if sees_everything(request.user) else ("is_active",)

    def get_fieldsets(self, request, obj=None):
        if obj is None or sees_everything(request.user):
            return super().get_fieldsets(request, obj)
        shown = ("username", "first_name", "email", "is_active", "roles_shown", "password_state", "last_login")
        return ((None, {"fields": (*shown, "date_joined")}),)

    @admin.display(description=_("roles"))
    def roles_shown(self, user) -> str:
        memberships = getattr(user, "shown_memberships", None) or []
        return "; ".join(f"{m.federation} · {m.get_role_display()}" for m in memberships) or "—"

    @admin.display(description=_("password"))
    def password_state(self, user) -> str:
        account = getattr(user, "account", None)
        if account is not None and account.must_change_password:
            return str(_("Temporary: to be changed at the next sign-in"))
        return str(_("Chosen by the user")) if user.has_usable_password() else str(_("None set"))

    # Opening an account through the service ----------------------------------------

    @method_decorator(sensitive_post_parameters("password"))
    def add_view(self, request, form_url="", extra_context=None):
        # Not UserAdmin's, which asks for the change permission: its form could
        # make a superuser. This one only calls `user_onboard`.
        return admin.ModelAdmin.add_view(self, request, form_url, extra_context)

    def get_changeform_initial_data(self, request):
        # No prefill from the query string: ?federation=abc would be looked up
        # as an id, and an account is opened from a blank form anyway.
        return {}

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            create = staticmethod(functools.partial(self.create, request))
            form = type(form.__name__, (form,), {"create": create, "by": request.user})
        return form

    def create(self, request, data: dict):
        onboarded = services.user_onboard(
            username=data["username"],
            name=data["first_name"],
            email=data.get("email") or "",
            federation=data["federation"],
            role=data["role"],
            password=data.get("password") or None,
            by=request.user,
        )
        request.unionfunds_onboarded = onboarded
        return onboarded.membership.user

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request, obj, post_url_continue=None):
        onboarded = getattr(request, "unionfunds_onboarded", None)
        if onboarded is None:
            return super().response_add(request, obj, post_url_continue)
        return self.passwords_page(request, _("Account opened"), [(obj, onboarded.password)])

    # A new temporary password for someone who forgot theirs ---------------------------

    @admin.action(description=_("Set a temporary password"), permissions=["set_password"])
    def set_temporary_password(self, request, queryset):
        given = []
        for user in queryset:
            try:
                given.append((user, services.password_reset_temporary(user=user, by=request.user)))
            except ValidationError as error:
                self.message_user(request, f"{user}: {'; '.join(error.messages)}", messages.ERROR)
            except PermissionDenied as error:
                self.message_user(request, f"{user}: {error}", messages.ERROR)
        if not given:
            return None
        return self.passwords_page(request, _("Temporary passwords set"), given)

    def passwords_page(self, request, title, given):
        """The temporary passwords, shown this once and never stored in the clear."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "given": [(self.get_queryset(request).get(pk=user.pk), password) for user, password in given],
        }
        response = TemplateResponse(request, self.passwords_template, context)
        add_never_cache_headers(response)
        return response
