import functools

from allocations.waiting import decisions_waiting


def waiting(request) -> dict:
    """The count on the 审批 menu, worked out only if a page shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"decisions_waiting": functools.cache(functools.partial(decisions_waiting, user))}
