from django.contrib import admin

from unionfunds.admin_scoping import ScopedAdmin
from unionfunds.models import AuditEvent, Federation, Membership


@admin.register(Federation)
class FederationAdmin(ScopedAdmin):
    list_display = ["name", "code", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["name", "code"]
    list_select_related = ["parent"]
    readonly_fields = ["code", "name", "level", "parent", "path", "depth", "numchild"]


@admin.register(Membership)
class MembershipAdmin(ScopedAdmin):
    list_display = ["user", "federation", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "federation__name"]
    list_select_related = ["user", "federation"]
    readonly_fields = ["user", "federation", "role", "created_at"]

    def get_queryset(self, request):
        return admin.ModelAdmin.get_queryset(self, request).filter(
            federation__in=Federation.objects.visible_to(request.user)
        )


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdmin):
    list_display = ["at", "user", "action", "object_repr", "federation"]
    list_filter = ["action"]
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
