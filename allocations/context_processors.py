import functools

from allocations.notify import unread_count
from allocations.waiting import decisions_waiting


def waiting(request) -> dict:
    """The counts in the menu (审批, 通知), each worked out only if a page shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "decisions_waiting": functools.cache(functools.partial(decisions_waiting, user)),
        "notifications_unread": functools.cache(functools.partial(unread_count, user)),
    }
