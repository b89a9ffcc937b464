import functools

from allocations.notify import unread_count
from allocations.waiting import decisions_waiting


def waiting(request) -> dict:
    """The counts in the menu (审批, 通知), each worked out only if a page shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    decisions = functools.cache(functools.partial(decisions_waiting, user))
    unread = functools.cache(functools.partial(unread_count, user))
    return {
        "decisions_waiting": decisions,
        "notifications_unread": unread,
        # On a phone the menu is folded: its button carries both counts, so that
        # what waits is seen without opening it.
        "menu_count": lambda: decisions() + unread(),
    }
