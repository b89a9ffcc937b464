"""Whose accounts an administrator looks after, and temporary passwords.

A federation's administrator (a `Role.ADMIN` membership) looks after the
people of their subtree: those whose account belongs to a federation in it, or
who hold a role in it. They may give such a person a role there, list them, and
take a role there away. They may hand one a new temporary password only when
the whole account lies in their subtree (every role and the federation it
belongs to): a county's administrator cannot take over the account of a
province's auditor who also holds a role in the county.
"""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from unionfunds.models import Account, Role
from unionfunds.permissions import grants, role_q, sees_everything

# No letters or digits that read alike (0/o, 1/l/i): the password is read out
# or written down once, and typed by someone else.
TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
TEMPORARY_GROUPS = 3
TEMPORARY_GROUP_LENGTH = 4

# The session remembers, from sign-in on, that the password is temporary: the
# check costs no query on every page. A password set by someone else ends the
# person's other sessions (Django's session hash), so none outlives the flag.
SESSION_FLAG = "unionfunds_must_change_password"

API_PASSWORD_TEMPORARY = _(
    "Your password is a temporary one: sign in on the website and choose your own on the Change "
    "password page before using the API."
)


def users_in_reach(by) -> QuerySet:
    """The users `by` looks after as an administrator (everyone for a superuser)."""
    users = get_user_model().objects.all()
    if sees_everything(by):
        return users
    looked_after = role_q(by, Role.ADMIN, "memberships__federation__path") | role_q(
        by, Role.ADMIN, "account__federation__path"
    )
    # A subquery, so that a person with several roles is listed once.
    return users.filter(pk__in=users.filter(looked_after).values("pk"))


def wholly_in_reach(by, user) -> bool:
    """Whether every role of `user`, and the federation they belong to, lies
    where `by` is an administrator: only then may `by` set their password."""
    if sees_everything(by):
        return True
    # Permissions or groups of their own reach past any subtree (the admins that
    # are not scoped): such an account is a superuser's to look after.
    if user.is_superuser or user.groups.exists() or user.user_permissions.exists():
        return False
    tops = [grant.path for grant in grants(by) if grant.role == Role.ADMIN]
    if not tops:
        return False
    paths = list(user.memberships.values_list("federation__path", flat=True))
    home = Account.objects.filter(user=user).values_list("federation__path", flat=True).first()
    if home:
        paths.append(home)
    return bool(paths) and all(any(path.startswith(top) for top in tops) for path in paths)


def must_change_password(user) -> bool:
    return Account.objects.filter(user=user, must_change_password=True).exists()


def temporary_password(user) -> str:
    """A password for an administrator to hand over: `abcd-efgh-jkmn`, about 59
    bits, checked against the same rules (AUTH_PASSWORD_VALIDATORS) as one typed."""
    while True:
        groups = [
            "".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(TEMPORARY_GROUP_LENGTH))
            for _ in range(TEMPORARY_GROUPS)
        ]
        password = "-".join(groups)
        try:
            validate_password(password, user)
        except ValidationError:
            continue
        return password
