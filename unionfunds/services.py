"""Changes to the federation tree and to who may do what in it."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.models import Token

from unionfunds import accounts, audit, signals, text
from unionfunds.errors import refuse
from unionfunds.models import FEDERATION_AUDITED_FIELDS, Account, Federation, Level, Membership, Role
from unionfunds.permissions import ROLE_REQUIRED, forget_grants, require_role, sees_everything

MOVE_INTO_ITSELF = _("A federation cannot be moved under itself or one of its own members.")
CODE_TAKEN = _("Another federation already has the code %(code)s.")
NAME_REQUIRED = _("Enter the name.")
INVALID_LEVEL = _("Unknown level: %(value)s")
LEVEL_MISFIT = _("A federation of level %(level)s cannot sit under one of level %(parent)s.")
ROOT_LEVEL = _("Only the national federation stands at the top of the tree.")
NAME_LIMIT = Federation._meta.get_field("name").max_length or 100

# The levels of the tree, top down. A federation sits strictly below its
# parent (a county under a city, or straight under a province as the counties
# of a municipality do); industry unions (产业工会) stand beside the territorial
# levels and have industry unions or grassroots unions below them; nothing sits
# below a grassroots union.
LEVEL_RANKS = {
    Level.NATIONAL: 0,
    Level.PROVINCE: 1,
    Level.CITY: 2,
    Level.COUNTY: 3,
    Level.TOWNSHIP: 4,
    Level.GRASSROOTS: 5,
}


def level_fits(level: str, parent_level: str | None) -> bool:
    """Whether a federation of `level` may sit under one of `parent_level` (None: the root)."""
    if parent_level is None or level == Level.NATIONAL:
        return parent_level is None and level == Level.NATIONAL
    if parent_level == Level.GRASSROOTS:
        return False
    if level == Level.INDUSTRY:
        return parent_level != Level.TOWNSHIP
    if parent_level == Level.INDUSTRY:
        return level == Level.GRASSROOTS
    return LEVEL_RANKS[Level(level)] > LEVEL_RANKS[Level(parent_level)]


def _require_level_fits(level: str, parent: Federation | None) -> None:
    if level_fits(level, parent.level if parent else None):
        return
    if parent is None or level == Level.NATIONAL:
        raise refuse(ROOT_LEVEL, "level_mismatch", field="level")
    raise refuse(
        LEVEL_MISFIT, "level_mismatch", field="level", level=Level(level).label, parent=Level(parent.level).label
    )


@transaction.atomic
def federation_create(*, code: str, name: str, level: str, parent: Federation | None, by=None) -> Federation:
    """Add a federation. `by=None` is reserved for set-up commands."""
    if by is not None:
        if parent is None:
            raise refuse(_("Only set-up can add a root federation."), "root_federation", field="parent")
        require_role(by, Role.ADMIN, parent)
    if level not in Level.values:
        raise refuse(INVALID_LEVEL, "invalid_choice", field="level", value=level)
    _require_level_fits(level, parent)
    name = (name or "").strip()
    if not name:
        raise refuse(NAME_REQUIRED, "required", field="name")
    name = text.clean_line(name, "name", limit=NAME_LIMIT)
    if Federation.objects.filter(code=code).exists():
        raise refuse(CODE_TAKEN, "code_taken", field="code", code=code)
    fields = {"code": code, "name": name, "level": level}
    if parent is None:
        federation = Federation.objects.add_root(fields)
    else:
        federation = Federation.objects.add_child(parent, {**fields, "parent": parent})
    audit.log(
        federation,
        "federation.created",
        user=by,
        federation=federation,
        changes=audit.diff({}, audit.snapshot(federation, FEDERATION_AUDITED_FIELDS)),
    )
    return federation


@transaction.atomic
def federation_move(*, federation: Federation, new_parent: Federation, by=None) -> Federation:
    """Move a federation with its whole subtree under another parent.

    Funds and entries stay attached to their federations; as every figure is
    computed from the paths, each ancestor's view follows the move at once.
    """
    federation = Federation.objects.select_for_update().get(pk=federation.pk)
    new_parent = Federation.objects.get(pk=new_parent.pk)
    old_parent = federation.parent
    if by is not None:
        require_role(by, Role.ADMIN, federation)
        require_role(by, Role.ADMIN, new_parent)
    if new_parent.path.startswith(federation.path):
        raise refuse(MOVE_INTO_ITSELF, "invalid_move", field="parent")
    try:
        _require_level_fits(federation.level, new_parent)
    except ValidationError as error:
        raise ValidationError({"parent": error.error_dict["level"]}) from None
    if old_parent is not None and old_parent.pk == new_parent.pk:
        return federation
    old_ancestors = set(_ancestors(federation))
    Federation.objects.move(federation, new_parent, pos="last-child")
    Federation.objects.filter(pk=federation.pk).update(parent=new_parent)
    federation.refresh_from_db()
    # Amounts are summed over paths when read, but figures kept per subtree
    # (the people counted in each) are recounted for the ancestors that changed.
    signals.federation_moved.send(Federation, federations=old_ancestors ^ set(_ancestors(federation)))
    audit.log(
        federation,
        "federation.moved",
        user=by,
        federation=federation,
        changes={"parent": {"before": old_parent.pk if old_parent else None, "after": new_parent.pk}},
    )
    return federation


ROLE_UNKNOWN = _("Unknown role: %(value)s")
USERNAME_REQUIRED = _("Enter the username.")
USERNAME_TAKEN = _(
    "The username %(username)s is taken. If this person already has an account, give them a role "
    "under Memberships instead; otherwise choose another username."
)
NO_SUCH_MEMBER = _("No account with this username is looked after in your federations.")
ROLE_HELD = _("%(username)s already holds this role at %(federation)s.")
LAST_OWN_ADMIN = _(
    "This is your last administrator role. Another administrator above you, or the installation's "
    "superuser, can take it away."
)
OWN_PASSWORD = _("Change your own password on the Change password page.")
OWN_ROLE = _(
    "You cannot give yourself a role: another administrator must, so that no one person can both "
    "enter and approve money alone."
)
NOT_WHOLLY_IN_REACH = _(
    "This account also holds roles outside your federations: only an administrator over all of "
    "them can set its password."
)
USERNAME_LIMIT = 150
PERSON_NAME_LIMIT = 150
PASSWORD_LIMIT = 128


@dataclass(frozen=True)
class Onboarded:
    """A new account's first role, and its temporary password, to be shown once."""

    membership: Membership
    password: str


@transaction.atomic
def membership_grant(*, username: str, federation: Federation, role: str, password: str | None = None, by=None):
    """Give a user a role at a federation.

    `by=None` is set-up (`add_member`, the demo): the user is created if needed,
    and a grant already held is no change. An administrator (`by`) gives roles
    only where they are one, and only to someone whose account they look after
    (`accounts.users_in_reach`); a new person gets an account with `user_onboard`.
    """
    if role not in Role.values:
        raise refuse(ROLE_UNKNOWN, "invalid_choice", field="role", value=role)
    if by is not None:
        if password is not None:
            raise TypeError("An administrator sets passwords with password_reset_temporary.")
        require_role(by, Role.ADMIN, federation)
        user = accounts.users_in_reach(by).filter(username=username).first()
        if user is None:
            raise refuse(NO_SUCH_MEMBER, "not_found", field="user")
        if user.pk == by.pk and not sees_everything(by):
            raise refuse(OWN_ROLE, "own_role", field="user")
        membership, created = _grant(user, federation, role, by)
        if not created:
            raise refuse(ROLE_HELD, "role_held", field="role", username=username, federation=federation.name)
        return membership
    user, created = get_user_model().objects.get_or_create(username=username)
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    elif created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return _grant(user, federation, role, by)[0]


@transaction.atomic
def user_onboard(
    *,
    username: str,
    name: str,
    email: str = "",
    federation: Federation,
    role: str,
    password: str | None = None,
    by=None,
) -> Onboarded:
    """Open an account for a new member, with a role at `federation`.

    The password is temporary: typed by the administrator (and held to the
    password rules) or, when `password` is None, made here. The member must
    choose their own at the first sign-in.
    """
    if by is not None:
        require_role(by, Role.ADMIN, federation)
    if role not in Role.values:
        raise refuse(ROLE_UNKNOWN, "invalid_choice", field="role", value=role)
    username = _clean_username(username)
    name = text.clean_line(name, "first_name", limit=PERSON_NAME_LIMIT)
    if not name:
        raise refuse(NAME_REQUIRED, "required", field="first_name")
    email = _clean_email(email)
    users = get_user_model().objects
    # Case apart, 'Li.Wei' and 'li.wei' would be two accounts that people take for one.
    if users.filter(username__iexact=username).exists():
        raise refuse(USERNAME_TAKEN, "username_taken", field="username", username=username)
    user = users.model(username=username, first_name=name, email=email)
    password = _temporary_password(user, password)
    user.set_password(password)
    user.save()
    Account.objects.create(user=user, federation=federation, must_change_password=True)
    audit.log(
        user,
        "user.onboarded",
        user=by,
        federation=federation,
        changes=audit.diff({}, {"username": username, "first_name": name, "email": email, "federation": federation.pk}),
    )
    membership, _created = _grant(user, federation, role, by)
    return Onboarded(membership=membership, password=password)


@transaction.atomic
def membership_revoke(*, membership: Membership, by=None) -> None:
    """Take a role away. An administrator keeps their last administrator role:
    one who took it from themselves could not undo it."""
    membership = Membership.objects.select_for_update().select_related("user", "federation").get(pk=membership.pk)
    if by is not None:
        require_role(by, Role.ADMIN, membership.federation)
        own_admin_role = membership.user_id == by.pk and membership.role == Role.ADMIN
        others = Membership.objects.filter(user=by, role=Role.ADMIN).exclude(pk=membership.pk)
        if own_admin_role and not sees_everything(by) and not others.exists():
            raise refuse(LAST_OWN_ADMIN, "last_admin_role")
    audit.log(
        membership,
        "membership.revoked",
        user=by,
        federation=membership.federation,
        changes={
            "user": {"before": membership.user.get_username(), "after": None},
            "role": {"before": membership.role, "after": None},
        },
    )
    membership.delete()
    forget_grants(membership.user)


@transaction.atomic
def password_reset_temporary(*, user, password: str | None = None, by=None) -> str:
    """Give a member who forgot their password a temporary one (made here when
    `password` is None), to be changed at the next sign-in; returns it. Their
    other sessions end with the old password."""
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if by is not None:
        if user.pk == by.pk:
            raise refuse(OWN_PASSWORD, "own_password")
        if not accounts.users_in_reach(by).filter(pk=user.pk).exists():
            raise PermissionDenied(ROLE_REQUIRED)
        if not accounts.wholly_in_reach(by, user):
            raise refuse(NOT_WHOLLY_IN_REACH, "outside_subtree")
    password = _temporary_password(user, password)
    user.set_password(password)
    user.save(update_fields=["password"])
    # A reset is often for an account someone else got into: their API tokens end too.
    Token.objects.filter(user=user).delete()
    account, _created = Account.objects.get_or_create(user=user)
    before = account.must_change_password
    account.must_change_password = True
    account.save(update_fields=["must_change_password"])
    federation = account.federation or next((m.federation for m in user.memberships.select_related("federation")), None)
    audit.log(
        user,
        "user.password_reset",
        user=by,
        federation=federation,
        changes=audit.diff({"must_change_password": before}, {"must_change_password": True}),
    )
    return password


def password_chosen(*, user) -> None:
    """The member chose their own password: the temporary one is gone."""
    Account.objects.filter(user=user, must_change_password=True).update(must_change_password=False)


def _grant(user, federation: Federation, role: str, by) -> tuple[Membership, bool]:
    """The one place a role is given: the row, its audit event, and the admin
    site's door (`is_staff`) for an administrator."""
    membership, created = Membership.objects.get_or_create(user=user, federation=federation, role=role)
    if created:
        audit.log(
            membership,
            "membership.granted",
            user=by,
            federation=federation,
            changes={"user": {"before": None, "after": user.get_username()}, "role": {"before": None, "after": role}},
        )
        forget_grants(user)
    if role == Role.ADMIN and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return membership, created


def _clean_username(value: object) -> str:
    username = text.clean_line(value, "username", limit=USERNAME_LIMIT)
    if not username:
        raise refuse(USERNAME_REQUIRED, "required", field="username")
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as error:
        raise ValidationError({"username": error.error_list}) from None
    return username


def _clean_email(value: object) -> str:
    email = text.clean_line(value, "email", limit=254)
    if email:
        try:
            validate_email(email)
        except ValidationError as error:
            raise ValidationError({"email": error.error_list}) from None
    return get_user_model().objects.normalize_email(email)


def _temporary_password(user, password: str | None) -> str:
    if password is None:
        return accounts.temporary_password(user)
    if len(password) > PASSWORD_LIMIT:
        raise refuse(text.TOO_LONG, "max_length", field="password", limit=PASSWORD_LIMIT, length=len(password))
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.error_list}) from None
    return password


def _ancestors(federation: Federation) -> list[Federation]:
    """The federations strictly above `federation`, from its current path."""
    steps = [federation.path[:end] for end in range(Federation.steplen, len(federation.path), Federation.steplen)]
    return list(Federation.objects.filter(path__in=steps))


@transaction.atomic
def federation_rename(*, federation: Federation, name: str, by) -> Federation:
    """Give a federation a new name; its code, level and place stay."""
    require_role(by, Role.ADMIN, federation)
    federation = Federation.objects.select_for_update().get(pk=federation.pk)
    name = (name or "").strip()
    if not name:
        raise refuse(NAME_REQUIRED, "required", field="name")
    name = text.clean_line(name, "name", limit=NAME_LIMIT)
    before = audit.snapshot(federation, ("name",))
    federation.name = name
    federation.full_clean(exclude=["path", "depth", "numchild", "parent"])
    federation.save(update_fields=["name"])
    audit.log(
        federation,
        "federation.renamed",
        user=by,
        federation=federation,
        changes=audit.diff(before, audit.snapshot(federation, ("name",))),
    )
    return federation
