"""What every admin page shares: rows scoped to the user's subtrees, and
permissions from memberships rather than Django's per-model permission table."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from unionfunds.permissions import grants, sees_everything


class ScopedAdmin(admin.ModelAdmin):
    """Lists only what `visible_to(user)` returns; writes go through services."""

    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def has_module_permission(self, request) -> bool:
        return sees_everything(request.user) or bool(grants(request.user))

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def run_service(self, request, call, success_message: str) -> bool:
        """Call a service for one object; report its refusal instead of a 500."""
        try:
            call()
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), messages.ERROR)
            return False
        except PermissionDenied as error:
            self.message_user(request, str(error), messages.ERROR)
            return False
        self.message_user(request, success_message, messages.SUCCESS)
        return True
