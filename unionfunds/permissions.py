"""Who may see and do what: every door asks these functions, never its own copy.

A membership reaches its federation's whole subtree. A user's memberships are
read once per user object (one per request) and kept on it.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from unionfunds.actors import Visitor

if TYPE_CHECKING:
    # unionfunds.models builds its querysets on these functions.
    from unionfunds.models import Federation

ROLE_REQUIRED = _("Your role does not allow this.")
_CACHE_ATTRIBUTE = "_unionfunds_grants"


@dataclass(frozen=True)
class Grant:
    path: str
    role: str


def grants(user: Visitor | None) -> tuple[Grant, ...]:
    if user is None or not user.is_authenticated or not user.is_active:
        return ()
    cached: tuple[Grant, ...] | None = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is None:
        # Through the user's own relation, not the Membership model: the models
        # ask this module for their subtree filters, and it imports none of them.
        assert isinstance(user, AbstractBaseUser)  # signed in, as checked above
        rows = user.memberships.values_list("federation__path", "role")
        cached = tuple(Grant(path, role) for path, role in rows)
        setattr(user, _CACHE_ATTRIBUTE, cached)
    return cached


def forget_grants(user: Visitor) -> None:
    """Drop the cached memberships, after they (or the tree under them) changed."""
    if hasattr(user, _CACHE_ATTRIBUTE):
        delattr(user, _CACHE_ATTRIBUTE)


def sees_everything(user: Visitor | None) -> bool:
    return bool(user is not None and user.is_active and user.is_superuser)


def scope_paths(user: Visitor | None) -> list[str]:
    """The tops of the subtrees the user sees, none inside another."""
    paths = sorted({grant.path for grant in grants(user)})
    tops: list[str] = []
    for path in paths:
        if not any(path.startswith(top) for top in tops):
            tops.append(path)
    return tops


def subtree_q(user: Visitor | None, path_lookup: str) -> Q:
    """Filter for rows whose federation path (reached by `path_lookup`) lies in the
    user's subtrees. Unknown or member-less users see nothing."""
    if sees_everything(user):
        return Q()
    condition = Q(pk__in=[])
    for top in scope_paths(user):
        condition |= Q(**{f"{path_lookup}__startswith": top})
    return condition


def has_role(user: Visitor | None, role: str, federation: "Federation") -> bool:
    if sees_everything(user):
        return True
    return any(grant.role == role and federation.path.startswith(grant.path) for grant in grants(user))


def can_see(user: Visitor | None, federation: "Federation") -> bool:
    return sees_everything(user) or any(federation.path.startswith(top) for top in scope_paths(user))


def require_role(user: Visitor | None, role: str, federation: "Federation") -> None:
    if not has_role(user, role, federation):
        raise PermissionDenied(ROLE_REQUIRED)


def role_q(user: Visitor | None, role: str, path_lookup: str) -> Q:
    """Filter for rows in the subtrees where the user holds `role`."""
    if sees_everything(user):
        return Q()
    condition = Q(pk__in=[])
    for grant in grants(user):
        if grant.role == role:
            condition |= Q(**{f"{path_lookup}__startswith": grant.path})
    return condition


def has_role_anywhere(user: Visitor | None, role: str) -> bool:
    return sees_everything(user) or any(grant.role == role for grant in grants(user))
