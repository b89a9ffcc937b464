from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from unionfunds import accounts, listexports, services
from unionfunds.admin_scoping import ScopedAdmin, ScopedImportExportAdmin
from unionfunds.admin_users import MemberAdmin
from unionfunds.models import AuditEvent, ExportRecord, Federation, Job, Membership, Role
from unionfunds.permissions import has_role_anywhere
from unionfunds.resources import FederationResource


@admin.register(Federation)
class FederationAdmin(ScopedImportExportAdmin):
    list_display = ["name", "code", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["name", "code"]
    list_select_related = ["parent"]
    readonly_fields = ["code", "name", "level", "parent", "path", "depth", "numchild"]
    autocomplete_fields = ["parent"]
    resource_classes = [FederationResource]
    add_role = Role.ADMIN
    add_fields = ("parent", "code", "name", "level")
    path_lookup = "path"

    def create(self, request, data: dict) -> Federation:
        return services.federation_create(
            code=data["code"], name=data["name"], level=data["level"], parent=data["parent"], by=request.user
        )


@admin.register(Membership)
class MembershipAdmin(ScopedAdmin):
    """Roles: an administrator gives one, in their subtree, to someone whose
    account they look after (a new member's account is opened under Users),
    and takes roles away there."""

    list_display = ["user", "federation", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__first_name", "federation__name", "federation__code"]
    list_select_related = ["user", "federation"]
    readonly_fields = ["user", "federation", "role", "created_at"]
    autocomplete_fields = ["user", "federation"]
    add_role = Role.ADMIN
    add_fields = ("user", "federation", "role")
    actions = ["revoke"]

    def get_queryset(self, request):
        return admin.ModelAdmin.get_queryset(self, request).filter(
            federation__in=Federation.objects.visible_to(request.user)
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = accounts.users_in_reach(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def create(self, request, data: dict) -> Membership:
        return services.membership_grant(
            username=data["user"].get_username(), federation=data["federation"], role=data["role"], by=request.user
        )

    def has_revoke_permission(self, request) -> bool:
        return has_role_anywhere(request.user, Role.ADMIN)

    @admin.action(description=_("Revoke the selected roles"), permissions=["revoke"])
    def revoke(self, request, queryset) -> None:
        revoked = 0
        for membership in queryset.select_related("user", "federation"):
            try:
                services.membership_revoke(membership=membership, by=request.user)
            except ValidationError as error:
                self.message_user(request, f"{membership}: {'; '.join(error.messages)}", messages.ERROR)
            except PermissionDenied as error:
                self.message_user(request, f"{membership}: {error}", messages.ERROR)
            else:
                revoked += 1
        if revoked:
            self.message_user(
                request,
                ngettext("%(count)d role revoked.", "%(count)d roles revoked.", revoked) % {"count": revoked},
                messages.SUCCESS,
            )


def action_shown(action: str, content_type_id: int | None) -> str:
    """ "disbursement.created" as a person reads it: 资金发放 · 录入."""
    from unionfunds.templatetags.ui import action_label

    model = ContentType.objects.get_for_id(content_type_id).model_class() if content_type_id else None
    kind = capfirst(model._meta.verbose_name) if model else action.rsplit(".", 1)[0]
    return f"{kind} · {action_label(action)}"


class ActionFilter(admin.SimpleListFilter):
    """The actions the trail holds, by their names in the user's language."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        kinds = {f"{ct.model}.": ct.pk for ct in ContentType.objects.all()}
        found = model_admin.get_queryset(request).order_by().values_list("action", flat=True).distinct()
        return sorted(
            ((action, action_shown(action, kinds.get(action.rsplit(".", 1)[0] + "."))) for action in found),
            key=lambda choice: choice[1],
        )

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdmin):
    list_display = ["at", "user", "what_happened", "object_repr", "federation"]
    list_filter = [ActionFilter]
    search_fields = ["object_repr", "user__username", "action"]
    list_select_related = ["user", "federation"]
    readonly_fields = [
        "at",
        "user",
        "action",
        "content_type",
        "object_id",
        "object_repr",
        "federation",
        "changes",
        "reason",
    ]

    @admin.display(description=_("action"), ordering="action")
    def what_happened(self, event: AuditEvent) -> str:
        return action_shown(event.action, event.content_type_id)


@admin.register(ExportRecord)
class ExportRecordAdmin(ScopedAdmin):
    list_display = ["at", "user", "what_shown", "format", "row_count", "full_id_numbers", "federation"]
    list_filter = ["what", "format", "full_id_numbers"]
    search_fields = ["user__username", "what"]
    list_select_related = ["user", "federation"]
    date_hierarchy = "at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.display(description=_("what"), ordering="what")
    def what_shown(self, record: ExportRecord) -> str:
        spec = listexports.EXPORTS.get(record.what)
        if spec is not None:
            return str(spec.title())
        if record.what == "rollup":
            return str(_("Roll-up"))
        behind = listexports.EXPORTS.get(record.what.removeprefix("rollup."))
        if record.what.startswith("rollup.") and behind is not None:  # rows behind a roll-up figure
            return f"{_('Roll-up')} · {behind.title()}"
        return record.what


@admin.register(Job)
class JobAdmin(ScopedAdmin):
    """Imports and long exports, for IT to see what is stuck or failed; the
    rows and files themselves stay with the person who started the job."""

    list_display = ["created_at", "kind", "title", "state", "created_by", "federation", "progress_done"]
    list_filter = ["kind", "state"]
    search_fields = ["title", "created_by__username"]
    list_select_related = ["created_by", "federation"]
    fields = [
        "kind",
        "state",
        "title",
        "created_by",
        "federation",
        "created_at",
        "finished_at",
        "heartbeat_at",
        "task_id",
        "message",
    ]

    def get_queryset(self, request):
        return admin.ModelAdmin.get_queryset(self, request).filter(
            federation__in=Federation.objects.visible_to(request.user)
        )

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class PermissionBeforeHistory:
    """Django's history view says "does not exist" before it checks the
    permission: on an admin that is not scoped (users, API tokens, sign-in
    attempts) a staff member without the permission could tell which ids
    exist. Here the permission comes first."""

    def history_view(self, request, object_id, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)


# The admins registered so far by the apps listed before this one (auth, authtoken,
# django-axes); the project's own admins are scoped and answer alike for both.
# Users are the project's own: administrators look after the people of their subtree.
admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), MemberAdmin)
for _model, _model_admin in list(admin.site._registry.items()):
    if not isinstance(_model_admin, ScopedAdmin):
        _kind = type(_model_admin)
        admin.site.unregister(_model)
        admin.site.register(_model, type(_kind.__name__, (PermissionBeforeHistory, _kind), {}))
